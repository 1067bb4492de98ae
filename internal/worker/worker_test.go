package worker_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
	"github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/internal/worker"
)

// Task types of these tests: external names, so no workflow elsewhere
// claims them by accident.
var blockCalls atomic.Int64

func init() {
	tasks.Register(tasks.Type{Name: "test.panic", Executor: tasks.ExecutorFunc(func(context.Context, *tasks.Request) (any, error) {
		panic("boom")
	})})
	// test.block blocks its first attempt until its context ends; later
	// attempts succeed at once.
	tasks.Register(tasks.Type{Name: "test.block", Executor: tasks.ExecutorFunc(func(ctx context.Context, r *tasks.Request) (any, error) {
		blockCalls.Add(1)
		if r.Attempt == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return map[string]any{"attempt": r.Attempt}, nil
	})})
}

type bundle struct {
	st  store.Store
	eng *engine.Engine
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return &bundle{st: st, eng: engine.New(st, engine.Options{})}
}

// runWorker runs a worker until the returned stop is called; stop waits
// for Run to return.
func (b *bundle) runWorker(t *testing.T, id string) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	w := worker.New(b.eng, worker.Options{ID: id, Concurrency: 2, LeaseFor: 3 * time.Second, Poll: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(stop)
	return stop
}

func (b *bundle) start(t *testing.T, src string) string {
	t.Helper()
	w, err := spec.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	_, _, err = b.eng.Apply(t.Context(), w, src, "test")
	require.NoError(t, err)
	r, err := b.eng.StartRun(t.Context(), &engine.StartRunParams{Workflow: w.Name, Actor: "test"})
	require.NoError(t, err)
	return r.ID
}

// taskRun polls until cond holds for the run's only task run.
func (b *bundle) taskRun(t *testing.T, runID string, cond func(*store.TaskRun) bool) *store.TaskRun {
	t.Helper()
	var got *store.TaskRun
	require.Eventually(t, func() bool {
		require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
			trs, err := tx.TaskRunList(t.Context(), runID)
			if err == nil && len(trs) > 0 {
				got = trs[0]
			}
			return err
		}))
		return got != nil && cond(got)
	}, 10*time.Second, 5*time.Millisecond)
	return got
}

func TestPanicIsANonRetryableFailure(t *testing.T) {
	b := newBundle(t)
	b.runWorker(t, "w")
	run := b.start(t, "name: p\ntasks: [{id: a, type: test.panic, retry: {attempts: 3, initial: 10ms}}]\n")
	tr := b.taskRun(t, run, func(tr *store.TaskRun) bool { return tr.Status.Terminal() })
	require.Equal(t, store.TaskFailed, tr.Status)
	require.Equal(t, 1, tr.Attempts, "a panic is not retried")
	require.Contains(t, tr.Error, "task type test.panic panicked: boom")
}

func TestTaskLogsAreWritten(t *testing.T) {
	b := newBundle(t)
	b.runWorker(t, "w")
	run := b.start(t, "name: l\ntasks: [{id: a, type: shell, with: {run: 'echo out; echo err >&2'}}]\n")
	b.taskRun(t, run, func(tr *store.TaskRun) bool { return tr.Status == store.TaskSucceeded })
	var lines []*store.LogLine
	require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
		var err error
		lines, err = tx.LogList(t.Context(), &store.LogListParams{RunID: run, Index: -2})
		return err
	}))
	got := map[string]string{}
	for _, l := range lines {
		got[l.Stream] += l.Line
		require.Equal(t, 1, l.Attempt)
	}
	require.Equal(t, "out", got["stdout"])
	require.Equal(t, "err", got["stderr"])
}

// A worker that stops gives its attempt back at once: a new attempt is
// queued although the task has no retry policy, and another worker runs it.
func TestStopGivesAttemptsBack(t *testing.T) {
	calls := blockCalls.Load() // the counter outlives a test run (-count)
	b := newBundle(t)
	stop := b.runWorker(t, "first")
	run := b.start(t, "name: s\ntasks: [{id: a, type: test.block}]\n")
	b.taskRun(t, run, func(tr *store.TaskRun) bool { return tr.Status == store.TaskRunning })
	stop()

	tr := b.taskRun(t, run, func(tr *store.TaskRun) bool { return true })
	require.Equal(t, store.TaskQueued, tr.Status)
	require.Equal(t, 2, tr.Attempts)
	var first *store.Attempt
	require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
		var err error
		first, err = tx.AttemptGet(t.Context(), 1)
		return err
	}))
	require.Equal(t, store.AttemptFailed, first.Status)
	require.Contains(t, first.Error, "interrupted")

	b.runWorker(t, "second")
	tr = b.taskRun(t, run, func(tr *store.TaskRun) bool { return tr.Status.Terminal() })
	require.Equal(t, store.TaskSucceeded, tr.Status)
	require.Equal(t, map[string]any{"attempt": float64(2)}, tr.Output)
	require.Equal(t, calls+2, blockCalls.Load())
}

// The in-process worker takes a new run's first attempt in the start's own
// transaction (nobody is woken for it); once stopped it reserves nothing.
func TestLocalHandOff(t *testing.T) {
	b := newBundle(t)
	ctx, cancel := context.WithCancel(t.Context())
	w := worker.New(b.eng, worker.Options{ID: "local", Concurrency: 2, LeaseFor: 3 * time.Second, Poll: time.Hour})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool {
		p, n := w.Reserve(1)
		if n > 0 {
			w.Deliver(nil, n)
		}
		return p != nil && n == 1
	}, 5*time.Second, time.Millisecond, "the running worker has free slots")
	var woken atomic.Int64
	b.eng.OnEnqueue(func() { woken.Add(1) })

	run := b.start(t, "name: h\ntasks: [{id: a, type: noop}, {id: b, type: noop, needs: [a]}]\n")
	require.Eventually(t, func() bool {
		var r *store.Run
		require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
			var err error
			r, err = tx.RunGet(t.Context(), run)
			return err
		}))
		return r.Status == store.RunSucceeded
	}, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, woken.Load(), "the start handed a to the worker and its completion handed b: nobody was woken")

	cancel()
	require.NoError(t, <-done)
	p, n := w.Reserve(2)
	require.Nil(t, p)
	require.Zero(t, n, "a stopped worker reserves nothing")
}
