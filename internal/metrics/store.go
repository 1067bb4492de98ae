package metrics

import (
	"context"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// WrapStore returns st with every transaction timed into
// legato_store_transaction_duration_seconds. The decorator forwards Tx,
// View and Close, and store.Writers; callers that need a driver's own methods (PostgreSQL's
// Listen) keep the unwrapped store for them.
func (m *Metrics) WrapStore(st store.Store) store.Store {
	if m == nil {
		return st
	}
	return &timedStore{Store: st, m: m}
}

type timedStore struct {
	store.Store
	m *Metrics
}

func (s *timedStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	start := time.Now()
	err := s.Store.Tx(ctx, fn)
	s.m.txDuration.WithLabelValues("write", outcome(err)).Observe(time.Since(start).Seconds())
	return err
}

func (s *timedStore) View(ctx context.Context, fn func(store.Tx) error) error {
	start := time.Now()
	err := s.Store.View(ctx, fn)
	s.m.txDuration.WithLabelValues("read", outcome(err)).Observe(time.Since(start).Seconds())
	return err
}

// Writers forwards the wrapped store's store.Writers (1 without it).
func (s *timedStore) Writers() int { return store.WritersOf(s.Store) }

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
