package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// failingLocal is a local worker with a fixed number of free slots whose
// next Reserve, once armed, cancels the context of the engine call under
// way: the claim made for the reservation then fails, and with it the
// transaction. It records every Deliver.
type failingLocal struct {
	mu     sync.Mutex
	free   int
	cancel context.CancelFunc
	// delivered holds one entry per Deliver: the attempts handed over and
	// the number of slots reserved.
	delivered []delivery
}

type delivery struct {
	attempts []*store.Attempt
	reserved int
}

func (f *failingLocal) Reserve(n int) (*engine.ClaimParams, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := min(n, f.free)
	if got == 0 {
		return nil, 0
	}
	f.free -= got
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
	return &engine.ClaimParams{WorkerID: "local"}, got
}

func (f *failingLocal) Deliver(as []*store.Attempt, reserved int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free += reserved - len(as) // the slots not used come back
	f.delivered = append(f.delivered, delivery{attempts: as, reserved: reserved})
}

func (f *failingLocal) state() (free int, delivered []delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.free, append([]delivery(nil), f.delivered...)
}

func TestLocalHandOffFailedTransaction(t *testing.T) {
	onBothStores(t, testLocalHandOffFailedTransaction)
}

// A transaction that fails after the local worker reserved slots for the
// attempts it queued hands nothing over: Deliver is called once, with no
// attempt and the slots reserved, and nothing the transaction did is
// committed. Here the transaction is an interrupted attempt's give-back,
// which queues a new attempt; the worker's Reserve cancels the call's
// context, so the claim made for it fails in the store.
func testLocalHandOffFailedTransaction(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0)
	b.apply(t, "name: one\ntasks: [{id: a, type: noop}]\n")
	run := b.start(t, "one", nil)
	held, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "other", Limit: 10})
	require.NoError(t, err)
	require.Len(t, held, 1)
	first := held[0]

	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	local := &failingLocal{free: 2, cancel: cancel}
	b.eng.SetLocalWorker(local)
	defer b.eng.UnsetLocalWorker(local)

	err = b.eng.InterruptAttempt(ctx, first.ID, first.LeaseToken, "test")
	require.ErrorIs(t, err, context.Canceled, "the claim for the reserved slot ran on a canceled context")
	free, delivered := local.state()
	require.Len(t, delivered, 1, "one reservation, one Deliver")
	require.Empty(t, delivered[0].attempts, "a transaction that failed hands nothing over")
	require.Equal(t, 1, delivered[0].reserved, "one attempt was queued: one slot reserved")
	require.Equal(t, 2, free, "the reserved slot came back")

	// Nothing was committed: the attempt is still held by its worker with
	// the same lease, and no new attempt was queued.
	var a *store.Attempt
	var trs []*store.TaskRun
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		if a, err = tx.AttemptGet(b.ctx, first.ID); err != nil {
			return err
		}
		trs, err = tx.TaskRunList(b.ctx, run.ID)
		return err
	}))
	require.Equal(t, store.AttemptRunning, a.Status)
	require.Equal(t, first.LeaseToken, a.LeaseToken)
	require.Equal(t, "other", a.WorkerID)
	require.Len(t, trs, 1)
	require.Equal(t, store.TaskRunning, trs[0].Status)
	require.Equal(t, 1, trs[0].Attempts)
	none, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "third", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none, "no attempt was queued")

	// The same give-back on a live context commits and hands the new
	// attempt to the reserved slot.
	require.NoError(t, b.eng.InterruptAttempt(b.ctx, first.ID, first.LeaseToken, "test"))
	free, delivered = local.state()
	require.Len(t, delivered, 2)
	require.Len(t, delivered[1].attempts, 1)
	require.Equal(t, 1, delivered[1].reserved)
	second := delivered[1].attempts[0]
	require.Equal(t, run.ID, second.RunID)
	require.Equal(t, 2, second.Number)
	require.Equal(t, store.AttemptRunning, second.Status)
	require.Equal(t, "local", second.WorkerID)
	require.Equal(t, 1, free, "the slot holds the attempt handed over")
}
