package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// leased inserts and claims one attempt per task of run r1.
func leased(t *testing.T, s store.Store, tasks ...string) []*store.Attempt {
	t.Helper()
	var as []*store.Attempt
	for _, task := range tasks {
		as = append(as, newAttempt("r1", task, -1, "q", at(0)))
	}
	insertAttempts(t, s, as...)
	got := claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: len(tasks), Now: at(time.Second), LeaseFor: time.Minute})
	require.Len(t, got, len(tasks))
	byTask := map[string]*store.Attempt{}
	for _, a := range got {
		byTask[a.Task] = a
	}
	for i, task := range tasks {
		got[i] = byTask[task]
		require.NotNil(t, got[i], task)
	}
	return got
}

func getAttempt(t *testing.T, s store.Store, id int64) *store.Attempt {
	t.Helper()
	var a *store.Attempt
	view(t, s, func(tx store.Tx) {
		var err error
		a, err = tx.AttemptGet(t.Context(), id)
		require.NoError(t, err)
	})
	return a
}

func finish(s store.Store, t *testing.T, id int64, token string, st store.AttemptStatus) (*store.Attempt, error) {
	var a *store.Attempt
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		a, err = tx.AttemptFinish(t.Context(), &store.AttemptFinishParams{ID: id, Token: token, Status: st, Error: "msg", Now: at(time.Hour)})
		return err
	})
	return a, err
}

func heartbeat(s store.Store, t *testing.T, id int64, token string, until time.Time) (bool, error) {
	var cancel bool
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		cancel, err = tx.AttemptHeartbeat(t.Context(), id, token, until)
		return err
	})
	return cancel, err
}

func testLeases(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("HeartbeatFinish", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		insertRuns(t, s, "r1")
		a := leased(t, s, "a")[0]

		cancel, err := heartbeat(s, t, a.ID, a.LeaseToken, at(5*time.Minute))
		require.NoError(t, err)
		require.False(t, cancel)
		require.Equal(t, at(5*time.Minute), getAttempt(t, s, a.ID).LeaseExpiresAt)
		_, err = heartbeat(s, t, a.ID, "stale", at(time.Hour))
		require.ErrorIs(t, err, store.ErrStaleLease)
		require.Equal(t, at(5*time.Minute), getAttempt(t, s, a.ID).LeaseExpiresAt)

		before := getAttempt(t, s, a.ID)
		_, err = finish(s, t, a.ID, "stale", store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease)
		require.Equal(t, before, getAttempt(t, s, a.ID), "a stale finish changes nothing")

		done, err := finish(s, t, a.ID, a.LeaseToken, store.AttemptFailed)
		require.NoError(t, err)
		want := *before
		want.Status, want.Error, want.FinishedAt = store.AttemptFailed, "msg", at(time.Hour)
		require.Equal(t, &want, done)
		require.Equal(t, &want, getAttempt(t, s, a.ID))

		_, err = finish(s, t, a.ID, a.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease, "finishing twice")
		_, err = heartbeat(s, t, a.ID, a.LeaseToken, at(time.Hour))
		require.ErrorIs(t, err, store.ErrStaleLease, "heartbeat after finish")
		require.Equal(t, &want, getAttempt(t, s, a.ID))

		_, err = finish(s, t, a.ID+1000, "x", store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease, "an unknown attempt holds no lease")
	})

	t.Run("FinishAll", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		as := leased(t, s, "a", "b", "c")
		all := func(ps ...*store.AttemptFinishParams) ([]*store.Attempt, error) {
			var out []*store.Attempt
			err := s.Tx(ctx, func(tx store.Tx) error {
				var err error
				out, err = tx.AttemptFinishAll(ctx, ps)
				return err
			})
			return out, err
		}
		p := func(a *store.Attempt, token string, st store.AttemptStatus, msg string) *store.AttemptFinishParams {
			return &store.AttemptFinishParams{ID: a.ID, Token: token, Status: st, Error: msg, Now: at(time.Hour)}
		}
		// One stale token refuses the batch; its transaction changes nothing.
		_, err := all(p(as[0], as[0].LeaseToken, store.AttemptSucceeded, ""), p(as[1], "stale", store.AttemptFailed, "x"))
		require.ErrorIs(t, err, store.ErrStaleLease)
		require.Equal(t, store.AttemptRunning, getAttempt(t, s, as[0].ID).Status)
		// The same attempt twice: the second finish finds it finished.
		_, err = all(p(as[0], as[0].LeaseToken, store.AttemptSucceeded, ""), p(as[0], as[0].LeaseToken, store.AttemptSucceeded, ""))
		require.ErrorIs(t, err, store.ErrStaleLease)

		got, err := all(p(as[2], as[2].LeaseToken, store.AttemptFailed, "boom"), p(as[0], as[0].LeaseToken, store.AttemptSucceeded, ""))
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, as[2].ID, got[0].ID, "in the order given")
		require.Equal(t, store.AttemptFailed, got[0].Status)
		require.Equal(t, "boom", got[0].Error)
		require.Equal(t, at(time.Hour), got[0].FinishedAt)
		require.Equal(t, as[0].ID, got[1].ID)
		require.Equal(t, store.AttemptSucceeded, got[1].Status)
		require.Equal(t, getAttempt(t, s, as[0].ID), got[1])
		require.Equal(t, store.AttemptRunning, getAttempt(t, s, as[1].ID).Status)

		none, err := all()
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("OldTokenAfterReclaim", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		a := leased(t, s, "a")[0]
		// The reaper expires the lease, the engine queues a retry, another
		// worker claims it: the first worker's token is dead everywhere.
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.AttemptExpire(ctx, a.ID, a.LeaseToken, at(2*time.Minute), "lease expired"))
			retry := newAttempt("r1", "a", -1, "q", at(0))
			retry.Number = 2
			require.NoError(t, tx.AttemptInsert(ctx, retry))
		})
		b := claim(t, s, store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w2", Limit: 1, Now: at(3 * time.Minute), LeaseFor: time.Minute})
		require.Len(t, b, 1)
		_, err := finish(s, t, a.ID, a.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease)
		_, err = finish(s, t, b[0].ID, a.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease)
		_, err = finish(s, t, b[0].ID, b[0].LeaseToken, store.AttemptSucceeded)
		require.NoError(t, err)
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1", "r2")
		running := leased(t, s, "a", "b")
		qa := newAttempt("r1", "a", -1, "q", at(time.Hour))
		qc := newAttempt("r1", "c", -1, "q", at(time.Hour))
		elsewhere := newAttempt("r2", "a", -1, "q", at(time.Hour))
		insertAttempts(t, s, qa, qc, elsewhere)
		ra, rb := running[0], running[1]

		// One task run: its queued attempt is canceled, its running one flagged.
		var flagged []*store.Attempt
		write(t, s, func(tx store.Tx) {
			var err error
			flagged, err = tx.AttemptCancel(ctx, "r1", "a", -1)
			require.NoError(t, err)
		})
		require.Equal(t, []int64{ra.ID}, attemptIDs(flagged))
		require.True(t, flagged[0].CancelRequested)
		require.Equal(t, store.AttemptRunning, flagged[0].Status)
		require.Equal(t, store.AttemptCanceled, getAttempt(t, s, qa.ID).Status)
		require.Equal(t, store.AttemptQueued, getAttempt(t, s, qc.ID).Status)
		require.False(t, getAttempt(t, s, rb.ID).CancelRequested)

		lease := getAttempt(t, s, ra.ID).LeaseExpiresAt
		cancel, err := heartbeat(s, t, ra.ID, ra.LeaseToken, at(time.Hour))
		require.NoError(t, err)
		require.True(t, cancel)
		require.Equal(t, lease, getAttempt(t, s, ra.ID).LeaseExpiresAt, "a canceled lease is not extended")
		before := getAttempt(t, s, ra.ID)
		_, err = finish(s, t, ra.ID, ra.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease)
		require.Equal(t, before, getAttempt(t, s, ra.ID))

		// The whole run: everything else of r1, nothing of r2.
		write(t, s, func(tx store.Tx) {
			var err error
			flagged, err = tx.AttemptCancel(ctx, "r1", "", 0)
			require.NoError(t, err)
		})
		require.ElementsMatch(t, []int64{ra.ID, rb.ID}, attemptIDs(flagged))
		require.Equal(t, store.AttemptCanceled, getAttempt(t, s, qc.ID).Status)
		require.Equal(t, store.AttemptQueued, getAttempt(t, s, elsewhere.ID).Status)
		cancel, err = heartbeat(s, t, rb.ID, rb.LeaseToken, at(time.Hour))
		require.NoError(t, err)
		require.True(t, cancel)

		// The reaper ends a canceled attempt once its lease ran out.
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.AttemptExpire(ctx, rb.ID, rb.LeaseToken, at(time.Hour), "canceled"))
		})
		require.Equal(t, store.AttemptFailed, getAttempt(t, s, rb.ID).Status)

		// The worker acknowledges a requested cancel: the one finish a
		// cancel-requested attempt takes, and only with its token.
		_, err = finish(s, t, ra.ID, "stale", store.AttemptCanceled)
		require.ErrorIs(t, err, store.ErrStaleLease)
		got, err := finish(s, t, ra.ID, ra.LeaseToken, store.AttemptCanceled)
		require.NoError(t, err)
		require.Equal(t, store.AttemptCanceled, got.Status)
		require.Equal(t, at(time.Hour), got.FinishedAt)
		require.Equal(t, store.AttemptCanceled, getAttempt(t, s, ra.ID).Status)
		_, err = finish(s, t, ra.ID, ra.LeaseToken, store.AttemptCanceled)
		require.ErrorIs(t, err, store.ErrStaleLease, "finished once")
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		as := leased(t, s, "a", "b") // leases end at 1m1s
		a, b := as[0], as[1]
		_, err := finish(s, t, b.ID, b.LeaseToken, store.AttemptSucceeded)
		require.NoError(t, err)
		release := func(id int64, token string) error {
			return s.Tx(ctx, func(tx store.Tx) error {
				return tx.AttemptRelease(ctx, id, token, at(2*time.Second), "interrupted")
			})
		}
		require.ErrorIs(t, release(a.ID, "stale"), store.ErrStaleLease)
		require.ErrorIs(t, release(b.ID, b.LeaseToken), store.ErrStaleLease, "b already finished")
		// a's lease still runs: release takes it all the same.
		require.NoError(t, release(a.ID, a.LeaseToken))
		got := getAttempt(t, s, a.ID)
		require.Equal(t, store.AttemptFailed, got.Status)
		require.Equal(t, "interrupted", got.Error)
		require.Equal(t, at(2*time.Second), got.FinishedAt)
		require.ErrorIs(t, release(a.ID, a.LeaseToken), store.ErrStaleLease, "released once")
		_, err = finish(s, t, a.ID, a.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease, "the late worker loses")
	})

	t.Run("Expire", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		as := leased(t, s, "a", "b", "c") // leases end at 1m1s
		a, b, c := as[0], as[1], as[2]
		// b heartbeats further; c finishes.
		_, err := heartbeat(s, t, b.ID, b.LeaseToken, at(10*time.Minute))
		require.NoError(t, err)
		_, err = finish(s, t, c.ID, c.LeaseToken, store.AttemptSucceeded)
		require.NoError(t, err)

		view(t, s, func(tx store.Tx) {
			exp, err := tx.AttemptListExpired(ctx, at(time.Minute+time.Second), 10)
			require.NoError(t, err)
			require.Empty(t, exp, "a lease ending now has not expired")
			exp, err = tx.AttemptListExpired(ctx, at(5*time.Minute), 10)
			require.NoError(t, err)
			require.Equal(t, []int64{a.ID}, attemptIDs(exp))
			exp, err = tx.AttemptListExpired(ctx, at(time.Hour), 1)
			require.NoError(t, err)
			require.Equal(t, []int64{a.ID}, attemptIDs(exp), "limit, earliest expiry first")
			exp, err = tx.AttemptListExpired(ctx, at(time.Hour), 0)
			require.NoError(t, err)
			require.Equal(t, []int64{a.ID, b.ID}, attemptIDs(exp))
		})

		err = s.Tx(ctx, func(tx store.Tx) error {
			return tx.AttemptExpire(ctx, b.ID, b.LeaseToken, at(5*time.Minute), "expired")
		})
		require.ErrorIs(t, err, store.ErrStaleLease, "b's lease was extended")
		err = s.Tx(ctx, func(tx store.Tx) error {
			return tx.AttemptExpire(ctx, a.ID, "stale", at(5*time.Minute), "expired")
		})
		require.ErrorIs(t, err, store.ErrStaleLease)
		err = s.Tx(ctx, func(tx store.Tx) error {
			return tx.AttemptExpire(ctx, c.ID, c.LeaseToken, at(5*time.Minute), "expired")
		})
		require.ErrorIs(t, err, store.ErrStaleLease, "c already finished")
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.AttemptExpire(ctx, a.ID, a.LeaseToken, at(5*time.Minute), "expired"))
		})
		got := getAttempt(t, s, a.ID)
		require.Equal(t, store.AttemptFailed, got.Status)
		require.Equal(t, "expired", got.Error)
		require.Equal(t, at(5*time.Minute), got.FinishedAt)
		_, err = finish(s, t, a.ID, a.LeaseToken, store.AttemptSucceeded)
		require.ErrorIs(t, err, store.ErrStaleLease, "the late worker loses")
		_, err = heartbeat(s, t, a.ID, a.LeaseToken, at(time.Hour))
		require.ErrorIs(t, err, store.ErrStaleLease)
	})
}
