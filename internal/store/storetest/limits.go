package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// testPriority: queued runs and attempts leave highest priority first.
func testPriority(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RunsByKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		write(t, s, func(tx store.Tx) {
			for i, r := range []struct {
				id, key string
				prio    int
				status  store.RunStatus
			}{
				{"r1", "a", 0, store.RunRunning}, {"r2", "a", 0, store.RunQueued}, {"r3", "a", 5, store.RunQueued},
				{"r4", "b", 9, store.RunQueued}, {"r5", "b", 0, store.RunWaiting}, {"r6", "", 1, store.RunQueued},
			} {
				run := newRun(r.id, "ns", "wf", at(time.Duration(i)*time.Second))
				run.ConcurrencyKey, run.Priority, run.Status = r.key, r.prio, r.status
				require.NoError(t, tx.RunInsert(ctx, run))
			}
			n, err := tx.RunCountActiveKey(ctx, "ns", "wf", "a")
			require.NoError(t, err)
			require.Equal(t, 1, n)
			n, err = tx.RunCountActiveKey(ctx, "ns", "wf", "")
			require.NoError(t, err)
			require.Equal(t, 0, n)
			next, err := tx.RunNextQueuedKey(ctx, "ns", "wf", "a")
			require.NoError(t, err)
			require.Equal(t, "r3", next.ID)
			require.Equal(t, 5, next.Priority)
			require.Equal(t, "a", next.ConcurrencyKey)
			_, err = tx.RunNextQueuedKey(ctx, "ns", "wf", "c")
			require.ErrorIs(t, err, store.ErrNotFound)
			next, err = tx.RunNextQueued(ctx, "ns", "wf")
			require.NoError(t, err)
			require.Equal(t, "r4", next.ID)
		})
	})

	t.Run("AttemptsClaimedByPriority", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		insertRuns(t, s, "r1")
		var as []*store.Attempt
		for i, prio := range []int{0, 3, 0, 7, 3} {
			a := newAttempt("r1", fmt.Sprint("t", i), -1, "q", at(time.Duration(i)*time.Second))
			a.Priority, a.Resource = prio, "crm"
			as = append(as, a)
		}
		insertAttempts(t, s, as...)
		got := claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: 3, Now: at(time.Minute), LeaseFor: time.Minute})
		require.Equal(t, []int64{as[3].ID, as[1].ID, as[4].ID}, attemptIDs(got))
		require.Equal(t, 7, got[0].Priority)
		require.Equal(t, "crm", got[0].Resource)
		got = claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: 3, Now: at(time.Minute), LeaseFor: time.Minute})
		require.Equal(t, []int64{as[0].ID, as[2].ID}, attemptIDs(got))
	})
}

// limitTest is a store with a run and a claim helper at a chosen time.
type limitTest struct {
	t   *testing.T
	s   store.Store
	run string
	n   int
}

func newLimitTest(t *testing.T, open func(t *testing.T) store.Store, limits ...*store.Limit) *limitTest {
	s := open(t)
	insertRuns(t, s, "r1")
	write(t, s, func(tx store.Tx) {
		for _, l := range limits {
			require.NoError(t, tx.LimitPut(t.Context(), l))
		}
	})
	return &limitTest{t: t, s: s, run: "r1"}
}

// add queues n attempts of queue, type and resource, due now.
func (lt *limitTest) add(n int, queue, typ, resource string) []*store.Attempt {
	var as []*store.Attempt
	for range n {
		a := newAttempt(lt.run, fmt.Sprint("t", lt.n), -1, queue, time.Now().Add(-time.Hour))
		a.Type, a.Resource = typ, resource
		lt.n++
		as = append(as, a)
	}
	insertAttempts(lt.t, lt.s, as...)
	return as
}

func (lt *limitTest) claim(limit int, now time.Time, queues ...string) []*store.Attempt {
	return claim(lt.t, lt.s, store.AttemptClaimParams{Queues: queues, WorkerID: "w", Limit: limit, Now: now, LeaseFor: time.Hour})
}

func testLimits(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("PutListDelete", func(t *testing.T) {
		t.Parallel()
		lt := newLimitTest(t, open,
			&store.Limit{Kind: store.LimitQueue, Name: "billing", MaxRunning: 5},
			&store.Limit{Kind: store.LimitResource, Name: "crm", Rate: 10, Burst: 20})
		ctx := t.Context()
		var got []*store.Limit
		write(t, lt.s, func(tx store.Tx) {
			var err error
			got, err = tx.LimitList(ctx)
			require.NoError(t, err)
		})
		require.Len(t, got, 2)
		require.Equal(t, store.LimitQueue, got[0].Kind)
		require.Equal(t, 5, got[0].MaxRunning)
		require.Equal(t, "crm", got[1].Name)
		require.InDelta(t, 20, got[1].Tokens, 0.001)
		write(t, lt.s, func(tx store.Tx) {
			require.NoError(t, tx.LimitDelete(ctx, store.LimitQueue, "billing"))
			require.NoError(t, tx.LimitDelete(ctx, store.LimitQueue, "absent"))
			got, _ = tx.LimitList(ctx)
		})
		require.Len(t, got, 1)
	})

	t.Run("MaxRunning", func(t *testing.T) {
		t.Parallel()
		lt := newLimitTest(t, open,
			&store.Limit{Kind: store.LimitQueue, Name: "billing", MaxRunning: 2},
			&store.Limit{Kind: store.LimitType, Name: "http", MaxRunning: 3})
		lt.add(4, "billing", "shell", "")
		lt.add(5, "other", "http", "")
		free := lt.add(2, "other", "shell", "")
		now := time.Now()
		got := lt.claim(100, now, "billing", "other")
		require.Len(t, got, 7, "2 of billing, 3 http, 2 free")
		require.Empty(t, lt.claim(100, now, "billing", "other"))
		// Attempts held back by a full limit are reported due a recheck
		// later, not now: a finish elsewhere may free them.
		view(t, lt.s, func(tx store.Tx) {
			next, err := tx.AttemptNextDue(t.Context(), []string{"billing", "other"}, nil)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(store.LimitRecheck), next, 500*time.Millisecond)
		})
		for _, a := range got {
			if a.Queue == "billing" {
				_, err := finish(lt.s, t, a.ID, a.LeaseToken, store.AttemptSucceeded)
				require.NoError(t, err)
				break
			}
		}
		again := lt.claim(100, now, "billing", "other")
		require.Len(t, again, 1)
		require.Equal(t, "billing", again[0].Queue)
		require.NotContains(t, attemptIDs(again), free[0].ID)
	})

	t.Run("TokenBucket", func(t *testing.T) {
		t.Parallel()
		lt := newLimitTest(t, open, &store.Limit{Kind: store.LimitResource, Name: "crm", Rate: 2, Burst: 3})
		lt.add(10, "q", "http", "crm")
		lt.add(1, "q", "http", "")
		now := time.Now()
		got := lt.claim(100, now, "q")
		require.Len(t, got, 4, "the burst of 3 and the attempt without a resource")
		require.Empty(t, lt.claim(100, now, "q"))
		var next time.Time
		view(t, lt.s, func(tx store.Tx) {
			var err error
			next, err = tx.AttemptNextDue(t.Context(), []string{"q"}, nil)
			require.NoError(t, err)
		})
		require.False(t, next.IsZero())
		require.WithinDuration(t, now.Add(500*time.Millisecond), next, 100*time.Millisecond, "a token comes back after 1/rate")
		require.Len(t, lt.claim(100, now.Add(600*time.Millisecond), "q"), 1)
		require.Len(t, lt.claim(100, now.Add(2100*time.Millisecond), "q"), 3, "refilled to the burst, not beyond")
	})

	t.Run("HeldUnderConcurrentClaims", func(t *testing.T) {
		t.Parallel()
		testLimitsUnderLoad(t, open)
	})
}

// testLimitsUnderLoad has several claimers take and finish attempts at
// once and checks, in each claim's transaction, how many attempts of the
// limited queue and resource run: never more than their limits. It counts
// the running attempts with AttemptListExpired (every running attempt's
// lease ends before the far future); while a claim holds the limits,
// another claim cannot commit, so what it sees bounds what runs.
func testLimitsUnderLoad(t *testing.T, open func(t *testing.T) store.Store) {
	const queueLimit, resLimit, total = 3, 2, 60
	lt := newLimitTest(t, open,
		&store.Limit{Kind: store.LimitQueue, Name: "billing", MaxRunning: queueLimit},
		&store.Limit{Kind: store.LimitResource, Name: "crm", MaxRunning: resLimit, Rate: 200, Burst: 5})
	lt.add(total/2, "billing", "shell", "")
	lt.add(total/2, "other", "http", "crm")
	ctx := t.Context()
	far := time.Now().Add(24 * time.Hour)

	var mu sync.Mutex
	maxQueue, maxRes, done := 0, 0, 0
	var starts []time.Time
	worker := func(id int) error {
		for {
			var got []*store.Attempt
			err := lt.s.Tx(ctx, func(tx store.Tx) error {
				var err error
				got, err = tx.AttemptClaim(ctx, &store.AttemptClaimParams{
					Queues: []string{"billing", "other"}, WorkerID: fmt.Sprint("w", id), Limit: 2, Now: time.Now(), LeaseFor: time.Hour,
				})
				if err != nil || len(got) == 0 {
					return err
				}
				running, err := tx.AttemptListExpired(ctx, far, 0)
				if err != nil {
					return err
				}
				q, r := 0, 0
				for _, a := range running {
					if a.Queue == "billing" {
						q++
					}
					if a.Resource == "crm" {
						r++
					}
				}
				mu.Lock()
				maxQueue, maxRes = max(maxQueue, q), max(maxRes, r)
				mu.Unlock()
				return nil
			})
			if err != nil {
				return err
			}
			mu.Lock()
			for _, a := range got {
				if a.Resource == "crm" {
					starts = append(starts, a.StartedAt)
				}
			}
			finished := done
			mu.Unlock()
			if len(got) == 0 {
				if finished >= total {
					return nil
				}
				time.Sleep(2 * time.Millisecond)
				continue
			}
			time.Sleep(3 * time.Millisecond) // the work
			for _, a := range got {
				err := lt.s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.AttemptFinish(ctx, &store.AttemptFinishParams{ID: a.ID, Token: a.LeaseToken, Status: store.AttemptSucceeded, Now: time.Now()})
					return err
				})
				if err != nil {
					return err
				}
			}
			mu.Lock()
			done += len(got)
			mu.Unlock()
		}
	}
	ctx2, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	errs := make(chan error, 6)
	for i := range 6 {
		go func() { errs <- worker(i) }()
	}
	for range 6 {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-ctx2.Done():
			t.Fatal("claimers did not finish within a minute")
		}
	}
	require.Equal(t, total, done)
	require.LessOrEqual(t, maxQueue, queueLimit)
	require.LessOrEqual(t, maxRes, resLimit)
	require.Positive(t, maxQueue)
	CheckRate(t, starts, 200, 5)
}

// CheckRate asserts that in every window between two starts no more than
// rate×window + burst attempts started (one more for the clock's grain).
func CheckRate(t *testing.T, starts []time.Time, rate, burst float64) {
	t.Helper()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	for i := range starts {
		for j := i; j < len(starts); j++ {
			w := starts[j].Sub(starts[i]).Seconds()
			n := float64(j - i + 1)
			require.LessOrEqual(t, n, math.Floor(rate*w+burst)+1, "%v attempts started within %.3fs", n, w)
		}
	}
}
