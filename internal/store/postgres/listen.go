package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen backoff: the first reconnection waits about minListenWait, each
// failed one doubles it up to maxListenWait.
const (
	minListenWait = 100 * time.Millisecond
	maxListenWait = 10 * time.Second
)

// Listen calls fn for each notification on channels (ChannelAttempts,
// ChannelTimers, …) until ctx ends or the store closes; then it returns nil.
// It holds one connection of its own, taken from the pool and kept out of
// it. When that connection breaks, Listen reconnects with backoff, LISTENs
// again, and then calls fn(channel, "") once per channel, since
// notifications sent meanwhile were lost. fn runs on Listen's goroutine:
// it should only wake someone up.
func (s *Store) Listen(ctx context.Context, channels []string, fn func(channel, payload string)) error {
	if len(channels) == 0 {
		return errors.New("postgres: listen: no channels")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("postgres: listen: store closed")
	}
	s.listeners.Add(1)
	s.mu.Unlock()
	defer s.listeners.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	wait := minListenWait
	missed := false
	for {
		conn, err := s.listenConn(ctx, channels)
		if err == nil {
			wait = minListenWait
			if missed {
				for _, ch := range channels {
					fn(ch, "")
				}
			}
			err = receive(ctx, conn, fn)
			closeCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = conn.Close(closeCtx)
			stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		missed = true
		s.logger.Warn("postgres: listen: connection lost; reconnecting", "err", err, "in", wait)
		if !pause(ctx, wait) {
			return nil
		}
		wait = min(2*wait, maxListenWait)
	}
}

// listenConn takes a connection out of the pool and LISTENs on channels.
func (s *Store) listenConn(ctx context.Context, channels []string) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return conn, nil
}

// receive hands the notifications of conn to fn until conn fails or ctx
// ends.
func receive(ctx context.Context, conn *pgx.Conn, fn func(channel, payload string)) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Channel, n.Payload)
	}
}
