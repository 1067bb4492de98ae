package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// ErrUndeliverable marks a Sender error that no retry can mend (an unknown
// channel, a message the channel refuses for good): the notification is
// given up at once.
var ErrUndeliverable = errors.New("undeliverable notification")

// Sender delivers one notification to its channel (notify.Channels). An
// error means the channel did not take it: it is retried with backoff
// unless it wraps ErrUndeliverable.
type Sender interface {
	Send(ctx context.Context, n *store.Notification) error
}

// DeliveryOptions tune notification delivery. Zero values take the
// defaults.
type DeliveryOptions struct {
	// Attempts is how many tries a notification gets before it is given up
	// (default 8).
	Attempts int
	// Backoff is the delay after the first failed try, doubled after each
	// one (default 2s), up to MaxBackoff (default 5m).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one try (default 30s).
	Timeout time.Duration
	// Parallel bounds the tries in flight (default 8).
	Parallel int
}

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	return o
}

// backoff is the delay after the n-th failed try (1-based).
func (o DeliveryOptions) backoff(n int) time.Duration {
	d := o.Backoff
	for i := 1; i < n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// outbox writes a Notify command's notifications in the transition's
// transaction and wakes the delivery loop after commit.
func (e *Engine) outbox(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, c Notify) error {
	now := e.now().UTC()
	payload := mustJSON(c.Payload)
	ns := make([]*store.Notification, 0, len(c.Channels))
	for _, ch := range c.Channels {
		ns = append(ns, &store.Notification{
			RunID: run.ID, Task: c.Task, Index: c.Index, Event: c.Event, Channel: ch, Payload: payload,
			Status: store.NotificationPending, NextAt: now, CreatedAt: now,
		})
	}
	fx.timers = true
	return tx.NotificationInsert(ctx, ns)
}

// DeliverNotifications sends the due notifications of the outbox, while
// this node holds the scheduler duty, and records each outcome in a
// transaction fenced by the duty. It returns how many were delivered.
//
// Delivery is at least once: a crash (or a lost duty) between a send and
// its record sends that notification again.
func (e *Engine) DeliverNotifications(ctx context.Context) (int, error) {
	if e.sender == nil {
		return 0, nil
	}
	if _, ok := e.fence(); !ok {
		return 0, errNotLeader
	}
	var due []*store.Notification
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		due, err = tx.NotificationListDue(ctx, e.now().UTC(), batch)
		return err
	}); err != nil {
		return 0, err
	}
	o := e.delivery
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	delivered := 0
	var firstErr error
	for _, n := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := e.deliverOne(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				delivered++
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return delivered, firstErr
}

// deliverOne tries one notification and records the outcome.
func (e *Engine) deliverOne(ctx context.Context, n *store.Notification) (bool, error) {
	o := e.delivery
	sendCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	err := e.sender.Send(sendCtx, n)
	cancel()
	if err != nil && ctx.Err() != nil {
		return false, nil // stopping: the try does not count
	}
	now := e.now().UTC()
	n.Attempts++
	log := e.log.With("notification", n.ID, "run", n.RunID, "event", n.Event, "channel", n.Channel, "attempt", n.Attempts)
	switch {
	case err == nil:
		n.Status, n.FinishedAt, n.LastError = store.NotificationDelivered, now, ""
		log.Info("notification delivered")
	case errors.Is(err, ErrUndeliverable) || n.Attempts >= o.Attempts:
		n.Status, n.FinishedAt, n.LastError = store.NotificationFailed, now, err.Error()
		log.Error("notification delivery failed; giving up", "err", err)
	default:
		n.NextAt, n.LastError = now.Add(o.backoff(n.Attempts)), err.Error()
		log.Warn("notification delivery failed; will retry", "err", err, "next_at", n.NextAt)
	}
	uerr := e.dutyTx(ctx, func(tx store.Tx, _ *effects) error { return tx.NotificationUpdate(ctx, n) })
	if errors.Is(uerr, store.ErrNotFound) {
		uerr = nil // recorded meanwhile by a previous holder of the duty
	}
	return err == nil && uerr == nil, uerr
}

// deliverLoop delivers notifications while this node holds the scheduler
// duty, woken by new notifications (through OnTimer) and otherwise by the
// next due one or a poll.
func (e *Engine) deliverLoop(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		next := pollInterval
		if e.Leader() {
			if _, err := e.DeliverNotifications(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errNotLeader) {
				e.log.Error("deliver notifications", "err", err)
			}
			next = e.until(ctx, next, store.Tx.NotificationNextDue)
		}
		rearm(t, next)
	}
}
