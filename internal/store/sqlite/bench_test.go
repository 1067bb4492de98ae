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

// BenchmarkClaim is one claim transaction (synchronous=NORMAL, so the
// statements rather than the fsync dominate) on a queue of claimN due
// attempts of four types and three priorities, by a worker that names the
// four types, claiming 1 or 8 attempts; "limited" has a queue limit that never
// blocks, so the budget's reads and the blocked lists are paid. Outside
// the timer, the claimed attempts are finished every 64 or so (a few run
// at once, as with real workers) and the queue is topped up.
func BenchmarkClaim(b *testing.B) {
	const claimN = 10000
	types := []string{"shell", "http", "noop", "docker"}
	for _, limited := range []bool{false, true} {
		for _, limit := range []int{1, 8} {
			name := "unlimited"
			if limited {
				name = "limited"
			}
			b.Run(name+"/limit="+strconv.Itoa(limit), func(b *testing.B) {
				s := benchStore(b, sqlite.Synchronous("NORMAL"))
				ctx := b.Context()
				now := time.Now()
				run := &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunRunning, CreatedAt: now}
				queued, seq := 0, 0
				fill := func() {
					require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
						for ; queued < claimN; queued++ {
							seq++
							typ := types[seq%len(types)]
							task := "t" + strconv.Itoa(seq)
							if err := tx.TaskRunUpsert(ctx, []*store.TaskRun{{RunID: "r", Task: task, Index: -1, Status: store.TaskQueued}}); err != nil {
								return err
							}
							if err := tx.AttemptInsert(ctx, &store.Attempt{RunID: "r", Task: task, Index: -1, Number: 1,
								Queue: "q", Type: typ, Priority: seq % 3,
								Params: map[string]any{"i": seq}, CreatedAt: now.Add(-time.Hour)}); err != nil {
								return err
							}
						}
						return nil
					}))
				}
				require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
					if err := tx.RunInsert(ctx, run); err != nil {
						return err
					}
					if limited {
						return tx.LimitPut(ctx, &store.Limit{Kind: store.LimitQueue, Name: "q", MaxRunning: 1 << 30})
					}
					return nil
				}))
				fill()
				var running []*store.Attempt
				finish := func() {
					require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
						for _, a := range running {
							if _, err := tx.AttemptFinish(ctx, &store.AttemptFinishParams{
								ID: a.ID, Token: a.LeaseToken, Status: store.AttemptSucceeded, Now: now,
							}); err != nil {
								return err
							}
						}
						return nil
					}))
					running = running[:0]
				}
				p := &store.AttemptClaimParams{Queues: []string{"q"}, Types: types,
					WorkerID: "w", Limit: limit, Now: now, LeaseFor: time.Hour}
				for b.Loop() {
					if len(running) >= 64 {
						b.StopTimer()
						finish()
						if queued < claimN/2 {
							fill()
						}
						b.StartTimer()
					}
					var claimed []*store.Attempt
					require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
						var err error
						claimed, err = tx.AttemptClaim(ctx, p)
						return err
					}))
					if len(claimed) != limit {
						b.Fatalf("claimed %d, want %d", len(claimed), limit)
					}
					queued -= limit
					running = append(running, claimed...)
				}
			})
		}
	}
}

// BenchmarkNextDue is an idle worker's look at when to claim again: a
// read-only transaction over a queue whose attempts are all due later.
func BenchmarkNextDue(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	now := time.Now()
	require.NoError(b, s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunRunning, CreatedAt: now}); err != nil {
			return err
		}
		for i := range 100 {
			if err := tx.AttemptInsert(ctx, &store.Attempt{RunID: "r", Task: "t" + strconv.Itoa(i), Index: -1, Number: 1,
				Queue: "q", Type: "shell", CreatedAt: now, NotBefore: now.Add(time.Hour + time.Duration(i)*time.Second)}); err != nil {
				return err
			}
		}
		return nil
	}))
	for b.Loop() {
		require.NoError(b, s.View(ctx, func(tx store.Tx) error {
			_, err := tx.AttemptNextDue(ctx, []string{"q"}, []string{"shell", "noop"})
			return err
		}))
	}
}
