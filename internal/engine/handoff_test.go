package engine_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

func TestHandOffGivesTheNextAttemptInTheCompletionsCommit(t *testing.T) {
	onBothStores(t, testHandOffGivesTheNextAttemptInTheCompletionsCommit)
}

func testHandOffGivesTheNextAttemptInTheCompletionsCommit(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0) // no worker: the test is the worker
	b.apply(t, "name: chain\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n  - {id: c, type: noop, needs: [b]}\n")
	run := b.start(t, "chain", nil)
	claim := &engine.ClaimParams{WorkerID: "w", Limit: 1}
	as, err := b.eng.ClaimAttempts(b.ctx, claim)
	require.NoError(t, err)
	require.Len(t, as, 1)
	a := as[0]
	signal := b.eng.WorkSignal()
	for _, want := range []string{"b", "c"} {
		before := b.txs.Load()
		next, err := b.eng.CompleteAndClaim(b.ctx, &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: a.Task}, claim)
		require.NoError(t, err)
		require.Equal(t, int64(1), b.txs.Load()-before, "one transaction for the completion and the claim")
		require.Len(t, next, 1)
		require.Equal(t, want, next[0].Task)
		require.Equal(t, store.AttemptRunning, next[0].Status)
		require.Equal(t, "w", next[0].WorkerID)
		require.NotEmpty(t, next[0].LeaseToken)
		a = next[0]
	}
	select {
	case <-signal:
		t.Fatal("work was signalled although every attempt queued went to the worker that completed")
	default:
	}
	next, err := b.eng.CompleteAndClaim(b.ctx, &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken}, claim)
	require.NoError(t, err)
	require.Empty(t, next, "nothing is left to hand")
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	for _, k := range []string{"a", "b", "c"} {
		require.Equal(t, store.TaskSucceeded, trs[k].Status)
		require.Equal(t, 1, trs[k].Attempts)
	}
}

func TestHandOffKeepsTheClaimOrder(t *testing.T) { onBothStores(t, testHandOffKeepsTheClaimOrder) }

// An attempt queued before the completion is handed before the one the
// completion queues, and a refused completion claims nothing.
func testHandOffKeepsTheClaimOrder(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0)
	b.apply(t, "name: two\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n")
	first := b.start(t, "two", nil)
	claim := &engine.ClaimParams{WorkerID: "w", Limit: 1}
	as, err := b.eng.ClaimAttempts(b.ctx, claim)
	require.NoError(t, err)
	require.Len(t, as, 1)
	second := b.start(t, "two", nil) // its a is queued now, before first's b

	_, err = b.eng.CompleteAndClaim(b.ctx, &engine.AttemptResult{ID: as[0].ID, Token: "not-the-token"}, claim)
	require.ErrorIs(t, err, store.ErrStaleLease)
	signal := b.eng.WorkSignal()
	next, err := b.eng.CompleteAndClaim(b.ctx, &engine.AttemptResult{ID: as[0].ID, Token: as[0].LeaseToken}, claim)
	require.NoError(t, err)
	require.Len(t, next, 1)
	require.Equal(t, second.ID, next[0].RunID, "the older queued attempt goes first")
	require.Equal(t, "a", next[0].Task)
	select {
	case <-signal:
	default:
		t.Fatal("first's b stays queued: work must be signalled")
	}
	rest, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "w", Limit: 10})
	require.NoError(t, err)
	require.Len(t, rest, 1)
	require.Equal(t, first.ID, rest[0].RunID)
	require.Equal(t, "b", rest[0].Task)
}

func TestHandOffSharesOneClaimAmongABatch(t *testing.T) {
	onBothStores(t, testHandOffSharesOneClaimAmongABatch)
}

// Completions committed together each get their own attempts: none is
// handed twice, and none is lost.
func testHandOffSharesOneClaimAmongABatch(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0)
	b.apply(t, "name: fan\ntasks:\n  - {id: each, type: noop, for_each: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}\n")
	run := b.start(t, "fan", nil)
	claim := &engine.ClaimParams{WorkerID: "w", Limit: 1}
	as, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "w", Limit: 8})
	require.NoError(t, err)
	require.Len(t, as, 8)
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Go(func() {
			// assert, not require: FailNow must not run off a test's
			// own goroutine (and would leave mu locked).
			for a != nil {
				mu.Lock()
				twice := seen[a.ID]
				seen[a.ID] = true
				mu.Unlock()
				if !assert.False(t, twice, "attempt %d handed twice", a.ID) {
					return
				}
				next, err := b.eng.CompleteAndClaim(b.ctx, &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: a.Index}, claim)
				if !assert.NoError(t, err) || !assert.LessOrEqual(t, len(next), 1) {
					return
				}
				a = nil
				if len(next) == 1 {
					a = next[0]
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 20)
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Len(t, trs["each"].Output, 20)
}
