package api

import (
	"context"
	"net/http"
	"sync"
)

// polls tracks the long polls of POST /workers/claim: per worker id, so
// that a stopping worker's release ends the polls it left behind before
// giving its attempts back; and per http.Server, so that a graceful stop
// ends them instead of waiting for them.
type polls struct {
	mu       sync.Mutex
	byWorker map[string]map[*poll]struct{}
	shutdown map[*http.Server]chan struct{}
}

// poll is one long poll in progress.
type poll struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start registers a poll of the worker; the context it returns ends when
// ctx does or when the worker is released. Call end when the poll has
// returned (its claims are committed by then).
func (ps *polls) start(ctx context.Context, workerID string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	p := &poll{cancel: cancel, done: make(chan struct{})}
	ps.mu.Lock()
	if ps.byWorker == nil {
		ps.byWorker = map[string]map[*poll]struct{}{}
	}
	if ps.byWorker[workerID] == nil {
		ps.byWorker[workerID] = map[*poll]struct{}{}
	}
	ps.byWorker[workerID][p] = struct{}{}
	ps.mu.Unlock()
	return ctx, func() {
		ps.mu.Lock()
		delete(ps.byWorker[workerID], p)
		if len(ps.byWorker[workerID]) == 0 {
			delete(ps.byWorker, workerID)
		}
		ps.mu.Unlock()
		cancel()
		close(p.done)
	}
}

// end cancels the worker's polls and waits until they have returned (or
// ctx ends).
func (ps *polls) end(ctx context.Context, workerID string) {
	ps.mu.Lock()
	var open []*poll
	for p := range ps.byWorker[workerID] {
		open = append(open, p)
	}
	ps.mu.Unlock()
	for _, p := range open {
		p.cancel()
	}
	for _, p := range open {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// stopping returns a channel closed when the http.Server serving ctx's
// request starts shutting down (nil, which never fires, when ctx names no
// server).
func (ps *polls) stopping(ctx context.Context) <-chan struct{} {
	hs, _ := ctx.Value(http.ServerContextKey).(*http.Server)
	if hs == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.shutdown == nil {
		ps.shutdown = map[*http.Server]chan struct{}{}
	}
	ch, ok := ps.shutdown[hs]
	if !ok {
		ch = make(chan struct{})
		hs.RegisterOnShutdown(func() { close(ch) })
		ps.shutdown[hs] = ch
	}
	return ch
}

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
