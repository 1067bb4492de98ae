package worker_test

// The tests run the SDK against a real server in this process: the same
// composition root as `legato server` (SQLite in a temp dir, the HTTP API
// on a loopback port), with no in-process workers. Only the tests import
// Legato's internal packages; the SDK itself does not.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/server"
)

// legatoServer is a running server; after Close, start brings it back on
// the same data directory and address.
type legatoServer struct {
	URL   string
	Token string
	dir   string
	addr  string
	stop  context.CancelFunc
	done  chan error
	// onClose, when set, runs after Close has stopped the server.
	onClose func()
}

// startServer starts a server on a fresh data directory under dir.
func startServer(dir string) (*legatoServer, error) {
	s := &legatoServer{dir: filepath.Join(dir, "data"), addr: "127.0.0.1:0"}
	if err := s.start(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "admin.token"))
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Token = strings.TrimSpace(string(b))
	return s, nil
}

func (s *legatoServer) start() error {
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{
			DataDir: s.dir, Addr: s.addr, Workers: 0, Version: "test",
			Logger: slog.New(slog.DiscardHandler), Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		s.addr, s.URL, s.stop, s.done = addr, "http://"+addr, stop, done
		return nil
	case err := <-done:
		stop()
		return fmt.Errorf("legato server did not start: %w", err)
	case <-time.After(30 * time.Second):
		stop()
		return errors.New("legato server not ready after 30s")
	}
}

// Close stops the server gracefully and returns what Run returned.
func (s *legatoServer) Close() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.stop = nil
	err := <-s.done
	if s.onClose != nil {
		s.onClose()
	}
	return err
}
