package engine

import (
	"fmt"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// harness drives Decide the way the shell does, keeping the commands it
// would apply: queued attempts, timers and child runs. It records plans
// instead of applying them (Nomad's scheduler harness).
type harness struct {
	t        tester
	st       *State
	ids      int
	queued   map[Key]Enqueue // the latest queued attempt of each task run
	timers   map[Key]SetTimer
	children map[Key]StartChild
	all      []Command
	journal  []*store.Event
}

// tester is what both *testing.T and *rapid.T provide.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newHarness(t tester, w *spec.Workflow, inputs map[string]any) *harness {
	if w.Namespace == "" {
		w.Namespace = "default"
	}
	h := &harness{t: t, queued: map[Key]Enqueue{}, timers: map[Key]SetTimer{}, children: map[Key]StartChild{}}
	if inputs == nil {
		inputs = map[string]any{}
	}
	h.st = &State{
		Workflow: w,
		Run: &store.Run{ID: "run1", Namespace: w.Namespace, Workflow: w.Name, Version: 1, Status: store.RunQueued,
			Inputs: inputs, Attempt: 1, ParentIndex: -1, CreatedAt: t0},
		Tasks: map[Key]*store.TaskRun{},
		Now:   t0,
		NewID: func() string { h.ids++; return fmt.Sprintf("child%d", h.ids) },
	}
	return h
}

func (h *harness) do(ev Event) Decision {
	d := Decide(h.st, ev)
	for _, c := range d.Commands {
		h.all = append(h.all, c)
		switch c := c.(type) {
		case Enqueue:
			h.queued[Key{c.Task, c.Index}] = c
		case SetTimer:
			h.timers[Key{c.Task, c.Index}] = c
		case DeleteTimer:
			delete(h.timers, Key{c.Task, c.Index})
		case DeleteRunTimers:
			clear(h.timers)
		case StartChild:
			h.children[Key{c.Task, c.Index}] = c
		case CancelAttempts:
			clear(h.queued)
		}
	}
	h.journal = append(h.journal, d.Journal...)
	return d
}

func (h *harness) start() Decision { return h.do(Start{}) }

// finish reports the end of the queued attempt of a task run.
func (h *harness) finish(task string, index int, output any, errMsg string) Decision {
	h.t.Helper()
	k := Key{task, index}
	q, ok := h.queued[k]
	require.True(h.t, ok, "no attempt queued for %v; queued: %v", k, h.queuedKeys())
	delete(h.queued, k)
	if !q.NotBefore.IsZero() && q.NotBefore.After(h.st.Now) {
		h.st.Now = q.NotBefore
	}
	return h.do(AttemptDone{Task: task, Index: index, Attempt: q.Attempt, Output: output, Err: errMsg})
}

func (h *harness) ok(task string, output any) Decision { return h.finish(task, -1, output, "") }

func (h *harness) bad(task string, msg string) Decision { return h.finish(task, -1, nil, msg) }

func (h *harness) queuedKeys() []Key {
	var keys []Key
	for k := range h.queued {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

func (h *harness) status(task string) store.TaskStatus {
	return h.statusAt(task, -1)
}

func (h *harness) statusAt(task string, index int) store.TaskStatus {
	tr := h.st.Tasks[Key{task, index}]
	if tr == nil {
		return ""
	}
	return tr.Status
}

func (h *harness) requireQueued(keys ...string) {
	h.t.Helper()
	var want []Key
	for _, k := range keys {
		want = append(want, Key{k, -1})
	}
	sortKeys(want)
	got := h.queuedKeys()
	if len(want) == 0 {
		want = nil
	}
	require.Equal(h.t, want, got)
}

// wf builds a workflow from tasks.
func wf(tasks ...spec.Task) *spec.Workflow {
	return &spec.Workflow{Name: "test", Namespace: "default", Tasks: tasks}
}

func task(id string, needs ...string) spec.Task {
	return spec.Task{ID: id, Type: "noop", Needs: needs}
}
