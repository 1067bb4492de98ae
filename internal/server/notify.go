package server

import (
	"log/slog"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/notify"
)

// notifyOptions loads the notification channels into the engine's
// options. Without a file there are no channels, and Apply does not check
// the names workflows use (a notification to an unknown channel is
// recorded as undeliverable).
func notifyOptions(o *engine.Options, path string, log *slog.Logger) error {
	var cfg *notify.Config
	if path != "" {
		var err error
		if cfg, err = notify.Load(path); err != nil {
			return err
		}
		if o.Delivery, err = cfg.Delivery.Options(); err != nil {
			return err
		}
	}
	chs := notify.New(cfg)
	o.Sender = chs
	if cfg != nil {
		o.Channels = chs.Names()
		log.Info("notification channels", "file", path, "channels", o.Channels)
	}
	return nil
}
