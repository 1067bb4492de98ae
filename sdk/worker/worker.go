package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/legatohq/legato/sdk/client"
)

// Options configure a Worker. Zero fields take their defaults.
type Options struct {
	// ID names the worker in leases and in run journals ("worker:<id>"):
	// unique per process, without "/" (ids with "/" are the servers' own
	// workers); default "<hostname>:<pid>".
	ID string
	// Queues the worker claims from (default: "default").
	Queues []string
	// Concurrency is the most attempts run at once (default 8).
	Concurrency int
	// LeaseFor is the lease length, in whole seconds (default 30s): a
	// worker that stops heartbeating loses its attempts after it. Every
	// held lease is renewed every third of it, in one request.
	LeaseFor time.Duration
	// PollWait is how long one claim request waits on the server for work
	// (default 20s, at most 30s).
	PollWait time.Duration
	// Logger receives the worker's own logs (default slog.Default()).
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultConcurrency = 8
	DefaultLease       = 30 * time.Second
	DefaultPollWait    = 20 * time.Second
	maxPollWait        = 30 * time.Second
)

// requestTimeout bounds each request other than a claim (which gets
// PollWait more).
const requestTimeout = 30 * time.Second

// Causes of a handler's context ending early.
var (
	errCanceledByRun = errors.New("canceled: the run was canceled or timed out")
	errLeaseLost     = errors.New("lease lost: the attempt is no longer held by this worker")
	errStopping      = errors.New("the worker is stopping")
)

// Worker claims attempts of the task types it has handlers for and runs
// them. Register handlers with Handle, then call Run once.
type Worker struct {
	c    *client.Client
	o    Options
	log  *slog.Logger
	logs *logBuffer

	mu       sync.Mutex
	handlers map[string]HandlerFunc
	held     map[int64]*lease
	started  bool
}

// lease is an attempt the worker holds, from its claim until its report.
type lease struct {
	a      client.Attempt
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	until time.Time // when the lease ends unless renewed, as far as the worker knows
	lost  bool
}

// New returns a worker that talks to the server through c.
func New(c *client.Client, o Options) *Worker {
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if len(o.Queues) == 0 {
		o.Queues = []string{"default"}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.LeaseFor <= 0 {
		o.LeaseFor = DefaultLease
	}
	o.LeaseFor = (o.LeaseFor + time.Second - 1).Truncate(time.Second) // the protocol counts seconds
	if o.PollWait <= 0 {
		o.PollWait = DefaultPollWait
	}
	o.PollWait = min(o.PollWait, maxPollWait)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Worker{
		c: c, o: o, log: o.Logger, logs: newLogBuffer(c, o.Logger),
		handlers: map[string]HandlerFunc{}, held: map[int64]*lease{},
	}
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.o.ID }

// Handle registers the handler of a task type. External task types have a
// dot in their name ("crm.create_contact"): the server's own workers never
// run them. Handle panics on an empty type, a nil handler, or a type
// registered twice.
func (w *Worker) Handle(taskType string, fn HandlerFunc) {
	if taskType == "" || fn == nil {
		panic("worker: Handle needs a task type and a handler")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.handlers[taskType]; dup {
		panic(fmt.Sprintf("worker: task type %q registered twice", taskType))
	}
	w.handlers[taskType] = fn
}

// types returns the registered task types, sorted.
func (w *Worker) types() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	types := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func (w *Worker) handler(taskType string) HandlerFunc {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.handlers[taskType]
}

// Run claims and runs attempts until ctx ends; call it once. Then it stops the handlers
// still running (their context ends), gives their attempts back so that
// they run again at once elsewhere, and returns nil. It returns early with
// an error the server will keep answering (a bad token: 401, an unknown
// endpoint: 404); errors that may pass (the server restarting, the network)
// are logged and retried with backoff.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	again := w.started
	w.started = true
	w.mu.Unlock()
	if again {
		return errors.New("worker: Run called twice")
	}
	types := w.types()
	if len(types) == 0 {
		return errors.New("worker: no handlers: call Handle before Run")
	}
	w.log.Info("worker started", "id", w.o.ID, "server", w.c.BaseURL(), "queues", w.o.Queues, "types", types, "concurrency", w.o.Concurrency)
	// Heartbeats and log batches go on until the last attempt is reported.
	side, stopSide := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { w.heartbeats(side) })
	bg.Go(func() { w.logs.run(side) })

	// Handlers are stopped once the claim in flight has returned, so that
	// the attempts they give back are not taken by that very claim.
	handlers, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	err := w.claimLoop(ctx, handlers, &running)
	stopHandlers()
	running.Wait()
	stopSide()
	bg.Wait()
	w.releaseAll(context.WithoutCancel(ctx))
	w.log.Info("worker stopped", "id", w.o.ID)
	return err
}

// releaseAll tells the server the worker is gone: an attempt that a claim
// in flight took for it while it stopped, which it will never see, is
// given back at once instead of when its lease runs out.
func (w *Worker) releaseAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	n, err := w.c.ReleaseWorker(ctx, w.o.ID)
	switch {
	case err != nil:
		w.log.Warn("release the worker's attempts", "err", err)
	case n > 0:
		w.log.Info("gave back attempts claimed while the worker stopped", "attempts", n)
	}
}

// claimLoop claims as many attempts as there are free slots, with a long
// poll, and starts each (to run until handlers ends), until ctx ends.
func (w *Worker) claimLoop(ctx, handlers context.Context, running *sync.WaitGroup) error {
	slots := make(chan struct{}, w.o.Concurrency)
	var retry backoff
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		free := 1 + takeFree(slots)
		attempts, err := w.claim(ctx, free)
		for range free - len(attempts) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !transient(err) {
				return fmt.Errorf("worker: claim attempts: %w", err)
			}
			d := retry.next()
			w.log.Warn("claim attempts failed, trying again", "err", err, "in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		retry.reset()
		for _, a := range attempts {
			running.Go(func() {
				defer func() { <-slots }()
				w.runSlot(ctx, handlers, a)
			})
		}
	}
}

// takeFree takes every slot still free without waiting and returns how
// many it took.
func takeFree(slots chan struct{}) int {
	n := 0
	for {
		select {
		case slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
}

func (w *Worker) claim(ctx context.Context, n int) ([]client.Attempt, error) {
	ctx, cancel := context.WithTimeout(ctx, w.o.PollWait+requestTimeout)
	defer cancel()
	return w.c.Claim(ctx, w.claimRequest(n))
}

// claimRequest asks for up to n attempts the worker runs.
func (w *Worker) claimRequest(n int) client.ClaimRequest {
	return client.ClaimRequest{
		WorkerID: w.o.ID, Queues: w.o.Queues, Types: w.types(), Limit: n, Lease: w.o.LeaseFor, Wait: w.o.PollWait,
	}
}

// runSlot runs a claimed attempt in its slot, then, one after the other,
// the attempts that its reports hand to the slot (see complete), until a
// report hands none: under load a slot goes from attempt to attempt with
// one request each. An attempt handed over is held, heartbeated and
// reported exactly like a claimed one.
func (w *Worker) runSlot(stopping, handlers context.Context, a client.Attempt) {
	for next := &a; next != nil; {
		next = w.execute(stopping, handlers, *next)
	}
}

// execute runs one attempt and reports how it ended; the handler is
// stopped and the attempt given back when ctx ends. Unless the worker is
// stopping (stopping ended), the report of a finished attempt asks for the
// slot's next attempt, which execute returns (nil when none was handed
// over).
func (w *Worker) execute(stopping, ctx context.Context, a client.Attempt) *client.Attempt {
	hctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	l := w.hold(a, cancel)
	defer w.release(a.ID)
	stop := context.AfterFunc(ctx, func() { cancel(errStopping) })
	out, err := w.invoke(hctx, w.task(a))
	stop()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	w.logs.flush(fctx) // the lines are stored before the result is
	fcancel()

	bg := context.WithoutCancel(ctx)
	var next *client.Attempt
	switch cause := context.Cause(hctx); {
	case errors.Is(cause, errLeaseLost):
		w.log.Warn("attempt dropped: its lease was lost", attemptAttrs(a)...)
	case errors.Is(cause, errCanceledByRun):
		w.log.Info("attempt canceled by its run", attemptAttrs(a)...)
		w.report(bg, l, "acknowledge cancel", func(ctx context.Context) error {
			return w.c.CompleteAttempt(ctx, a.ID, client.AttemptResult{Token: a.LeaseToken, WorkerID: w.o.ID, Canceled: true, Error: cause.Error()})
		})
	case errors.Is(cause, errStopping) && err != nil:
		w.log.Info("attempt interrupted: the worker is stopping", attemptAttrs(a)...)
		w.report(bg, l, "interrupt", func(ctx context.Context) error {
			return w.c.InterruptAttempt(ctx, a.ID, a.LeaseToken, w.o.ID)
		})
	default:
		next = w.complete(bg, l, out, err, stopping.Err() == nil)
	}
	return next
}

// complete reports a result. An output the server refuses (too large)
// becomes a non-retryable failure. With handOff, the report is a hand-off
// that also claims the slot's next attempt, which complete returns (nil
// when none was due or the hand-off did not succeed).
func (w *Worker) complete(ctx context.Context, l *lease, out any, err error, handOff bool) *client.Attempt {
	res := client.AttemptResult{Token: l.a.LeaseToken, WorkerID: w.o.ID}
	if err != nil {
		res.Error, res.NonRetryable = err.Error(), IsNonRetryable(err)
		if res.Error == "" {
			res.Error = "failed"
		}
	}
	if out != nil {
		raw, merr := json.Marshal(out)
		switch {
		case merr == nil:
			res.Output = json.RawMessage(raw)
		case err == nil:
			res.Error, res.NonRetryable = fmt.Sprintf("the output of %s is not JSON: %v", l.a.Type, merr), true
		}
	}
	var next []client.Attempt
	w.report(ctx, l, "complete", func(ctx context.Context) error {
		if handOff {
			// A hand-off whose answer was lost may have committed: report
			// then tries again and is refused with 409 stale_lease, and
			// no next attempt is known. The slot is freed; the attempt the
			// first try may have leased to the worker comes back when its
			// lease runs out, or at once when the worker stops (Run's
			// release).
			got, err := w.c.HandOff(ctx, l.a.ID, res, w.claimRequest(1))
			if err == nil || transient(err) || client.IsStaleLease(err) {
				next = got
				return err
			}
			// Any other refusal (a server without the hand-off, a result
			// it cannot take) goes on as a plain completion, which
			// handles it as it did before the hand-off.
			w.log.Debug("hand-off refused, completing without it", append(attemptAttrs(l.a), "err", err)...)
		}
		err := w.c.CompleteAttempt(ctx, l.a.ID, res)
		if refusedBody(err) && res.Output != nil {
			w.log.Error("attempt result refused by the server, reporting a failure instead", append(attemptAttrs(l.a), "err", err)...)
			return w.c.CompleteAttempt(ctx, l.a.ID, client.AttemptResult{
				Token: res.Token, WorkerID: res.WorkerID, NonRetryable: true,
				Error: "the server refused the attempt's result: " + err.Error(),
			})
		}
		return err
	})
	if len(next) == 0 {
		return nil
	}
	return &next[0] // the hand-off asked for one
}

// report calls the server about an attempt until it answers, retrying
// transient errors with backoff for as long as the lease may still hold.
// A refused report (409 stale_lease: the lease was lost, nothing changed)
// is logged and dropped.
func (w *Worker) report(ctx context.Context, l *lease, what string, call func(context.Context) error) {
	var retry backoff
	for {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := call(rctx)
		cancel()
		attrs := append(attemptAttrs(l.a), "report", what)
		switch {
		case err == nil:
			return
		case client.IsStaleLease(err):
			w.log.Warn("attempt report refused: the lease is no longer held", attrs...)
			return
		case !transient(err):
			w.log.Error("attempt report failed", append(attrs, "err", err)...)
			return
		case l.expired(time.Now()):
			w.log.Error("attempt report abandoned: the lease ran out before the server could be reached", append(attrs, "err", err)...)
			return
		}
		d := retry.next()
		w.log.Warn("attempt report failed, trying again", append(attrs, "err", err, "in", d)...)
		time.Sleep(d)
	}
}

// invoke calls the handler with the attempt's timeout, turning panics into
// non-retryable errors.
func (w *Worker) invoke(ctx context.Context, t *Task) (out any, err error) {
	h := w.handler(t.Type)
	if h == nil {
		return nil, NonRetryable(fmt.Errorf("this worker has no handler for task type %q", t.Type))
	}
	var errTimeout error
	if t.Timeout > 0 {
		errTimeout = fmt.Errorf("timed out after %s", t.Timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("handler panicked", "type", t.Type, "panic", r, "stack", string(debug.Stack()))
			out, err = nil, NonRetryable(fmt.Errorf("the handler of %s panicked: %v", t.Type, r))
		}
	}()
	out, err = h(ctx, t)
	if err != nil && errTimeout != nil && errors.Is(context.Cause(ctx), errTimeout) {
		err = fmt.Errorf("%w (%v)", errTimeout, err)
	}
	return out, err
}

func (w *Worker) task(a client.Attempt) *Task {
	index := -1
	if a.Index != nil {
		index = *a.Index
	}
	params := a.Params
	if params == nil {
		params = map[string]any{}
	}
	return &Task{
		AttemptID: a.ID, RunID: a.RunID, Namespace: a.Namespace, Workflow: a.Workflow, TaskID: a.Task, Index: index,
		Attempt: a.Attempt, Type: a.Type, Params: params, IdempotencyKey: a.IdempotencyKey, Timeout: a.Timeout(),
		Queue: a.Queue, log: w.logs.sink(a.ID, a.LeaseToken),
	}
}

func (w *Worker) hold(a client.Attempt, cancel context.CancelCauseFunc) *lease {
	l := &lease{a: a, cancel: cancel, until: time.Now().Add(w.o.LeaseFor)}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held[a.ID] = l
	return l
}

func (w *Worker) release(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.held, id)
}

// heartbeats renews every held lease each third of the lease, in one
// request, until ctx ends.
func (w *Worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.o.LeaseFor / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.heartbeat(ctx)
		}
	}
}

// heartbeat renews the held leases once: a lease the server no longer
// knows is lost (its handler is stopped and its result dropped), one whose
// run asked for a cancel has its handler stopped. When the server cannot
// be reached, leases whose time has run out are given up.
func (w *Worker) heartbeat(ctx context.Context) {
	w.mu.Lock()
	held := make([]*lease, 0, len(w.held))
	for _, l := range w.held {
		held = append(held, l)
	}
	w.mu.Unlock()
	if len(held) == 0 {
		return
	}
	leases := make([]client.Lease, len(held))
	for i, l := range held {
		leases[i] = client.Lease{ID: l.a.ID, Token: l.a.LeaseToken}
	}
	sent := time.Now()
	hctx, cancel := context.WithTimeout(ctx, min(requestTimeout, w.o.LeaseFor))
	states, err := w.c.Heartbeat(hctx, w.o.ID, w.o.LeaseFor, leases)
	cancel()
	if err == nil && len(states) != len(held) {
		err = fmt.Errorf("the server answered %d lease states for %d leases", len(states), len(held))
	}
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("heartbeat failed", "leases", len(held), "err", err)
		}
		for _, l := range held {
			if l.expired(time.Now()) {
				l.lose()
			}
		}
		return
	}
	for i, st := range states {
		l := held[i]
		switch {
		case st.Lost:
			l.lose()
		case st.Cancel:
			l.renew(sent.Add(w.o.LeaseFor))
			l.cancel(errCanceledByRun)
		default:
			l.renew(sent.Add(w.o.LeaseFor))
		}
	}
}

func (l *lease) renew(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until = until
}

func (l *lease) lose() {
	l.mu.Lock()
	l.lost = true
	l.mu.Unlock()
	l.cancel(errLeaseLost)
}

// expired reports whether the lease is lost or its time has run out.
func (l *lease) expired(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost || now.After(l.until)
}

// transient reports whether a failed call may succeed if made again: the
// server could not be reached or answered 5xx, 408 or 429.
func transient(err error) bool {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled)
}

// refusedBody reports whether the server refused a request's body as such
// (400, 413): sending it again cannot help.
func refusedBody(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusRequestEntityTooLarge)
}

func attemptAttrs(a client.Attempt) []any {
	return []any{"attempt", a.ID, "run", a.RunID, "task", a.Task, "type", a.Type, "number", a.Attempt}
}
