// Package worker owns the claim loop: it leases queued attempts, runs them
// with their task type's executor, keeps their leases alive with heartbeats
// and reports each result to the engine.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/tasks"
)

// Options configure a Worker.
type Options struct {
	// ID names the worker in leases; in-process workers use "local:<node>".
	ID string
	// Queues the worker claims from (default: "default").
	Queues []string
	// Types limits claims to these task types (default: every registered
	// type with an executor).
	Types []string
	// Concurrency is the number of attempts run at once (default 8).
	Concurrency int
	// LeaseFor is the lease length; heartbeats renew it every third of it
	// (default 30s).
	LeaseFor time.Duration
	// Poll is the safety-net interval between claims when no wake-up
	// arrives (default 1s).
	Poll   time.Duration
	Logger *slog.Logger
}

// Worker runs attempts in this process.
type Worker struct {
	e    *engine.Engine
	o    Options
	log  *slog.Logger
	wake chan struct{}
	// idle: a slot is free and found nothing to claim.
	idle chan struct{}
	logs *logBuffer

	mu      sync.Mutex
	running map[int64]*inflight

	// lmu guards what Run shares with the engine's local hand-off
	// (Reserve, Deliver): the slots (sem), the context they run under
	// and their wait group; runCtx is nil when Run is not running.
	lmu    sync.Mutex
	sem    chan struct{}
	runCtx context.Context
	slots  *sync.WaitGroup
}

type inflight struct {
	a      *store.Attempt
	cancel context.CancelCauseFunc
}

// errCanceledByRun is the cause given to an attempt's context when its run
// asked it to stop.
var errCanceledByRun = errors.New("canceled: the run was canceled or timed out")

// errLeaseLost is the cause when the lease could not be renewed.
var errLeaseLost = errors.New("lease lost")

// New makes a worker that completes attempts through e.
func New(e *engine.Engine, o Options) *Worker {
	if len(o.Queues) == 0 {
		o.Queues = []string{"default"}
	}
	if len(o.Types) == 0 {
		for _, name := range tasks.Names() {
			if t, ok := tasks.Lookup(name); ok && t.Executor != nil {
				o.Types = append(o.Types, name)
			}
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.LeaseFor <= 0 {
		o.LeaseFor = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Worker{e: e, o: o, log: o.Logger, wake: make(chan struct{}, 1), idle: make(chan struct{}, 1), running: map[int64]*inflight{}}
	w.logs = newLogBuffer(e, w.log)
	e.OnEnqueue(w.Wake)
	e.OnCancel(w.cancel)
	return w
}

// Wake makes the worker look for work now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) cancel(ids []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if f := w.running[id]; f != nil {
			f.cancel(errCanceledByRun)
		}
	}
}

// Run claims and executes attempts until ctx ends, then waits for the
// attempts in flight to return (their contexts are canceled).
//
// Each of the Concurrency slots runs one attempt at a time. A slot that
// finishes an attempt asks for its next one with the completion
// (engine.CompleteAndClaim): under load a slot goes from attempt to
// attempt with one transaction each. The claim loop below fills the slots
// that are free when work is signalled.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { w.heartbeats(ctx) })
	wg.Go(func() { w.logs.run(ctx) })
	w.lmu.Lock()
	w.sem = make(chan struct{}, w.o.Concurrency)
	w.runCtx, w.slots = ctx, &wg
	w.lmu.Unlock()
	w.e.SetLocalWorker(w)
	defer func() {
		w.e.UnsetLocalWorker(w)
		w.lmu.Lock()
		w.runCtx = nil // Deliver starts no more slots
		w.lmu.Unlock()
	}()
	sem := w.sem
	claim := true
	for {
		free := w.o.Concurrency - len(sem)
		var claimed []*store.Attempt
		if free > 0 && claim {
			var err error
			claimed, err = w.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				w.log.Error("claim attempts", "err", err)
			}
		}
		for _, a := range claimed {
			sem <- struct{}{}
			w.lmu.Lock()
			w.startSlot(a)
			w.lmu.Unlock()
		}
		if len(claimed) == free && free > 0 && claim {
			continue // there may be more
		}
		wait := w.o.Poll
		if w.o.Concurrency-len(sem) > 0 {
			if next := w.nextDue(ctx); !next.IsZero() {
				if d := time.Until(next); d < wait {
					wait = max(d, time.Millisecond)
				}
			}
		}
		// With every slot busy, nothing is claimed here: a slot that
		// finishes asks for its next attempt with its completion, and
		// says so (Wake or recheck) when it is free.
		t := time.NewTimer(wait)
		claim = true
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
		case <-w.idle:
			// A slot found nothing to claim after its attempt: no claim
			// until work is signalled, only a new look at when the next
			// attempt is due.
			claim = false
		case <-t.C:
		}
		t.Stop()
	}
}

// startSlot runs a in a slot whose place in sem is taken; w.lmu is held.
func (w *Worker) startSlot(a *store.Attempt) {
	ctx, sem := w.runCtx, w.sem
	w.slots.Go(func() {
		drained := w.slot(ctx, a)
		<-sem
		if drained {
			w.recheck()
		} else {
			w.Wake()
		}
	})
}

// Reserve implements engine.LocalWorker: it takes up to n free slots for
// attempts a transaction will hand over.
func (w *Worker) Reserve(n int) (*engine.ClaimParams, int) {
	w.lmu.Lock()
	defer w.lmu.Unlock()
	if w.runCtx == nil || w.runCtx.Err() != nil {
		return nil, 0
	}
	got := 0
	for got < n {
		select {
		case w.sem <- struct{}{}:
			got++
			continue
		default:
		}
		break
	}
	if got == 0 {
		return nil, 0
	}
	return &engine.ClaimParams{WorkerID: w.o.ID, Queues: w.o.Queues, Types: w.o.Types, LeaseFor: w.o.LeaseFor}, got
}

// Deliver implements engine.LocalWorker: it runs the attempts handed over
// in reserved slots and frees the others. Attempts handed over while the
// worker stops are given back at once.
func (w *Worker) Deliver(as []*store.Attempt, reserved int) {
	w.lmu.Lock()
	stopped := w.runCtx == nil
	if !stopped {
		for _, a := range as {
			w.startSlot(a)
		}
	}
	for range reserved - len(as) {
		<-w.sem
	}
	w.lmu.Unlock()
	if stopped {
		for _, a := range as {
			<-w.sem
			if err := w.e.InterruptAttempt(context.Background(), a.ID, a.LeaseToken, "worker:"+w.o.ID); err != nil && !errors.Is(err, store.ErrStaleLease) {
				w.attemptLog(a).Error("give back an attempt handed to a stopped worker", "err", err)
			}
		}
	}
}

// slot runs a, then each attempt handed to it with the completion of the
// previous one, until none is. It reports whether the last completion
// asked for more and got none (nothing was due for this worker then).
func (w *Worker) slot(ctx context.Context, a *store.Attempt) (drained bool) {
	for a != nil {
		var asked bool
		a, asked = w.run(ctx, a)
		drained = asked && a == nil
	}
	return drained
}

// run executes one attempt under its own context and returns the attempt
// handed with its completion, if any, and whether one was asked for.
func (w *Worker) run(ctx context.Context, a *store.Attempt) (*store.Attempt, bool) {
	actx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	w.mu.Lock()
	w.running[a.ID] = &inflight{a: a, cancel: cancel}
	w.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { cancel(context.Canceled) })
	defer stop()
	next, asked := w.execute(ctx, actx, a)
	w.mu.Lock()
	delete(w.running, a.ID)
	w.mu.Unlock()
	cancel(nil)
	return next, asked
}

// recheck tells the claim loop that a slot is free with nothing to claim.
func (w *Worker) recheck() {
	select {
	case w.idle <- struct{}{}:
	default:
	}
}

func (w *Worker) claim(ctx context.Context, n int) ([]*store.Attempt, error) {
	return w.e.ClaimAttempts(ctx, &engine.ClaimParams{WorkerID: w.o.ID, Queues: w.o.Queues, Types: w.o.Types, Limit: n, LeaseFor: w.o.LeaseFor})
}

func (w *Worker) nextDue(ctx context.Context) time.Time {
	at, _ := w.e.NextDue(ctx, w.o.Queues, w.o.Types)
	return at
}

// execute runs one attempt and reports its result. Unless the worker is
// stopping (wctx ended), the report asks for the slot's next attempt,
// which execute returns (nil when none was due), with whether it asked.
func (w *Worker) execute(wctx, ctx context.Context, a *store.Attempt) (*store.Attempt, bool) {
	res := &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Actor: "worker:" + w.o.ID}
	out, err := w.invoke(ctx, a)
	w.logs.flush(context.WithoutCancel(ctx))
	if err != nil && ctx.Err() != nil {
		w.stopped(ctx, a, res)
		return nil, false
	}
	res.Output = out
	if err != nil {
		res.Err = err.Error()
		res.NonRetryable = tasks.IsNonRetryable(err)
	}
	var claim *engine.ClaimParams
	if wctx.Err() == nil {
		claim = &engine.ClaimParams{WorkerID: w.o.ID, Queues: w.o.Queues, Types: w.o.Types, Limit: 1, LeaseFor: w.o.LeaseFor}
	}
	var next []*store.Attempt
	err = w.report(ctx, a, func(ctx context.Context) error {
		var err error
		next, err = w.e.CompleteAndClaim(ctx, res, claim)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrStaleLease) {
			w.attemptLog(a).Info("attempt result refused: lease no longer held")
		} else {
			w.attemptLog(a).Error("complete attempt", "err", err)
		}
		return nil, false
	}
	if len(next) == 0 {
		return nil, claim != nil
	}
	return next[0], true
}

// report calls f until it succeeds, is refused, or ctx ends (the run
// stopped the attempt, or the worker is shutting down): a store that is
// down for a while (a database restart) must not lose a result. f gets a
// context that ctx's end does not cancel, so a report under way finishes.
func (w *Worker) report(ctx context.Context, a *store.Attempt, f func(context.Context) error) error {
	delay := 50 * time.Millisecond
	for {
		err := f(context.WithoutCancel(ctx))
		if err == nil || errors.Is(err, store.ErrStaleLease) || errors.Is(err, engine.ErrRunNotFound) {
			return err
		}
		w.attemptLog(a).Warn("report attempt result: will retry", "in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// stopped reports an attempt cut short by its context: a cancel the run
// asked for is acknowledged, an attempt interrupted by the worker's own
// shutdown is given back for a new attempt, and a lost lease is left to
// whoever holds the attempt now.
func (w *Worker) stopped(ctx context.Context, a *store.Attempt, res *engine.AttemptResult) {
	cause := context.Cause(ctx)
	w.attemptLog(a).Info("attempt stopped", "cause", cause)
	bg := context.WithoutCancel(ctx)
	var err error
	switch {
	case errors.Is(cause, errLeaseLost):
		return
	case errors.Is(cause, errCanceledByRun):
		res.Canceled, res.Err = true, cause.Error()
		err = w.e.CompleteAttempt(bg, res)
	default:
		err = w.e.InterruptAttempt(bg, a.ID, a.LeaseToken, res.Actor)
	}
	if err != nil && !errors.Is(err, store.ErrStaleLease) {
		w.attemptLog(a).Error("report stopped attempt", "err", err)
	}
}

// invoke calls the task type's executor with the attempt's timeout,
// turning panics into non-retryable errors.
func (w *Worker) invoke(ctx context.Context, a *store.Attempt) (out any, err error) {
	typ, ok := tasks.Lookup(a.Type)
	if !ok || typ.Executor == nil {
		return nil, tasks.NonRetryable(fmt.Errorf("no executor for task type %q", a.Type))
	}
	var errTimeout error
	if a.Timeout > 0 {
		var cancel context.CancelFunc
		errTimeout = fmt.Errorf("timed out after %s", a.Timeout)
		ctx, cancel = context.WithTimeoutCause(ctx, a.Timeout, errTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			w.attemptLog(a).Error("task panicked", "type", a.Type, "panic", r, "stack", string(debug.Stack()))
			out, err = nil, tasks.NonRetryable(fmt.Errorf("task type %s panicked: %v", a.Type, r))
		}
	}()
	req := &tasks.Request{
		RunID: a.RunID, TaskID: a.Task, Index: a.Index, Attempt: a.Number, IdempotencyKey: a.IdempotencyKey(),
		Type: a.Type, Params: a.Params, Timeout: a.Timeout, Log: w.logs.sink(a),
	}
	out, err = typ.Executor.Execute(ctx, req)
	if err != nil && errTimeout != nil && errors.Is(context.Cause(ctx), errTimeout) {
		err = fmt.Errorf("%w (%v)", errTimeout, err)
	}
	return out, err
}

// heartbeats renews the leases of the attempts in flight every third of
// the lease, in one transaction, and stops those whose run asked them to.
func (w *Worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.o.LeaseFor / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		held := make([]*inflight, 0, len(w.running))
		for _, f := range w.running {
			held = append(held, f)
		}
		w.mu.Unlock()
		if len(held) == 0 {
			continue
		}
		leases := make([]engine.Lease, len(held))
		for i, f := range held {
			leases[i] = engine.Lease{ID: f.a.ID, Token: f.a.LeaseToken}
		}
		states, err := w.e.Heartbeat(ctx, leases, w.o.LeaseFor)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("heartbeat", "err", err)
			}
			continue
		}
		for i, st := range states {
			switch {
			case st.Lost:
				held[i].cancel(errLeaseLost)
			case st.Cancel:
				held[i].cancel(errCanceledByRun)
			}
		}
	}
}

// attemptLog is the worker's logger with the attributes naming an attempt.
func (w *Worker) attemptLog(a *store.Attempt) *slog.Logger {
	return w.log.With("run", a.RunID, "workflow", a.Namespace+"/"+a.Workflow, "task", a.Task, "index", a.Index, "attempt", a.Number, "attempt_id", a.ID)
}
