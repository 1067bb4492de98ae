package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// pollInterval is the safety net: timers and leases are looked at at least
// this often even when no wake-up arrives.
const pollInterval = time.Second

// batch bounds the timers or leases handled per transaction.
const batch = 100

// FireDueTimers fires every timer due now, one transaction per timer, and
// returns how many fired.
func (e *Engine) FireDueTimers(ctx context.Context) (int, error) {
	var due []*store.Timer
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		due, err = tx.TimerListDue(ctx, e.now().UTC(), batch)
		return err
	}); err != nil {
		return 0, err
	}
	fired := 0
	for _, t := range due {
		err := e.dutyTx(ctx, func(tx store.Tx, fx *effects) error {
			// The timer goes with the transition it causes, under the
			// scheduler duty's fence: a node that lost the duty fires
			// nothing, so no timer fires twice.
			if err := tx.TimerDelete(ctx, t.RunID, t.Task, t.Index, t.Kind); err != nil {
				return err
			}
			return e.apply(ctx, tx, fx, t.RunID, TimerFired{Task: t.Task, Index: t.Index, Kind: t.Kind}, "system:timer", 0)
		})
		if errors.Is(err, ErrRunNotFound) {
			continue
		}
		if err != nil {
			return fired, err
		}
		fired++
	}
	return fired, nil
}

// ExpireLeases fails every running attempt whose lease ran out (its worker
// died or stalled); the failure counts for the retry policy. It returns how
// many attempts it expired.
func (e *Engine) ExpireLeases(ctx context.Context) (int, error) {
	var expired []*store.Attempt
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		expired, err = tx.AttemptListExpired(ctx, e.now().UTC(), batch)
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range expired {
		ok, err := e.expireOne(ctx, a, "lease expired: the worker stopped heartbeating")
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// HeldBy returns the running attempts of the workers whose id matches,
// whatever their lease.
func (e *Engine) HeldBy(ctx context.Context, match func(workerID string) bool) ([]*store.Attempt, error) {
	var held []*store.Attempt
	err := e.store.View(ctx, func(tx store.Tx) error {
		// Every running attempt: those whose lease ends before the end of
		// time. The store has no index by worker; see the closing note.
		running, err := tx.AttemptListExpired(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0)
		for _, a := range running {
			if match(a.WorkerID) {
				held = append(held, a)
			}
		}
		return err
	})
	return held, err
}

// ExpireWorker fails every running attempt held by workers whose id starts
// with prefix, whatever their lease: an embedded server calls it at start
// for its own in-process workers, which died with the previous process.
func (e *Engine) ExpireWorker(ctx context.Context, prefix string) (int, error) {
	held, err := e.HeldBy(ctx, func(id string) bool { return strings.HasPrefix(id, prefix) })
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range held {
		err := e.release(ctx, a.ID, a.LeaseToken, "interrupted: the server stopped while the attempt ran", "system:recovery")
		if errors.Is(err, store.ErrStaleLease) {
			continue // finished meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *Engine) expireOne(ctx context.Context, a *store.Attempt, msg string) (bool, error) {
	err := e.dutyTx(ctx, func(tx store.Tx, fx *effects) error {
		now := e.now().UTC()
		if err := tx.AttemptExpire(ctx, a.ID, a.LeaseToken, now, msg); err != nil {
			return err
		}
		fx.attemptEnded(a, store.AttemptFailed, msg, now)
		return e.apply(ctx, tx, fx, a.RunID, AttemptDone{Task: a.Task, Index: a.Index, Attempt: a.Number, Err: msg}, "system:reaper", 0)
	})
	if errors.Is(err, store.ErrStaleLease) {
		return false, nil // completed or expired meanwhile
	}
	return err == nil, err
}

// Run keeps this node's heartbeat and, while it holds the scheduler duty,
// fires timers, expires leases and fires due schedules, until ctx ends; then it gives the duty
// up so another node takes it at once. Timers wake it through OnTimer; a
// one-second poll is the safety net.
func (e *Engine) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	e.OnTimer(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	defer e.leave(context.WithoutCancel(ctx))
	if e.sender != nil {
		deliverWake := make(chan struct{}, 1)
		e.OnTimer(func() {
			select {
			case deliverWake <- struct{}{}:
			default:
			}
		})
		var wg sync.WaitGroup
		wg.Go(func() { e.deliverLoop(ctx, deliverWake) })
		defer wg.Wait()
	}
	if err := e.SyncSchedules(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("sync schedules", "err", err)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	var lastBeat, lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
		if time.Since(lastBeat) >= dutyRenew {
			if err := e.beat(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("node heartbeat", "err", err)
			}
			lastBeat = time.Now()
		}
		next := min(pollInterval, dutyRenew)
		if _, leader := e.fence(); leader {
			if _, err := e.FireDueTimers(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errNotLeader) {
				e.log.Error("fire timers", "err", err)
			}
			if _, err := e.ExpireLeases(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errNotLeader) {
				e.log.Error("expire leases", "err", err)
			}
			if _, err := e.FireDueSchedules(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errNotLeader) {
				e.log.Error("fire schedules", "err", err)
			}
			if time.Since(lastPrune) >= pruneEvery {
				if _, err := e.PruneEvents(ctx); err != nil && ctx.Err() == nil {
					e.log.Error("prune events", "err", err)
				}
				lastPrune = time.Now()
			}
			next = e.until(ctx, next, store.Tx.TimerNext)
			next = e.until(ctx, next, store.Tx.ScheduleNext)
		}
		rearm(t, next)
	}
}

// DefaultEventRetention is how long received events are kept.
const DefaultEventRetention = 7 * 24 * time.Hour

// pruneEvery is how often the duty holder prunes old events.
const pruneEvery = time.Minute

// pruneBatch bounds the events deleted per transaction.
const pruneBatch = 1000

// PruneEvents deletes the received events older than the retention, a
// batch per transaction, and returns how many. The duty holder calls it
// every minute.
func (e *Engine) PruneEvents(ctx context.Context) (int, error) {
	if e.retention < 0 {
		return 0, nil
	}
	before := e.now().UTC().Add(-e.retention)
	total := 0
	for {
		var n int
		err := e.store.Tx(ctx, func(tx store.Tx) error {
			var err error
			n, err = tx.InboxPrune(ctx, before, pruneBatch)
			return err
		})
		total += n
		if err != nil || n < pruneBatch {
			if total > 0 {
				e.log.Info("pruned received events past their retention", "events", total, "retention", e.retention)
			}
			return total, err
		}
	}
}

// until shortens next to the time left before the instant `at` reads
// (zero: none), at least a millisecond.
func (e *Engine) until(ctx context.Context, next time.Duration, at func(store.Tx, context.Context) (time.Time, error)) time.Duration {
	var t time.Time
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		t, err = at(tx, ctx)
		return err
	}); err == nil && !t.IsZero() {
		if d := t.Sub(e.now()); d < next {
			next = max(d, time.Millisecond)
		}
	}
	return next
}

// rearm resets a timer that may have fired unread.
func rearm(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
