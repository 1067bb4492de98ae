// Command connector is a custom Legato worker: it runs the task types
// crm.create_contact and crm.add_note, which a workflow uses like any
// other (crm-onboarding.yaml), by calling a CRM's HTTP API. The server
// never runs these types itself: types with a dot are external, run only
// by a worker that registered them.
//
// To run without an outside service it starts a small fake CRM (crm.go)
// on a loopback port. See README.md.
//
//	go run ./examples/connector [--server URL] [--token T] [--flaky]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/legatohq/legato/sdk/client"
	"github.com/legatohq/legato/sdk/worker"
)

// config is the command line.
type config struct {
	server      string
	token       string
	crmAddr     string
	id          string
	concurrency int
}

func main() {
	var cfg config
	var data string
	var flaky bool
	flag.StringVar(&cfg.server, "server", envOr("LEGATO_SERVER", "http://127.0.0.1:8420"), "the Legato server (env LEGATO_SERVER)")
	flag.StringVar(&cfg.token, "token", os.Getenv("LEGATO_TOKEN"), "API token (env LEGATO_TOKEN; default: the admin token in --data)")
	flag.StringVar(&data, "data", ".legato", "the server's data directory, where it keeps admin.token")
	flag.StringVar(&cfg.crmAddr, "crm-addr", "127.0.0.1:0", "where the fake CRM listens")
	flag.BoolVar(&flaky, "flaky", false, "the fake CRM loses its first answer to each idempotency key (503), to show retries making no duplicates")
	flag.StringVar(&cfg.id, "id", "", "the worker's id (default hostname:pid)")
	flag.IntVar(&cfg.concurrency, "concurrency", 4, "attempts run at once")
	flag.Parse()
	if cfg.token == "" {
		if b, err := os.ReadFile(filepath.Join(data, "admin.token")); err == nil {
			cfg.token = strings.TrimSpace(string(b))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, cfg, newFakeCRM(flaky), log); err != nil {
		log.Error("connector stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the fake CRM and runs the worker until ctx ends.
func run(ctx context.Context, cfg config, crm *fakeCRM, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.crmAddr)
	if err != nil {
		return fmt.Errorf("fake CRM: %w", err)
	}
	srv := &http.Server{Handler: crm.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	crmURL := "http://" + ln.Addr().String()
	log.Info("fake CRM listening", "url", crmURL)

	w := worker.New(client.New(cfg.server, cfg.token), worker.Options{ID: cfg.id, Concurrency: cfg.concurrency, Logger: log})
	conn := &connector{base: crmURL, http: &http.Client{Timeout: 10 * time.Second}}
	w.Handle("crm.create_contact", conn.createContact)
	w.Handle("crm.add_note", conn.addNote)
	return w.Run(ctx)
}

// connector calls the CRM's API for the crm.* task types.
type connector struct {
	base string
	http *http.Client
}

// createContact makes a contact: with {email, name}, it outputs
// {id, email, name}.
func (k *connector) createContact(ctx context.Context, t *worker.Task) (any, error) {
	var p struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	t.Logf("creating contact %s (attempt %d)", p.Email, t.Attempt)
	var c contact
	if err := k.post(ctx, "/contacts", t.IdempotencyKey, p, &c); err != nil {
		return nil, err
	}
	t.Logf("contact %s is %s", p.Email, c.ID)
	return c, nil
}

// addNote adds a note to a contact: with {contact_id, text}, it outputs
// {id, contact_id, text}.
func (k *connector) addNote(ctx context.Context, t *worker.Task) (any, error) {
	var p struct {
		ContactID string `json:"contact_id"`
		Text      string `json:"text"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	if p.ContactID == "" {
		return nil, worker.NonRetryable(errors.New("with.contact_id is required"))
	}
	var n note
	if err := k.post(ctx, "/contacts/"+url.PathEscape(p.ContactID)+"/notes", t.IdempotencyKey, map[string]string{"text": p.Text}, &n); err != nil {
		return nil, err
	}
	t.Logf("note %s added to %s", n.ID, p.ContactID)
	return n, nil
}

// post sends one request carrying the attempt's idempotency key, so that a
// retried attempt does not make a second record. A 4xx answer is final
// (NonRetryable: sending the same again cannot help); a 5xx answer or a
// network error fails the attempt, and the task's retry policy decides.
func (k *connector) post(ctx context.Context, path, key string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return worker.NonRetryable(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base+path, bytes.NewReader(body))
	if err != nil {
		return worker.NonRetryable(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("CRM: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("CRM: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		err := fmt.Errorf("CRM answered %d: %s", resp.StatusCode, e.Error)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return worker.NonRetryable(err)
		}
		return err
	}
	return json.Unmarshal(raw, out)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
