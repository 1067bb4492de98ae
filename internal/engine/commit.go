package engine

import (
	"time"

	"github.com/legatohq/legato/internal/store"
)

// Commit is what one committed transaction changed, told to observers
// registered with OnCommit (metrics, traces) after the commit. Observers
// must not modify it.
type Commit struct {
	// Journal lists the journal events appended, in order (run.created,
	// run.running, task.succeeded, run.failed, …).
	Journal []*store.Event
	// Attempts lists the attempts that ended in the transaction, with
	// their final status, StartedAt and FinishedAt.
	Attempts []*store.Attempt

	states  map[string]*State
	created map[string]*store.Run
}

// Run returns a run the transaction created or changed, as committed (nil
// when it touched no such run).
func (c *Commit) Run(id string) *store.Run {
	if st := c.states[id]; st != nil {
		return st.Run
	}
	return c.created[id]
}

// TaskRun returns a task run the transaction changed, as committed (nil
// for any other).
func (c *Commit) TaskRun(runID, task string, index int) *store.TaskRun {
	if st := c.states[runID]; st != nil {
		return st.Tasks[Key{task, index}]
	}
	return nil
}

// TaskType returns the type of a task of a run the transaction changed
// ("" when unknown).
func (c *Commit) TaskType(runID, task string) string {
	if st := c.states[runID]; st != nil {
		if t := st.def(task); t != nil {
			return t.Type
		}
	}
	return ""
}

// OnCommit registers f to be told, after each commit of a transition,
// what it changed. f runs on the committing goroutine: keep it cheap.
func (e *Engine) OnCommit(f func(*Commit)) {
	e.notifyMu.Lock()
	e.onCommit = append(e.onCommit, f)
	e.notifyMu.Unlock()
}

// journal records events appended in the transaction for OnCommit.
func (fx *effects) journal(evs ...*store.Event) {
	fx.events = append(fx.events, evs...)
}

// runCreated records a new run and its run.created event for OnCommit: a
// run queued behind a concurrency limit is not loaded by the transaction.
func (fx *effects) runCreated(run *store.Run, ev *store.Event) {
	if fx.created == nil {
		fx.created = map[string]*store.Run{}
	}
	fx.created[run.ID] = run
	fx.journal(ev)
}

// attemptEnded records an attempt that ended in the transaction. a is
// copied: the caller's value is not changed.
func (fx *effects) attemptEnded(a *store.Attempt, status store.AttemptStatus, errMsg string, now time.Time) {
	c := *a
	c.Status, c.Error = status, errMsg
	if c.FinishedAt.IsZero() {
		c.FinishedAt = now
	}
	fx.attempts = append(fx.attempts, &c)
}

// commitObservers tells the OnCommit observers what a commit did, outside
// notifyMu (an observer may log or export).
func (e *Engine) commitObservers(fx *effects) {
	if len(fx.events) == 0 && len(fx.attempts) == 0 {
		return
	}
	e.notifyMu.Lock()
	observers := e.onCommit
	e.notifyMu.Unlock()
	if len(observers) == 0 {
		return
	}
	c := &Commit{Journal: fx.events, Attempts: fx.attempts, states: fx.snapshot(), created: fx.created}
	for _, f := range observers {
		f(c)
	}
}

// snapshot copies what a Commit tells of the runs the transaction changed:
// their states go on to later transactions (stateCache) while an observer
// may still read the Commit.
func (fx *effects) snapshot() map[string]*State {
	out := make(map[string]*State, len(fx.states))
	for id, st := range fx.states {
		run := *st.Run
		out[id] = &State{Workflow: st.Workflow, Run: &run, Tasks: map[Key]*store.TaskRun{}}
	}
	for _, tr := range fx.changed {
		if st := out[tr.RunID]; st != nil {
			c := *tr
			st.Tasks[Key{tr.Task, tr.Index}] = &c
		}
	}
	return out
}
