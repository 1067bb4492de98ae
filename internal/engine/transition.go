package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/legatohq/legato/internal/store"
)

// maxDepth bounds nested transitions (child runs notifying parents).
const maxDepth = 32

// apply loads a run, decides ev and writes the result and its commands in
// tx. Commands that touch other runs (children, parents, queued runs of
// the same workflow) apply their events in the same transaction.
func (e *Engine) apply(ctx context.Context, tx store.Tx, fx *effects, runID string, ev Event, actor string, depth int) error {
	return e.applyAll(ctx, tx, fx, runID, []Event{ev}, []string{actor}, depth)
}

// applyAll decides the events of one run in order (actors[i] is the
// actor of evs[i]) and writes their results together: the run once, each
// changed task run once, the journal in one append, then the commands in
// order. A decision whose commands reach beyond the run's own rows (a
// child, a parent, the workflow's queued runs, an event wait) is written
// with the decisions before it and its commands run at once, before the
// next event is decided, so that what they do to this run comes after it
// in the journal, as it would one event at a time.
func (e *Engine) applyAll(ctx context.Context, tx store.Tx, fx *effects, runID string, evs []Event, actors []string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("run %s: transitions nested deeper than %d", runID, maxDepth)
	}
	st, err := e.load(ctx, tx, fx, runID)
	if err != nil {
		return err
	}
	var w pendingWrites
	for i, ev := range evs {
		st.Now = e.now().UTC()
		d := Decide(st, ev)
		for _, j := range d.Journal {
			j.Actor = actors[i]
		}
		w.add(&d, actors[i])
		if i == len(evs)-1 || reachesOut(d.Commands) {
			if err := e.write(ctx, tx, fx, st, &w, depth); err != nil {
				return err
			}
			w = pendingWrites{}
		}
	}
	return nil
}

// pendingWrites are the results of decisions about one run not yet
// written.
type pendingWrites struct {
	order   []Key
	changed map[Key]*store.TaskRun // nil value: deleted
	journal []*store.Event
	cmds    []Command
	actors  []string
	// all lists every changed task run, repeats included (for OnCommit).
	all []*store.TaskRun
}

func (w *pendingWrites) add(d *Decision, actor string) {
	if w.changed == nil {
		w.changed = map[Key]*store.TaskRun{}
	}
	set := func(k Key, tr *store.TaskRun) {
		if _, ok := w.changed[k]; !ok {
			w.order = append(w.order, k)
		}
		w.changed[k] = tr
	}
	for _, k := range d.Deleted {
		set(k, nil)
	}
	for _, tr := range d.Changed {
		set(Key{tr.Task, tr.Index}, tr)
	}
	w.all = append(w.all, d.Changed...)
	w.journal = append(w.journal, d.Journal...)
	for _, c := range d.Commands {
		w.cmds = append(w.cmds, c)
		w.actors = append(w.actors, actor)
	}
}

// reachesOut reports whether a command reads or writes beyond the run's
// own task runs, attempts and timers.
func reachesOut(cmds []Command) bool {
	for _, c := range cmds {
		switch c.(type) {
		case StartChild, CancelChild, NotifyParent, RunFinished, WaitEvent:
			return true
		}
	}
	return false
}

// write stores the run as st has it and the pending writes, then runs
// their commands.
func (e *Engine) write(ctx context.Context, tx store.Tx, fx *effects, st *State, w *pendingWrites, depth int) error {
	run := st.Run
	run.UpdatedAt = st.Now
	if err := tx.RunUpdate(ctx, run); err != nil {
		return err
	}
	var upserts []*store.TaskRun
	for _, k := range w.order {
		tr := w.changed[k]
		if tr == nil {
			if err := tx.TaskRunDelete(ctx, run.ID, k.Task, k.Index); err != nil {
				return err
			}
			continue
		}
		upserts = append(upserts, tr)
	}
	if len(upserts) > 0 {
		if err := tx.TaskRunUpsert(ctx, upserts); err != nil {
			return err
		}
	}
	fx.changed = append(fx.changed, w.all...)
	if err := tx.EventAppend(ctx, w.journal); err != nil {
		return err
	}
	fx.journal(w.journal...)
	for i, c := range w.cmds {
		if err := e.exec(ctx, tx, fx, run, c, w.actors[i], depth); err != nil {
			return fmt.Errorf("run %s: %s: %w", run.ID, c.commandName(), err)
		}
	}
	return nil
}

// load returns the state of a run as this transaction sees it. Every write
// to a run and its task runs goes through apply, which keeps the state it
// loaded up to date, so later transitions of the same run in the same
// transaction (a batch of completions, a child notifying its parent) reuse
// it instead of reading every task run again; and so do later
// transactions, while the run's revision shows that nothing else wrote it
// (stateCache).
func (e *Engine) load(ctx context.Context, tx store.Tx, fx *effects, runID string) (*State, error) {
	if st := fx.states[runID]; st != nil {
		return st, nil
	}
	if e.states.has(runID) {
		if err := e.loadKept(ctx, tx, fx, []string{runID}); err != nil {
			return nil, err
		}
		if st := fx.states[runID]; st != nil {
			return st, nil
		}
	}
	run, err := tx.RunGet(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrRunNotFound, runID)
	}
	if err != nil {
		return nil, err
	}
	w, _, err := e.workflow(ctx, tx, run.Namespace, run.Workflow, run.Version)
	if err != nil {
		return nil, err
	}
	trs, err := tx.TaskRunList(ctx, runID)
	if err != nil {
		return nil, err
	}
	st := &State{Workflow: w, Run: run, Tasks: make(map[Key]*store.TaskRun, len(trs)), NewID: e.newID, Env: e.env}
	for _, tr := range trs {
		st.Tasks[Key{tr.Task, tr.Index}] = tr
	}
	fx.loaded(runID, st)
	return st, nil
}

// loadKept loads into fx the states kept for the runs of ids (sorted)
// that are still current, from one read of the runs' revisions and
// running task runs (store.Tx.RunRevisions: on PostgreSQL one round trip,
// which locks every run of ids, in id order); load reads the others in
// full.
func (e *Engine) loadKept(ctx context.Context, tx store.Tx, fx *effects, ids []string) error {
	revs, running, err := tx.RunRevisions(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[string]store.RunRevision, len(revs))
	for _, r := range revs {
		byID[r.ID] = r
	}
	byRun := make(map[string][]*store.TaskRun, len(revs))
	for _, tr := range running {
		byRun[tr.RunID] = append(byRun[tr.RunID], tr)
	}
	for _, id := range ids {
		if fx.states[id] != nil {
			continue
		}
		// A run that is gone takes its kept state with it.
		r, ok := byID[id]
		if !ok {
			r.Revision = -1
		}
		if st := e.states.take(id, r.Revision, r.Version); st != nil {
			st.refresh(byRun[id])
			fx.loaded(id, st)
		}
	}
	return nil
}

// loaded records the state of a run the transaction loaded.
func (fx *effects) loaded(runID string, st *State) {
	if fx.states == nil {
		fx.states = map[string]*State{}
	}
	fx.states[runID] = st
}

// exec applies one command of a decision about run.
func (e *Engine) exec(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, c Command, actor string, depth int) error {
	now := e.now().UTC()
	switch c := c.(type) {
	case Enqueue:
		nb := c.NotBefore
		if nb.IsZero() {
			nb = now
		}
		a := &store.Attempt{
			RunID: run.ID, Task: c.Task, Index: c.Index, Number: c.Attempt, Namespace: run.Namespace,
			Workflow: run.Workflow, Queue: c.Queue, Type: c.Type, Params: c.Params, Timeout: c.Timeout,
			Status: store.AttemptQueued, NotBefore: nb, CreatedAt: now,
			Priority: run.Priority, Resource: c.Resource,
		}
		if err := tx.AttemptInsert(ctx, a); err != nil {
			return err
		}
		fx.queued(a)
		return nil
	case SetTimer:
		fx.timers = true
		return tx.TimerSet(ctx, &store.Timer{RunID: run.ID, Task: c.Task, Index: c.Index, Kind: c.Kind, FireAt: c.At})
	case DeleteTimer:
		return tx.TimerDelete(ctx, run.ID, c.Task, c.Index, c.Kind)
	case DeleteRunTimers:
		return tx.TimerDeleteRun(ctx, run.ID)
	case CancelAttempts:
		running, err := tx.AttemptCancel(ctx, run.ID, c.Task, c.Index)
		for _, a := range running {
			fx.canceled = append(fx.canceled, a.ID)
		}
		return err
	case StartChild:
		return e.startChild(ctx, tx, fx, run, c, actor, depth)
	case CancelChild:
		return e.apply(ctx, tx, fx, c.RunID, Cancel{Reason: "parent run stopped"}, actor, depth+1)
	case NotifyParent:
		return e.apply(ctx, tx, fx, c.ParentRunID, ChildDone{
			Task: c.Task, Index: c.Index, ChildID: run.ID, Status: c.Status, Outputs: c.Outputs, Err: c.Err,
		}, actor, depth+1)
	case RunFinished:
		fx.finished = append(fx.finished, run.ID)
		if err := e.releaseSlot(ctx, tx, fx, run, actor, depth); err != nil {
			return err
		}
		return e.startQueuedTick(ctx, tx, fx, run, depth)
	case WaitEvent:
		return e.waitEvent(ctx, tx, fx, run, c, actor, depth)
	case DeleteEventWait:
		return tx.EventWaitDelete(ctx, run.ID, c.Task, c.Index)
	case Notify:
		return e.outbox(ctx, tx, fx, run, c)
	}
	return fmt.Errorf("unknown command %T", c)
}

func (e *Engine) startChild(ctx context.Context, tx store.Tx, fx *effects, parent *store.Run, c StartChild, actor string, depth int) error {
	child := &store.Run{
		ID: c.RunID, Namespace: c.Namespace, Workflow: c.Workflow, Inputs: c.Inputs,
		ParentRunID: parent.ID, ParentTask: c.Task, ParentIndex: c.Index, CreatedBy: actor,
		Priority: parent.Priority,
	}
	if err := e.createRun(ctx, tx, fx, child, 0, actor, depth+1); err != nil {
		var ie *InputError
		if !errors.Is(err, ErrWorkflowNotFound) && !errors.As(err, &ie) {
			return err
		}
		return e.apply(ctx, tx, fx, parent.ID, ChildDone{
			Task: c.Task, Index: c.Index, ChildID: c.RunID, Status: store.RunFailed, Err: err.Error(),
		}, actor, depth+1)
	}
	return nil
}

// releaseSlot starts the next queued run (highest priority, then oldest)
// of a workflow with a concurrency limit, among those of the same
// concurrency key, when one of its runs finished.
func (e *Engine) releaseSlot(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, actor string, depth int) error {
	w, _, err := e.workflow(ctx, tx, run.Namespace, run.Workflow, run.Version)
	if err != nil || w.Concurrency == nil || w.Concurrency.Limit <= 0 {
		return err
	}
	active, err := tx.RunCountActiveKey(ctx, run.Namespace, run.Workflow, run.ConcurrencyKey)
	if err != nil || active >= w.Concurrency.Limit {
		return err
	}
	next, err := tx.RunNextQueuedKey(ctx, run.Namespace, run.Workflow, run.ConcurrencyKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return e.apply(ctx, tx, fx, next.ID, Start{}, actor, depth+1)
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func joinProblems(p []string) string { return strings.Join(p, "; ") }
