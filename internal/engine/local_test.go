package engine_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// fakeLocal is a local worker with a fixed number of free slots that
// records what it is handed.
type fakeLocal struct {
	mu        sync.Mutex
	free      int
	reserved  int
	delivered []*store.Attempt
	calls     int
}

func (f *fakeLocal) Reserve(n int) (*engine.ClaimParams, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := min(n, f.free)
	f.free -= got
	f.reserved += got
	if got == 0 {
		return nil, 0
	}
	return &engine.ClaimParams{WorkerID: "local"}, got
}

func (f *fakeLocal) Deliver(as []*store.Attempt, reserved int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.delivered = append(f.delivered, as...)
	f.free += reserved - len(as) // the slots not used come back
	f.reserved -= reserved
}

func TestLocalHandOff(t *testing.T) { onBothStores(t, testLocalHandOff) }

// A start that queues attempts hands them to the local worker's free
// slots in its own transaction; what does not fit stays queued and is
// signalled; a start that fails hands nothing and gives the slots back.
func testLocalHandOff(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0)
	b.apply(t, "name: fan\ninputs: {n: {type: integer}}\ntasks:\n  - {id: each, type: noop, for_each: [1, 2, 3, 4, 5]}\n")
	local := &fakeLocal{free: 3}
	b.eng.SetLocalWorker(local)
	signal := b.eng.WorkSignal()

	// Deliver runs after the commit of the transaction that claimed, before
	// the start returns.
	run := b.start(t, "fan", nil)
	local.mu.Lock()
	require.Len(t, local.delivered, 3, "three free slots, three attempts")
	for _, a := range local.delivered {
		require.Equal(t, run.ID, a.RunID)
		require.Equal(t, store.AttemptRunning, a.Status)
		require.Equal(t, "local", a.WorkerID)
	}
	require.Zero(t, local.reserved)
	local.mu.Unlock()
	select {
	case <-signal:
	default:
		t.Fatal("two attempts stay queued: work must be signalled")
	}
	rest, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "other", Limit: 10})
	require.NoError(t, err)
	require.Len(t, rest, 2)

	// Bad inputs: the start fails, its reservation comes back.
	local.mu.Lock()
	local.free = 3
	calls := local.calls
	local.mu.Unlock()
	_, err = b.eng.StartRun(b.ctx, &engine.StartRunParams{Workflow: "fan", Inputs: map[string]any{"n": "not a number"}})
	require.Error(t, err)
	local.mu.Lock()
	require.Equal(t, 3, local.free)
	require.Zero(t, local.reserved)
	require.Equal(t, calls, local.calls, "nothing was reserved: the start failed before its end")
	local.mu.Unlock()

	b.eng.UnsetLocalWorker(local)
	second := b.start(t, "fan", nil)
	local.mu.Lock()
	require.Len(t, local.delivered, 3, "an unset local worker is handed nothing")
	local.mu.Unlock()
	queued, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "other", Limit: 10})
	require.NoError(t, err)
	require.Len(t, queued, 5)
	require.Equal(t, second.ID, queued[0].RunID)
}
