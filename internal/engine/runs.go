package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// StartRunParams says which workflow to run with what.
type StartRunParams struct {
	Namespace string
	Workflow  string
	// Version 0 means the latest.
	Version int
	Inputs  map[string]any
	Actor   string
	// IdempotencyKey, when set, is unique per (namespace, workflow): a
	// start with a key already used returns the run it started and starts
	// nothing.
	IdempotencyKey string
	// Trigger records what started the run (a webhook or an event); nil
	// for the API.
	Trigger *store.RunTrigger
	// Priority orders the run among queued runs and its attempts among
	// queued attempts: higher first (default 0).
	Priority int
}

// StartRun creates a run and starts it, or queues it when its workflow's
// concurrency limit is reached.
func (e *Engine) StartRun(ctx context.Context, p *StartRunParams) (*store.Run, error) {
	run, _, err := e.Start(ctx, p)
	return run, err
}

// Start is StartRun that also reports whether a run was created: false
// when p.IdempotencyKey was already used, and the run is the one it
// started then. Starts submitted at the same time commit together (the
// engine's group commit, with completions: batch.go).
func (e *Engine) Start(ctx context.Context, p *StartRunParams) (*store.Run, bool, error) {
	s, err := e.StartDetailed(ctx, p)
	if err != nil {
		return nil, false, err
	}
	return s.Run, s.Created, nil
}

// Started is what StartDetailed tells of a start.
type Started struct {
	// Run is the run as committed.
	Run *store.Run
	// Created is false when the idempotency key was used already: Run
	// is the run it started then.
	Created bool
	// Tasks are the task runs of a created run as its start left them
	// (a worker may have taken a first attempt in the same commit: the
	// task run then reads running); nil when the run was not created
	// here.
	Tasks []*store.TaskRun
}

// StartDetailed is Start that also returns the new run's task runs, so
// that a caller answering with the run reads nothing back.
func (e *Engine) StartDetailed(ctx context.Context, p *StartRunParams) (*Started, error) {
	return e.batch.startRun(ctx, p)
}

// TaskOrder returns the ids of a workflow version's tasks in the order
// the file gives them (from the engine's cache of parsed versions).
func (e *Engine) TaskOrder(ctx context.Context, ns, name string, version int) ([]string, error) {
	w := e.cachedSpec(specKey{ns, name, version})
	if w == nil || version <= 0 {
		err := e.store.View(ctx, func(tx store.Tx) error {
			var err error
			w, _, err = e.workflow(ctx, tx, ns, name, version)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	ids := make([]string, len(w.Tasks))
	for i := range w.Tasks {
		ids[i] = w.Tasks[i].ID
	}
	return ids, nil
}

// startIn creates and starts a run inside tx, unless its idempotency key
// is bound to a run already.
func (e *Engine) startIn(ctx context.Context, tx store.Tx, fx *effects, p *StartRunParams) (*store.Run, bool, error) {
	ns := p.Namespace
	if ns == "" {
		ns = "default"
	}
	run := &store.Run{ID: e.newID(), Namespace: ns, Workflow: p.Workflow, Inputs: p.Inputs, ParentIndex: -1, CreatedBy: p.Actor, Priority: p.Priority}
	if p.IdempotencyKey != "" {
		// The key is bound first: a concurrent start with the same key
		// waits here for this transaction and then finds the key taken.
		id, err := tx.RunKeyPut(ctx, ns, p.Workflow, p.IdempotencyKey, run.ID, e.now().UTC())
		if err != nil {
			return nil, false, err
		}
		if id != run.ID {
			prev, err := tx.RunGet(ctx, id)
			if err != nil {
				return nil, false, fmt.Errorf("run %s of idempotency key %q: %w", id, p.IdempotencyKey, err)
			}
			return prev, false, nil
		}
	}
	if err := e.createRun(ctx, tx, fx, run, p.Version, p.Actor, 0); err != nil {
		return nil, false, err
	}
	if p.Trigger != nil {
		rt := *p.Trigger
		rt.RunID = run.ID
		if err := tx.RunTriggerPut(ctx, &rt); err != nil {
			return nil, false, err
		}
	}
	if st := fx.states[run.ID]; st != nil {
		// The run as its start wrote it, as the state kept for its next
		// transition has it (not read back); copied again once
		// committed, when a driver that sends the run's update with a
		// later statement has set its revision.
		c := new(store.Run)
		answer := func() { *c = *st.Run }
		answer()
		fx.committed = append(fx.committed, answer)
		return c, true, nil
	}
	run, err := tx.RunGet(ctx, run.ID)
	return run, err == nil, err
}

// createRun binds the inputs, inserts the run queued and starts it unless
// its workflow's concurrency limit is reached.
func (e *Engine) createRun(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, version int, actor string, depth int) error {
	w, err := e.insertRun(ctx, tx, fx, run, version, actor)
	if err != nil {
		return err
	}
	if w.Concurrency != nil && w.Concurrency.Limit > 0 {
		active, err := tx.RunCountActiveKey(ctx, run.Namespace, run.Workflow, run.ConcurrencyKey)
		if err != nil {
			return err
		}
		if active >= w.Concurrency.Limit {
			return nil
		}
	}
	return e.apply(ctx, tx, fx, run.ID, Start{}, actor, depth)
}

// insertRun binds the inputs and inserts the run, queued, with its
// creation in the journal.
func (e *Engine) insertRun(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, version int, actor string) (*spec.Workflow, error) {
	// The starts of one workflow in a transaction (a batch of them) read
	// which version is the latest once.
	latest, byName := run.Namespace+"\x00"+run.Workflow, version == 0
	if byName {
		version = fx.latest[latest]
	}
	w, v, err := e.workflow(ctx, tx, run.Namespace, run.Workflow, version)
	if err != nil {
		return nil, err
	}
	run.Version = version
	if v != nil {
		run.Version = v.Version
	}
	if v != nil && byName {
		if fx.latest == nil {
			fx.latest = map[string]int{}
		}
		fx.latest[latest] = v.Version
	}
	inputs, err := BindInputs(w, run.Inputs)
	if err != nil {
		return nil, err
	}
	now := e.now().UTC()
	run.Inputs = inputs
	if run.ConcurrencyKey, err = concurrencyKey(w, inputs); err != nil {
		return nil, err
	}
	run.Status = store.RunQueued
	run.Attempt = 1
	run.CreatedAt, run.UpdatedAt = now, now
	if err := tx.RunInsert(ctx, run); err != nil {
		return nil, err
	}
	created := &store.Event{RunID: run.ID, Type: "run.created", Index: -1, Actor: actor, At: now, Data: mustJSON(map[string]any{"version": run.Version})}
	if err := tx.EventAppend(ctx, []*store.Event{created}); err != nil {
		return nil, err
	}
	fx.runCreated(run, created)
	// The transaction knows the new run whole: its first transition
	// needs no read (load finds it here).
	seeded := *run
	if seeded.Inputs, err = jsonCopy(run.Inputs); err != nil {
		return nil, err
	}
	fx.loaded(run.ID, &State{Workflow: w, Run: &seeded, Tasks: map[Key]*store.TaskRun{}, NewID: e.newID, Env: e.env})
	return w, nil
}

// jsonCopy returns m as the store gives it back: decoded from its JSON
// (numbers as float64), so that a run's state reads the same whether it
// was just created or loaded.
func jsonCopy(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode inputs: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode inputs: %w", err)
	}
	return out, nil
}

// concurrencyKey evaluates the workflow's concurrency key over the run's
// inputs: a string as it is, any other value as JSON. A key that cannot
// be evaluated is an input error: the run is not created.
func concurrencyKey(w *spec.Workflow, inputs map[string]any) (string, error) {
	if w.Concurrency == nil || w.Concurrency.Key == "" {
		return "", nil
	}
	v, err := expr.Render(w.Concurrency.Key, expr.Vars{"inputs": inputs})
	if err != nil {
		return "", &InputError{Problems: []string{fmt.Sprintf("concurrency key: %v", err)}}
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", &InputError{Problems: []string{fmt.Sprintf("concurrency key: %v", err)}}
	}
	return string(b), nil
}

// CancelRun cancels a run that has not finished.
func (e *Engine) CancelRun(ctx context.Context, id, actor string) (*store.Run, error) {
	return e.control(ctx, id, actor, Cancel{Reason: "canceled by " + actorName(actor)}, func(r *store.Run) bool { return !r.Status.Terminal() })
}

// RetryRun restarts a failed or canceled run from the tasks that did not
// succeed; succeeded tasks keep their results.
func (e *Engine) RetryRun(ctx context.Context, id, actor string) (*store.Run, error) {
	return e.control(ctx, id, actor, Retry{}, func(r *store.Run) bool {
		return r.Status == store.RunFailed || r.Status == store.RunCanceled
	})
}

func (e *Engine) control(ctx context.Context, id, actor string, ev Event, allowed func(*store.Run) bool) (*store.Run, error) {
	var run *store.Run
	err := e.tx(ctx, func(tx store.Tx, fx *effects) error {
		r, err := tx.RunGet(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrRunNotFound, id)
		}
		if err != nil {
			return err
		}
		if !allowed(r) {
			return fmt.Errorf("%w: run %s is %s", ErrInvalidState, id, r.Status)
		}
		if err := e.apply(ctx, tx, fx, id, ev, actor, 0); err != nil {
			return err
		}
		run, err = tx.RunGet(ctx, id)
		return err
	})
	return run, err
}

func actorName(a string) string {
	if a == "" {
		return "user"
	}
	return a
}

// AttemptResult is what a worker reports for an attempt it held.
type AttemptResult struct {
	ID     int64
	Token  string
	Output any
	// Err is empty on success.
	Err          string
	NonRetryable bool
	// Canceled acknowledges a cancel the run asked for: the attempt stopped
	// and nothing waits for its result.
	Canceled bool
	Actor    string
}

// CompleteAttempt records an attempt's end and everything it unblocks in
// one transaction. A stale lease token yields store.ErrStaleLease and
// changes nothing. Completions reported at the same time are committed
// together (group commit): one transaction, one durable commit and one
// load of each run for the whole batch.
func (e *Engine) CompleteAttempt(ctx context.Context, r *AttemptResult) error {
	_, err := e.batch.submit(ctx, r, nil)
	return err
}

// completeIn applies completions inside tx: first every attempt's finish
// (each locks only its own attempt), then the transitions, in run id
// order, so that two servers committing batches lock runs in the same
// order and never deadlock.
func (e *Engine) completeIn(ctx context.Context, tx store.Tx, fx *effects, rs ...*AttemptResult) error {
	type done struct {
		a *store.Attempt
		r *AttemptResult
	}
	finished := make([]done, 0, len(rs))
	ps := make([]*store.AttemptFinishParams, len(rs))
	now := e.now().UTC()
	for i, r := range rs {
		status := store.AttemptSucceeded
		switch {
		case r.Canceled:
			status = store.AttemptCanceled
		case r.Err != "":
			status = store.AttemptFailed
		}
		ps[i] = &store.AttemptFinishParams{ID: r.ID, Token: r.Token, Status: status, Error: r.Err, Now: now}
	}
	as, err := finishAll(ctx, tx, ps)
	if err != nil {
		return err
	}
	for i, a := range as {
		r := rs[i]
		fx.attemptEnded(a, a.Status, a.Error, a.FinishedAt)
		if !r.Canceled { // else the run decided when it asked for the cancel
			finished = append(finished, done{a, r})
		}
	}
	slices.SortStableFunc(finished, func(x, y done) int { return strings.Compare(x.a.RunID, y.a.RunID) })
	// The runs' kept states are checked in one read, which on PostgreSQL
	// also locks the runs in id order.
	var ids []string
	for _, f := range finished {
		if id := f.a.RunID; (len(ids) == 0 || ids[len(ids)-1] != id) && fx.states[id] == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) > 1 {
		if err := e.loadKept(ctx, tx, fx, ids); err != nil {
			return err
		}
	}
	// The completions of one run are decided one after the other and
	// written together (applyAll).
	for len(finished) > 0 {
		n := 1
		for n < len(finished) && finished[n].a.RunID == finished[0].a.RunID {
			n++
		}
		evs, actors := make([]Event, n), make([]string, n)
		for i, f := range finished[:n] {
			evs[i] = AttemptDone{
				Task: f.a.Task, Index: f.a.Index, Attempt: f.a.Number, Output: f.r.Output, Err: f.r.Err, NonRetryable: f.r.NonRetryable,
			}
			actors[i] = f.r.Actor
		}
		if err := e.applyAll(ctx, tx, fx, finished[0].a.RunID, evs, actors, 0); err != nil {
			return err
		}
		finished = finished[n:]
	}
	return nil
}

// finishAll finishes a batch's attempts in one statement (one round trip
// on PostgreSQL); a single one with the plainer statement.
func finishAll(ctx context.Context, tx store.Tx, ps []*store.AttemptFinishParams) ([]*store.Attempt, error) {
	if len(ps) != 1 {
		return tx.AttemptFinishAll(ctx, ps)
	}
	a, err := tx.AttemptFinish(ctx, ps[0])
	if err != nil {
		return nil, err
	}
	return []*store.Attempt{a}, nil
}

// InterruptAttempt gives back an attempt its worker stopped without a
// result (the worker is shutting down): a new attempt is queued at once,
// whatever the retry policy. A stale token yields store.ErrStaleLease.
func (e *Engine) InterruptAttempt(ctx context.Context, id int64, token, actor string) error {
	return e.release(ctx, id, token, "interrupted: the worker stopped while the attempt ran", actor)
}

func (e *Engine) release(ctx context.Context, id int64, token, msg, actor string) error {
	return e.tx(ctx, func(tx store.Tx, fx *effects) error {
		a, err := tx.AttemptGet(ctx, id)
		if err != nil {
			return err
		}
		now := e.now().UTC()
		if err := tx.AttemptRelease(ctx, id, token, now, msg); err != nil {
			return err
		}
		fx.attemptEnded(a, store.AttemptFailed, msg, now)
		return e.apply(ctx, tx, fx, a.RunID, AttemptDone{Task: a.Task, Index: a.Index, Attempt: a.Number, Err: msg, Interrupted: true}, actor, 0)
	})
}
