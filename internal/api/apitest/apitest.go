// Package apitest runs a real Legato server inside a test process: the
// composition root of `legato server` (internal/server) on SQLite in a
// temporary directory, the HTTP API on a loopback port. Tests of the SDK,
// the CLI and the examples use it to talk to the real API without building
// the binary.
package apitest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/legatohq/legato/internal/server"
)

// Config says how to start a server.
type Config struct {
	// Dir is the data directory (required).
	Dir string
	// Workers is the number of in-process workers (0: none, so that only
	// remote workers run attempts).
	Workers int
	// Apply lists workflow files or directories applied at start.
	Apply []string
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// NotifyConfig is a notification channels file (server.Config).
	NotifyConfig string
	// Store and DSN select PostgreSQL (default: SQLite in Dir).
	Store, DSN string
	// NodeID names the server among those sharing a PostgreSQL database
	// (the default, host name and port, is the same for every server on
	// port 0).
	NodeID string
}

// Server is a running server. After Close, Start brings it back on the
// same data directory and address.
type Server struct {
	// URL is the server's base address (http://127.0.0.1:port).
	URL string
	// Token is the admin token.
	Token string

	cfg  Config
	addr string
	stop context.CancelFunc
	done chan error
}

// Start starts a server and waits until it serves.
func Start(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("apitest: Config.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, addr: "127.0.0.1:0"}
	if err := s.Start(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, "admin.token"))
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("apitest: %w", err)
	}
	s.Token = strings.TrimSpace(string(b))
	return s, nil
}

// Run starts a server in a temporary directory of tb (workers: the number
// of in-process workers) and stops it when the test ends, failing the test
// if it does not stop cleanly.
func Run(tb testing.TB, workers int) *Server {
	tb.Helper()
	s, err := Start(Config{Dir: tb.TempDir(), Workers: workers})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("apitest: server stop: %v", err)
		}
	})
	return s
}

// Start starts the server again after Close, on the same address.
func (s *Server) Start() error {
	if s.stop != nil {
		return errors.New("apitest: the server is running")
	}
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{
			DataDir: s.cfg.Dir, Addr: s.addr, Workers: s.cfg.Workers, Apply: s.cfg.Apply, Version: "test",
			NotifyConfig: s.cfg.NotifyConfig, Store: s.cfg.Store, DSN: s.cfg.DSN, NodeID: s.cfg.NodeID,
			Logger: s.cfg.Logger, Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		s.addr, s.URL, s.stop, s.done = addr, "http://"+addr, stop, done
		return nil
	case err := <-done:
		stop()
		return fmt.Errorf("apitest: the server did not start: %w", err)
	case <-time.After(30 * time.Second):
		stop()
		<-done
		return errors.New("apitest: the server did not serve within 30s")
	}
}

// Close stops the server gracefully and returns what it returned.
func (s *Server) Close() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.stop = nil
	return <-s.done
}
