// Package server is the composition root: it wires the store, the engine,
// the in-process workers and the HTTP API into one `legato server`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/api"
	"github.com/legatohq/legato/internal/auth"
	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/sqlite"
	_ "github.com/legatohq/legato/internal/tasks" // registers the built-in task types
	"github.com/legatohq/legato/internal/worker"
)

// Config is the server's configuration; flags and environment variables map
// to these fields.
type Config struct {
	// DataDir holds the SQLite database and the admin token (default ".legato").
	DataDir string
	// Store is "sqlite" (default: embedded, in DataDir) or "postgres".
	Store string
	// DSN is the PostgreSQL connection string (Store "postgres").
	DSN string
	// Addr is the HTTP listen address (default "127.0.0.1:8420").
	Addr string
	// Workers is the number of attempts run at once in this process; 0
	// turns in-process workers off.
	Workers int
	// Apply lists workflow files or directories applied at start.
	Apply []string
	// Env lists the environment variables expressions may read as `env`.
	Env []string
	// NotifyConfig is the path of the notification channels file
	// (notify.Config); empty means no channels: notifications are
	// recorded as undeliverable.
	NotifyConfig string
	// NodeID names this server among those sharing a store; it must stay
	// the same across restarts (default: host name and listen port).
	NodeID string
	// Metrics says how GET /metrics answers: public (default, no token),
	// token (any valid API token) or off.
	Metrics string
	// OTLPEndpoint turns tracing on: the OTLP/HTTP collector's base URL.
	// Empty: the OTEL_EXPORTER_OTLP_ENDPOINT variable, else off.
	OTLPEndpoint string
	// Limits are written to the store at start (engine.PutLimits): caps
	// on attempts in flight and rates per queue, task type and resource,
	// which every server sharing the store obeys.
	Limits []*store.Limit
	// EventRetention is how long received events are kept (0: 7 days;
	// negative: forever).
	EventRetention time.Duration
	// PprofAddr, when set, serves Go's profiles at /debug/pprof/ on this
	// address, without authentication (use a loopback address).
	PprofAddr string
	// Version is the build version.
	Version string
	Logger  *slog.Logger
	// Ready, when set, is called with the bound address once the server
	// accepts connections.
	Ready func(addr string)
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		cfg.DataDir = ".legato"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8420"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	// Listen first: with port 0 the bound address names the node.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg.Addr = ln.Addr().String()

	st, listen, err := openStore(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	obs, err := newObservability(ctx, &cfg, st, log)
	if err != nil {
		return err
	}
	defer obs.shutdown(context.WithoutCancel(ctx), log)
	st = obs.metrics.WrapStore(st)

	tokenPath := filepath.Join(cfg.DataDir, "admin.token")
	if err := adminToken(ctx, &cfg, st, tokenPath, log); err != nil {
		return err
	}

	opts := engine.Options{Logger: log, Env: allowEnv(cfg.Env), EventRetention: cfg.EventRetention,
		Node: engine.NodeInfo{ID: cfg.NodeID, Address: cfg.Addr, Version: cfg.Version}}
	if err := notifyOptions(&opts, cfg.NotifyConfig, log); err != nil {
		return err
	}
	eng := engine.New(st, opts)
	obs.observe(eng, log)
	// In-process workers are named after the node, so that a restart of
	// this node finds the attempts its previous process held.
	workerID := cfg.NodeID + "/worker"
	if n, err := eng.ExpireWorker(ctx, cfg.NodeID+"/"); err != nil {
		return fmt.Errorf("recover interrupted attempts: %w", err)
	} else if n > 0 {
		log.Info("recovered attempts interrupted by the previous stop", "attempts", n)
	}
	if len(cfg.Limits) > 0 {
		if err := eng.PutLimits(ctx, cfg.Limits); err != nil {
			return fmt.Errorf("store limits: %w", err)
		}
		for _, l := range cfg.Limits {
			log.Info("limit", "kind", l.Kind, "name", l.Name, "max_running", l.MaxRunning, "rate_per_second", l.Rate, "burst", l.Burst)
		}
	}
	if err := applyFiles(ctx, eng, cfg.Apply, log); err != nil {
		return err
	}

	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(ctx, cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	verifier := auth.NewVerifier(st)
	srv := &http.Server{
		Handler: obs.handler(api.New(api.Config{
			Engine: eng, Store: st, Auth: verifier, Logger: log, Version: cfg.Version, WorkerSeen: obs.metrics.WorkerSeen,
		}), verifier),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := eng.Run(ctx); err != nil {
			log.Error("engine stopped", "err", err)
		}
	})
	if listen != nil {
		wg.Go(func() { listen(ctx, eng) })
	}
	if cfg.Workers > 0 {
		w := worker.New(eng, worker.Options{ID: workerID, Concurrency: cfg.Workers, Logger: log})
		wg.Go(func() { _ = w.Run(ctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("legato server ready", "addr", ln.Addr().String(), "store", cfg.Store, "data", cfg.DataDir, "token_file", tokenPath, "workers", cfg.Workers, "node", cfg.NodeID)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil {
		log.Info("legato server stopped")
	}
	return err
}

// openStore opens the configured store. For PostgreSQL it also returns
// the loop that turns the database's notifications into wake-ups.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (store.Store, func(context.Context, *engine.Engine), error) {
	switch cfg.Store {
	case "", "sqlite":
		cfg.Store = "sqlite"
		if cfg.NodeID == "" {
			// The data directory is locked: an embedded store has one node.
			cfg.NodeID = "local"
		}
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "legato.db"))
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil, nil
	case "postgres":
		if cfg.DSN == "" {
			return nil, nil, errors.New("--store postgres needs --dsn (or LEGATO_DSN)")
		}
		if cfg.NodeID == "" {
			cfg.NodeID = defaultNodeID(cfg.Addr)
		}
		st, err := postgres.Open(ctx, cfg.DSN, postgres.Logger(log))
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		listen := func(ctx context.Context, eng *engine.Engine) {
			err := st.Listen(ctx, []string{postgres.ChannelAttempts, postgres.ChannelTimers}, func(channel, _ string) {
				eng.Poke(channel == postgres.ChannelAttempts, channel == postgres.ChannelTimers)
			})
			if err != nil && ctx.Err() == nil {
				log.Error("store notifications stopped; polling only", "err", err)
			}
		}
		return st, listen, nil
	}
	return nil, nil, fmt.Errorf("unknown store %q: want sqlite or postgres", cfg.Store)
}

// adminToken makes sure the admin token exists. An embedded store's server
// rotates it when its file is lost; a shared store's never does (the other
// servers' clients use it).
func adminToken(ctx context.Context, cfg *Config, st store.Store, path string, log *slog.Logger) error {
	if cfg.Store == "sqlite" {
		_, rotated, err := auth.EnsureAdminToken(ctx, st, path)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if rotated {
			log.Warn("admin token file was missing: a new admin token was written", "path", path)
		}
		return nil
	}
	_, err := auth.JoinAdminToken(ctx, st, path)
	if errors.Is(err, auth.ErrAdminTokenElsewhere) {
		log.Warn("no admin token file on this server: the database's admin token was made by another server; copy its admin.token here to use it locally", "path", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	return nil
}

// defaultNodeID is the host name and the listen port.
func defaultNodeID(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return host + ":" + port
	}
	return host
}

// applyFiles applies workflow files (and the files of directories) at start.
func applyFiles(ctx context.Context, eng *engine.Engine, paths []string, log *slog.Logger) error {
	files, err := spec.FindFiles(paths)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w, err := spec.Parse(f, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v, created, err := eng.Apply(ctx, w, string(src), "system:apply")
		if err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
		if created {
			log.Info("workflow applied", "workflow", v.Namespace+"/"+v.Name, "version", v.Version, "file", f)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid workflow files:\n%w", errors.Join(errs...))
	}
	return nil
}

// allowEnv reads the allow-listed environment variables.
func allowEnv(names []string) map[string]string {
	env := map[string]string{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if v, ok := os.LookupEnv(n); ok && n != "" {
			env[n] = v
		}
	}
	return env
}
