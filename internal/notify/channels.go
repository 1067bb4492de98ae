package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// Channel sends one message.
type Channel interface {
	Send(ctx context.Context, m *Message) error
}

// Message is a notification as channels see it.
type Message struct {
	// ID is the outbox notification's id: the same on every try, so a
	// receiver can drop a repeat (delivery is at least once).
	ID int64
	// Event is "failure", "success" or "sla_breach".
	Event string
	// Text is the sentence to show (the workflow's template or the
	// standard one).
	Text string
	// Fields are every field of the notification (run_id, workflow,
	// status, …), as sent in a JSON webhook body.
	Fields map[string]any
}

// Channels is the set of configured channels by name: the engine's Sender.
type Channels struct {
	byName map[string]Channel
}

var _ engine.Sender = (*Channels)(nil)

// New builds the channels of c (nil c: none).
func New(c *Config) *Channels {
	out := &Channels{byName: map[string]Channel{}}
	if c == nil {
		return out
	}
	client := &http.Client{Timeout: time.Minute}
	for name, ch := range c.Channels {
		switch ch.Type {
		case "webhook":
			out.byName[name] = &Webhook{URL: ch.url(), Slack: ch.Format == "slack", Headers: ch.Headers, Client: client}
		case "smtp":
			out.byName[name] = newSMTP(ch)
		}
	}
	return out
}

// Names lists the configured channels, sorted.
func (c *Channels) Names() []string {
	out := make([]string, 0, len(c.byName))
	for n := range c.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Send delivers a notification to the channel it names; an unknown channel
// is undeliverable (no retry helps until the configuration names it).
func (c *Channels) Send(ctx context.Context, n *store.Notification) error {
	ch, ok := c.byName[n.Channel]
	if !ok {
		return fmt.Errorf("%w: no channel %q in the server's notification configuration", engine.ErrUndeliverable, n.Channel)
	}
	m := &Message{Event: n.Event, Fields: map[string]any{}}
	if len(n.Payload) > 0 {
		if err := json.Unmarshal(n.Payload, &m.Fields); err != nil {
			return fmt.Errorf("%w: payload: %v", engine.ErrUndeliverable, err)
		}
	}
	m.ID = n.ID
	m.Fields["notification_id"] = n.ID
	m.Text, _ = m.Fields["message"].(string)
	if m.Text == "" {
		m.Text = fmt.Sprintf("%s: run %v", n.Event, m.Fields["run_id"])
	}
	return ch.Send(ctx, m)
}
