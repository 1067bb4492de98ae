package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func newAttempt(runID, task string, index int, queue string, notBefore time.Time) *store.Attempt {
	return &store.Attempt{
		RunID: runID, Task: task, Index: index, Number: 1, Namespace: "ns", Workflow: "wf",
		Queue: queue, Type: "shell", Params: map[string]any{"run": "echo", "env": map[string]any{"A": "1"}},
		Timeout: 30 * time.Second, Status: store.AttemptQueued, NotBefore: notBefore,
		CreatedAt: at(0),
	}
}

// insertAttempts commits attempts and their queued task runs.
func insertAttempts(t *testing.T, s store.Store, as ...*store.Attempt) {
	t.Helper()
	write(t, s, func(tx store.Tx) {
		for _, a := range as {
			require.NoError(t, tx.TaskRunUpsert(t.Context(), []*store.TaskRun{{
				RunID: a.RunID, Task: a.Task, Index: a.Index, Status: store.TaskQueued, Attempts: a.Number,
			}}))
			require.NoError(t, tx.AttemptInsert(t.Context(), a))
		}
	})
}

func claim(t *testing.T, s store.Store, p store.AttemptClaimParams) []*store.Attempt {
	t.Helper()
	var got []*store.Attempt
	require.NoError(t, s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		got, err = tx.AttemptClaim(t.Context(), &p)
		return err
	}))
	return got
}

func attemptIDs(as []*store.Attempt) []int64 {
	out := []int64{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func testAttempts(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		a := newAttempt("r1", "a", -1, "default", at(time.Second))
		b := newAttempt("r1", "b", 0, "default", time.Time{})
		b.CreatedAt, b.Status, b.Params = time.Time{}, "", nil
		insertAttempts(t, s, a, b)
		require.NotZero(t, a.ID)
		require.NotZero(t, b.ID)
		require.NotEqual(t, a.ID, b.ID)
		require.Equal(t, store.AttemptQueued, b.Status)
		require.False(t, b.CreatedAt.IsZero())
		require.Equal(t, b.CreatedAt, b.NotBefore, "a zero NotBefore is CreatedAt")
		view(t, s, func(tx store.Tx) {
			got, err := tx.AttemptGet(ctx, a.ID)
			require.NoError(t, err)
			require.Equal(t, a, got)
			got, err = tx.AttemptGet(ctx, b.ID)
			require.NoError(t, err)
			require.Equal(t, b, got)
			_, err = tx.AttemptGet(ctx, a.ID+b.ID+1000)
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	})

	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		late := newAttempt("r1", "late", -1, "q1", at(time.Hour))
		second := newAttempt("r1", "second", -1, "q1", at(2*time.Second))
		first := newAttempt("r1", "first", -1, "q2", at(time.Second))
		other := newAttempt("r1", "other", -1, "q3", at(0))
		third := newAttempt("r1", "third", -1, "q1", at(3*time.Second))
		insertAttempts(t, s, late, second, first, other, third)

		now := at(time.Minute)
		require.Empty(t, claim(t, s, store.AttemptClaimParams{Queues: []string{"none"}, WorkerID: "w", Limit: 5, Now: now, LeaseFor: time.Minute}))
		got := claim(t, s, store.AttemptClaimParams{Queues: []string{"q1", "q2"}, WorkerID: "w1", Limit: 2, Now: now, LeaseFor: time.Minute})
		require.Equal(t, []int64{first.ID, second.ID}, attemptIDs(got), "oldest NotBefore first, up to Limit")
		for _, a := range got {
			require.Equal(t, store.AttemptRunning, a.Status)
			require.Equal(t, "w1", a.WorkerID)
			require.Equal(t, now, a.StartedAt)
			require.Equal(t, now.Add(time.Minute), a.LeaseExpiresAt)
			require.Len(t, a.LeaseToken, 32, "128 random bits in hex")
			require.Equal(t, first.Params, a.Params)
		}
		require.NotEqual(t, got[0].LeaseToken, got[1].LeaseToken, "a token per attempt")
		view(t, s, func(tx store.Tx) {
			stored, err := tx.AttemptGet(ctx, first.ID)
			require.NoError(t, err)
			require.Equal(t, got[0], stored)
			trs, err := tx.TaskRunList(ctx, "r1")
			require.NoError(t, err)
			for _, tr := range trs {
				switch tr.Task {
				case "first", "second":
					require.Equal(t, store.TaskRunning, tr.Status, tr.Task)
					require.Equal(t, now, tr.StartedAt, tr.Task)
				default:
					require.Equal(t, store.TaskQueued, tr.Status, tr.Task)
					require.Zero(t, tr.StartedAt, tr.Task)
				}
			}
			_, running, err := tx.RunRevisions(ctx, []string{"r1"})
			require.NoError(t, err)
			var keys []string
			for _, tr := range running {
				require.Equal(t, "r1", tr.RunID)
				require.Equal(t, now, tr.StartedAt, tr.Task)
				keys = append(keys, tr.Task)
			}
			require.ElementsMatch(t, []string{"first", "second"}, keys, "the task runs claims made running")
			_, running, err = tx.RunRevisions(ctx, []string{"none"})
			require.NoError(t, err)
			require.Empty(t, running)
		})

		// Only due attempts; claimed ones are not claimed again.
		got = claim(t, s, store.AttemptClaimParams{Queues: []string{"q1", "q2"}, WorkerID: "w2", Limit: 10, Now: now, LeaseFor: time.Minute})
		require.Equal(t, []int64{third.ID}, attemptIDs(got))

		// A retry's claim keeps the task run's first StartedAt.
		retry := newAttempt("r1", "first", -1, "q2", at(0))
		retry.Number = 2
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.AttemptInsert(ctx, retry)) })
		later := at(2 * time.Minute)
		got = claim(t, s, store.AttemptClaimParams{Queues: []string{"q2"}, WorkerID: "w3", Limit: 10, Now: later, LeaseFor: time.Minute})
		require.Equal(t, []int64{retry.ID}, attemptIDs(got))
		require.Equal(t, later, got[0].StartedAt)
		view(t, s, func(tx store.Tx) {
			trs, err := tx.TaskRunList(ctx, "r1")
			require.NoError(t, err)
			for _, tr := range trs {
				if tr.Task == "first" {
					require.Equal(t, now, tr.StartedAt, "StartedAt set only on the first attempt")
				}
			}
		})

		view(t, s, func(tx store.Tx) {
			next, err := tx.AttemptNextDue(ctx, []string{"q1", "q2"}, nil)
			require.NoError(t, err)
			require.Equal(t, at(time.Hour), next)
			next, err = tx.AttemptNextDue(ctx, []string{"q3"}, nil)
			require.NoError(t, err)
			require.Equal(t, at(0), next)
			next, err = tx.AttemptNextDue(ctx, []string{"none"}, nil)
			require.NoError(t, err)
			require.Zero(t, next)
		})
	})

	t.Run("ClaimByType", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		sh := newAttempt("r1", "sh", -1, "q", at(0))
		web := newAttempt("r1", "web", -1, "q", at(time.Second))
		web.Type = "http"
		crm := newAttempt("r1", "crm", -1, "q", at(2*time.Second))
		crm.Type = "crm.contact"
		insertAttempts(t, s, sh, web, crm)
		view(t, s, func(tx store.Tx) {
			next, err := tx.AttemptNextDue(ctx, []string{"q"}, []string{"crm.contact", "mail"})
			require.NoError(t, err)
			require.Equal(t, at(2*time.Second), next)
			next, err = tx.AttemptNextDue(ctx, []string{"q"}, []string{"mail"})
			require.NoError(t, err)
			require.Zero(t, next)
		})
		now := at(time.Minute)
		got := claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, Types: []string{"mail"}, WorkerID: "w", Limit: 5, Now: now, LeaseFor: time.Minute})
		require.Empty(t, got)
		got = claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, Types: []string{"crm.contact", "http"}, WorkerID: "w", Limit: 5, Now: now, LeaseFor: time.Minute})
		require.Equal(t, []int64{web.ID, crm.ID}, attemptIDs(got))
		got = claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: 5, Now: now, LeaseFor: time.Minute})
		require.Equal(t, []int64{sh.ID}, attemptIDs(got), "no Types: any type")
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		const n = 40
		var all []*store.Attempt
		for i := range n {
			all = append(all, newAttempt("r1", "t", i, "q", at(0)))
		}
		insertAttempts(t, s, all...)

		const workers = 4
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for {
					var got []*store.Attempt
					err := s.Tx(ctx, func(tx store.Tx) error {
						var err error
						got, err = tx.AttemptClaim(ctx, &store.AttemptClaimParams{
							Queues: []string{"q"}, WorkerID: string(rune('a' + w)), Limit: 3,
							Now: at(time.Second), LeaseFor: time.Minute,
						})
						return err
					})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, a := range got {
						if prev, dup := seen[a.ID]; dup {
							mu.Unlock()
							errs <- &dupError{a.ID, prev, a.WorkerID}
							return
						}
						seen[a.ID] = a.WorkerID
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, n, "every attempt claimed exactly once")
	})
}

type dupError struct {
	id     int64
	w1, w2 string
}

func (e *dupError) Error() string {
	return "attempt claimed twice by " + e.w1 + " and " + e.w2
}
