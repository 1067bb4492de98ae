package sqlite_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

func benchStore(b *testing.B, opts ...sqlite.Option) *sqlite.Store {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), opts...)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	return s
}

// BenchmarkTx is the floor: one small durable commit.
func BenchmarkTx(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run(mode, func(b *testing.B) {
			s := benchStore(b, sqlite.Synchronous(mode))
			ctx := b.Context()
			i := 0
			for b.Loop() {
				i++
				require.NoError(b, s.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k", strconv.Itoa(i)) }))
			}
		})
	}
}

// BenchmarkStep is one step of a run: claim an attempt (one transaction),
// then finish it, upsert its task run and queue the next attempt (another).
func BenchmarkStep(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	now := time.Now()
	run := &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunRunning, CreatedAt: now}
	next := func(i int) *store.Attempt {
		return &store.Attempt{RunID: "r", Task: "t" + strconv.Itoa(i), Index: -1, Number: 1, Queue: "q",
			Type: "shell", Params: map[string]any{"run": "echo hi"}, CreatedAt: now}
	}
	require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, run); err != nil {
			return err
		}
		return tx.AttemptInsert(ctx, next(0))
	}))
	i := 0
	for b.Loop() {
		var claimed []*store.Attempt
		require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
			var err error
			claimed, err = tx.AttemptClaim(ctx, &store.AttemptClaimParams{
				Queues: []string{"q"}, WorkerID: "w", Limit: 1, Now: now, LeaseFor: time.Minute,
			})
			return err
		}))
		require.Len(b, claimed, 1)
		a := claimed[0]
		i++
		require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.AttemptFinish(ctx, &store.AttemptFinishParams{
				ID: a.ID, Token: a.LeaseToken, Status: store.AttemptSucceeded, Now: now,
			}); err != nil {
				return err
			}
			err := tx.TaskRunUpsert(ctx, []*store.TaskRun{
				{RunID: "r", Task: a.Task, Index: -1, Status: store.TaskSucceeded, Output: map[string]any{"stdout": "hi"}},
				{RunID: "r", Task: "t" + strconv.Itoa(i), Index: -1, Status: store.TaskQueued},
			})
			if err != nil {
				return err
			}
			return tx.AttemptInsert(ctx, next(i))
		}))
	}
}
