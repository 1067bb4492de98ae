package worker_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/internal/worker"
)

// countCalls counts the runs of test.count tasks.
var countCalls atomic.Int64

func init() {
	tasks.Register(tasks.Type{Name: "test.count", Executor: tasks.ExecutorFunc(func(context.Context, *tasks.Request) (any, error) {
		countCalls.Add(1)
		return map[string]any{}, nil
	})})
}

// stopBetween stands in for a worker as the engine's local worker: its
// first reservation takes the worker's slots, then stops the worker; the
// Deliver that follows waits until the worker's Run returned before it
// hands the worker what the transaction claimed. The worker thus stops
// between Reserve and Deliver. Deliver runs after the transaction, outside
// it, so Run may finish a claim of its own while it stops.
type stopBetween struct {
	w    *worker.Worker
	stop context.CancelFunc
	done <-chan error

	mu       sync.Mutex
	stopping bool // the first reservation stopped the worker
	handed   bool // its Deliver came
	// What the first Deliver handed over, and what Run returned.
	delivered []*store.Attempt
	reserved  int
	runErr    error
}

func (s *stopBetween) Reserve(n int) (*engine.ClaimParams, int) {
	p, slots := s.w.Reserve(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if slots > 0 && !s.stopping {
		s.stopping = true
		s.stop()
	}
	return p, slots
}

func (s *stopBetween) Deliver(as []*store.Attempt, reserved int) {
	s.mu.Lock()
	first := s.stopping && !s.handed
	s.handed = s.stopping
	s.mu.Unlock()
	if first {
		err := <-s.done
		s.mu.Lock()
		s.delivered, s.reserved, s.runErr = as, reserved, err
		s.mu.Unlock()
	}
	s.w.Deliver(as, reserved)
}

// Attempts handed to a worker that stopped between its Reserve and their
// Deliver are given back: each is ended as interrupted and a new attempt
// is queued, no task runs on the stopped worker, and another worker runs
// them.
func TestDeliverToStoppedWorkerGivesAttemptsBack(t *testing.T) {
	calls := countCalls.Load() // the counter outlives a test run (-count)
	b := newBundle(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := worker.New(b.eng, worker.Options{ID: "local", Concurrency: 2, LeaseFor: 3 * time.Second, Poll: time.Hour})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	// A first run proves Run registered the worker with the engine (a
	// task runs only after that), so the stand-in registered next stays.
	warm := b.start(t, "name: warm\ntasks: [{id: a, type: noop}]\n")
	b.taskRun(t, warm, func(tr *store.TaskRun) bool { return tr.Status == store.TaskSucceeded })
	s := &stopBetween{w: w, stop: cancel, done: done}
	b.eng.SetLocalWorker(s)
	defer b.eng.UnsetLocalWorker(s)

	run := b.start(t, "name: two\ntasks: [{id: a, type: test.count}, {id: b, type: test.count}]\n")
	s.mu.Lock()
	as, reserved, runErr := s.delivered, s.reserved, s.runErr
	s.mu.Unlock()
	require.NoError(t, runErr)
	require.Equal(t, 2, reserved, "two attempts queued, two free slots")
	require.Len(t, as, 2, "the start claimed both attempts for the reserved slots")

	// Deliver returned before the start did: the attempts were given back
	// already.
	var trs []*store.TaskRun
	firsts := map[int64]*store.Attempt{}
	require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
		var err error
		if trs, err = tx.TaskRunList(t.Context(), run); err != nil {
			return err
		}
		for _, a := range as {
			if firsts[a.ID], err = tx.AttemptGet(t.Context(), a.ID); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, a := range firsts {
		require.Equal(t, store.AttemptFailed, a.Status)
		require.Contains(t, a.Error, "interrupted")
	}
	require.Len(t, trs, 2)
	for _, tr := range trs {
		require.Equal(t, store.TaskQueued, tr.Status, tr.Task)
		require.Equal(t, 2, tr.Attempts, "a new attempt of %s was queued", tr.Task)
	}
	require.Equal(t, calls, countCalls.Load(), "no task ran on the stopped worker")

	// Another worker runs them.
	b.runWorker(t, "second")
	for _, task := range []string{"a", "b"} {
		require.Eventually(t, func() bool {
			var tr *store.TaskRun
			// assert, not require: Eventually runs this off the test's
			// goroutine.
			assert.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
				trs, err := tx.TaskRunList(t.Context(), run)
				for _, x := range trs {
					if x.Task == task {
						tr = x
					}
				}
				return err
			}))
			return tr != nil && tr.Status == store.TaskSucceeded
		}, 10*time.Second, 5*time.Millisecond, task)
	}
	require.Equal(t, calls+2, countCalls.Load())
}
