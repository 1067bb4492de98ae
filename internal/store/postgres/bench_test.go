package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
)

// The benchmarks measure what the SQLite driver's do, the same way, so the
// two stores compare. Against the throwaway cluster (fsync off) a commit
// is not durable: set LEGATO_TEST_POSTGRES_DSN to measure a real server.

// BenchmarkTx is the floor: one small commit, durable (synchronous_commit
// on) or not (off, SQLite's NORMAL).
func BenchmarkTx(b *testing.B) {
	for _, mode := range []string{"on", "off"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b, postgres.SynchronousCommit(mode))
			ctx := b.Context()
			for i := 0; b.Loop(); i++ {
				require.NoError(b, s.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k", strconv.Itoa(i)) }))
			}
		})
	}
}

// BenchmarkStep is one step of a run: claim an attempt (one transaction),
// then finish it, upsert its task run and queue the next attempt (another).
func BenchmarkStep(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	now := time.Now()
	attempt := func(step int) *store.Attempt {
		return &store.Attempt{
			RunID: "r", Task: "t" + strconv.Itoa(step), Index: -1, Number: 1, Queue: "q", Type: "shell",
			Params: map[string]any{"run": "echo hi"}, CreatedAt: now,
		}
	}
	require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
		err := tx.RunInsert(ctx, &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunRunning, CreatedAt: now})
		if err != nil {
			return err
		}
		return tx.AttemptInsert(ctx, attempt(0))
	}))
	claim := &store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: 1, Now: now, LeaseFor: time.Minute}
	for step := 1; b.Loop(); step++ {
		var leased []*store.Attempt
		require.NoError(b, s.Tx(ctx, func(tx store.Tx) (err error) {
			leased, err = tx.AttemptClaim(ctx, claim)
			return err
		}))
		require.Len(b, leased, 1)
		done := leased[0]
		require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AttemptFinish(ctx, &store.AttemptFinishParams{
				ID: done.ID, Token: done.LeaseToken, Status: store.AttemptSucceeded, Now: now,
			})
			if err != nil {
				return err
			}
			next := attempt(step)
			err = tx.TaskRunUpsert(ctx, []*store.TaskRun{
				{RunID: "r", Task: done.Task, Index: -1, Status: store.TaskSucceeded, Output: map[string]any{"stdout": "hi"}},
				{RunID: "r", Task: next.Task, Index: -1, Status: store.TaskQueued},
			})
			if err != nil {
				return err
			}
			return tx.AttemptInsert(ctx, next)
		}))
	}
}

// BenchmarkClaimParallel is workers claiming from one deep queue at once,
// ten attempts per claim: what SKIP LOCKED buys. Its ns/op is per claim.
func BenchmarkClaimParallel(b *testing.B) {
	s := open(b, postgres.MaxConns(16))
	insertRuns(b, s, "r")
	enqueue(b, s, "q", 10*b.N)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := claimIn(b.Context(), s, "w", 10)
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClaimFinishParallel is workers claiming ten attempts and
// finishing them, in two transactions, from one deep queue at once; its
// ns/op is per claim and finish. Under "limited" the queue has a limit
// that never binds: the cost of locking the limit row and counting the
// running attempts in every claim (claims of the queue then take turns).
func BenchmarkClaimFinishParallel(b *testing.B) {
	for _, limited := range []bool{false, true} {
		b.Run(map[bool]string{false: "free", true: "limited"}[limited], func(b *testing.B) {
			s := open(b, postgres.MaxConns(16))
			insertRuns(b, s, "r")
			enqueue(b, s, "q", 10*b.N)
			if limited {
				require.NoError(b, s.Tx(b.Context(), func(tx store.Tx) error {
					return tx.LimitPut(b.Context(), &store.Limit{Kind: store.LimitQueue, Name: "q", MaxRunning: 1 << 30})
				}))
			}
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					got, err := claimIn(b.Context(), s, "w", 10)
					if err == nil {
						err = finishAll(b.Context(), s, got)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func finishAll(ctx context.Context, s store.Store, as []*store.Attempt) error {
	return s.Tx(ctx, func(tx store.Tx) error {
		for _, a := range as {
			_, err := tx.AttemptFinish(ctx, &store.AttemptFinishParams{ID: a.ID, Token: a.LeaseToken, Status: store.AttemptSucceeded, Now: time.Now()})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
