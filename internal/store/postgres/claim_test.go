package postgres_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

// enqueue commits n queued attempts of run r on queue q, with their task
// runs, in one transaction.
func enqueue(t testing.TB, s store.Store, q string, n int) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		for i := range n {
			task := fmt.Sprint("t", i)
			err := tx.TaskRunUpsert(ctx, []*store.TaskRun{{RunID: "r", Task: task, Index: -1, Status: store.TaskQueued}})
			if err != nil {
				return err
			}
			if err := tx.AttemptInsert(ctx, &store.Attempt{RunID: "r", Task: task, Index: -1, Number: 1, Queue: q, Type: "shell"}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func claimIn(ctx context.Context, s store.Store, worker string, limit int) ([]*store.Attempt, error) {
	var got []*store.Attempt
	err := s.Tx(ctx, func(tx store.Tx) error {
		var err error
		got, err = tx.AttemptClaim(ctx, &store.AttemptClaimParams{
			Queues: []string{"q"}, WorkerID: worker, Limit: limit, Now: time.Now(), LeaseFor: time.Minute,
		})
		return err
	})
	return got, err
}

// TestClaimAcrossServers has several servers (stores with pools of their
// own on one schema), each with several workers, drain one queue at once:
// every attempt is claimed exactly once, and its task run marked running.
func TestClaimAcrossServers(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t, pgtest.DSN(t))
	const servers, workers, attempts = 3, 4, 300
	stores := make([]*postgres.Store, servers)
	for i := range stores {
		stores[i] = openSchema(t, schema, postgres.MaxConns(workers))
	}
	insertRuns(t, stores[0], "r")
	enqueue(t, stores[0], "q", attempts)

	var mu sync.Mutex
	owner := map[int64]string{}
	err := concurrently(servers*workers, func(i int) error {
		s, worker := stores[i%servers], fmt.Sprint("server", i%servers, "/worker", i/servers)
		for {
			got, err := claimIn(t.Context(), s, worker, 7)
			if err != nil || len(got) == 0 {
				return err
			}
			mu.Lock()
			for _, a := range got {
				if prev, dup := owner[a.ID]; dup {
					mu.Unlock()
					return fmt.Errorf("attempt %d claimed by %s and %s", a.ID, prev, worker)
				}
				owner[a.ID] = worker
			}
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	require.Len(t, owner, attempts, "every attempt claimed")
	workersSeen := map[string]bool{}
	for _, w := range owner {
		workersSeen[w] = true
	}
	t.Logf("%d attempts claimed by %d workers", attempts, len(workersSeen))

	ctx := t.Context()
	require.NoError(t, stores[1].View(ctx, func(tx store.Tx) error {
		trs, err := tx.TaskRunList(ctx, "r")
		require.NoError(t, err)
		require.Len(t, trs, attempts)
		for _, tr := range trs {
			require.Equal(t, store.TaskRunning, tr.Status, tr.Task)
		}
		next, err := tx.AttemptNextDue(ctx, []string{"q"}, nil)
		require.NoError(t, err)
		require.Zero(t, next, "nothing left queued")
		return nil
	}))
}

// TestClaimSkipsLocked holds a claim's transaction open: another claim on
// the same queue neither waits for it nor takes its attempts.
func TestClaimSkipsLocked(t *testing.T) {
	t.Parallel()
	s := open(t)
	insertRuns(t, s, "r")
	enqueue(t, s, "q", 10)

	held := make(chan []*store.Attempt)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(t.Context(), func(tx store.Tx) error {
			got, err := tx.AttemptClaim(t.Context(), &store.AttemptClaimParams{
				Queues: []string{"q"}, WorkerID: "slow", Limit: 5, Now: time.Now(), LeaseFor: time.Minute,
			})
			if err != nil {
				return err
			}
			held <- got
			<-release
			return nil
		})
	}()
	first := <-held
	require.Len(t, first, 5)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	second, err := claimIn(ctx, s, "fast", 10)
	require.NoError(t, err, "the second claim must not wait for the first")
	require.Less(t, time.Since(start), 2*time.Second)
	require.Len(t, second, 5, "the attempts the open claim holds are skipped")
	ids := map[int64]bool{}
	for _, a := range append(first, second...) {
		require.False(t, ids[a.ID], "attempt %d claimed twice", a.ID)
		ids[a.ID] = true
	}
	close(release)
	require.NoError(t, <-done)
	again, err := claimIn(t.Context(), s, "late", 10)
	require.NoError(t, err)
	require.Empty(t, again)
}

// TestFinishAllLocksInIDOrder has a heartbeat of two attempts (in id
// order, as Engine.Heartbeat sends them) and a batch finishing both (given
// in the other order) meet: the finish waits for the heartbeat instead of
// locking the second attempt first, so neither is a deadlock's victim
// (the detector takes a second, then one of the two runs again).
func TestFinishAllLocksInIDOrder(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r")
	enqueue(t, s, "q", 2)
	got, err := claimIn(ctx, s, "w", 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	slices.SortFunc(got, func(x, y *store.Attempt) int { return cmp.Compare(x.ID, y.ID) })
	first, second := got[0], got[1]

	var beats, finishes atomic.Int32
	holds := make(chan struct{})
	var once sync.Once
	require.NoError(t, concurrently(2, func(i int) error {
		if i == 0 {
			return s.Tx(ctx, func(tx store.Tx) error {
				beats.Add(1)
				if _, err := tx.AttemptHeartbeat(ctx, first.ID, first.LeaseToken, time.Now().Add(time.Hour)); err != nil {
					return err
				}
				once.Do(func() { close(holds) })
				time.Sleep(200 * time.Millisecond) // the finish starts, and waits
				_, err := tx.AttemptHeartbeat(ctx, second.ID, second.LeaseToken, time.Now().Add(time.Hour))
				return err
			})
		}
		<-holds
		return s.Tx(ctx, func(tx store.Tx) error {
			finishes.Add(1)
			_, err := tx.AttemptFinishAll(ctx, []*store.AttemptFinishParams{
				{ID: second.ID, Token: second.LeaseToken, Status: store.AttemptSucceeded, Now: time.Now()},
				{ID: first.ID, Token: first.LeaseToken, Status: store.AttemptSucceeded, Now: time.Now()},
			})
			return err
		})
	}))
	require.EqualValues(t, 1, beats.Load(), "the heartbeat ran once")
	require.EqualValues(t, 1, finishes.Load(), "the finish ran once")
}
