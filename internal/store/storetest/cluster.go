package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testNodes(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	a := &store.Node{ID: "a", Address: "10.0.0.1:8420", Version: "v1", StartedAt: at(0), HeartbeatAt: at(0)}
	b := &store.Node{ID: "b", Address: "10.0.0.2:8420", Version: "v1", StartedAt: at(time.Second), HeartbeatAt: at(time.Second)}
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.NodeHeartbeat(ctx, b))
		require.NoError(t, tx.NodeHeartbeat(ctx, a))
	})
	// A later heartbeat updates address, version and time, not StartedAt.
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.NodeHeartbeat(ctx, &store.Node{ID: "a", Address: "10.0.0.9:8420", Version: "v2", StartedAt: at(time.Hour), HeartbeatAt: at(time.Minute)}))
	})
	view(t, s, func(tx store.Tx) {
		all, err := tx.NodeList(ctx, time.Time{})
		require.NoError(t, err)
		require.Equal(t, []*store.Node{
			{ID: "a", Address: "10.0.0.9:8420", Version: "v2", StartedAt: at(0), HeartbeatAt: at(time.Minute)},
			{ID: "b", Address: "10.0.0.2:8420", Version: "v1", StartedAt: at(time.Second), HeartbeatAt: at(time.Second)},
		}, all)
		recent, err := tx.NodeList(ctx, at(time.Minute))
		require.NoError(t, err)
		require.Len(t, recent, 1)
		require.Equal(t, "a", recent[0].ID)
	})
	write(t, s, func(tx store.Tx) {
		n, err := tx.NodePrune(ctx, at(time.Minute))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NoError(t, tx.NodeDelete(ctx, "a"))
		require.NoError(t, tx.NodeDelete(ctx, "absent"))
		all, err := tx.NodeList(ctx, time.Time{})
		require.NoError(t, err)
		require.Empty(t, all)
	})
}

func testDuties(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	acquire := func(holder string, now time.Time) *store.Duty {
		t.Helper()
		var d *store.Duty
		write(t, s, func(tx store.Tx) {
			var err error
			d, err = tx.DutyAcquire(ctx, "timers", holder, now, 10*time.Second)
			require.NoError(t, err)
		})
		return d
	}
	check := func(holder string, fence int64, now time.Time) error {
		return s.Tx(ctx, func(tx store.Tx) error { return tx.DutyCheck(ctx, "timers", holder, fence, now) })
	}

	require.ErrorIs(t, check("a", 1, at(0)), store.ErrStaleLease, "nobody holds it yet")
	view(t, s, func(tx store.Tx) {
		_, err := tx.DutyGet(ctx, "timers")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	d := acquire("a", at(0))
	require.Equal(t, &store.Duty{Name: "timers", Holder: "a", Fence: 1, ExpiresAt: at(10 * time.Second)}, d)
	require.NoError(t, check("a", 1, at(5*time.Second)))
	view(t, s, func(tx store.Tx) {
		got, err := tx.DutyGet(ctx, "timers")
		require.NoError(t, err)
		require.Equal(t, d, got)
	})

	// b cannot take it while it holds; it sees who holds it.
	d = acquire("b", at(5*time.Second))
	require.Equal(t, "a", d.Holder)
	require.Equal(t, int64(1), d.Fence)
	require.Equal(t, at(10*time.Second), d.ExpiresAt, "a failed takeover changes nothing")

	// a renews: same fence, later expiry.
	d = acquire("a", at(8*time.Second))
	require.Equal(t, &store.Duty{Name: "timers", Holder: "a", Fence: 1, ExpiresAt: at(18 * time.Second)}, d)

	// Expired (ExpiresAt <= now): b takes over with a new fence; a's work is
	// refused from then on, and a cannot renew.
	require.ErrorIs(t, check("a", 1, at(18*time.Second)), store.ErrStaleLease, "expired")
	d = acquire("b", at(18*time.Second))
	require.Equal(t, &store.Duty{Name: "timers", Holder: "b", Fence: 2, ExpiresAt: at(28 * time.Second)}, d)
	require.ErrorIs(t, check("a", 1, at(19*time.Second)), store.ErrStaleLease)
	require.ErrorIs(t, check("b", 1, at(19*time.Second)), store.ErrStaleLease, "wrong fence")
	require.NoError(t, check("b", 2, at(19*time.Second)))
	require.Equal(t, "b", acquire("a", at(20*time.Second)).Holder)

	// A release by someone else does nothing; by the holder frees it at once.
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.DutyRelease(ctx, "timers", "a")) })
	require.Equal(t, "b", acquire("a", at(21*time.Second)).Holder)
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.DutyRelease(ctx, "timers", "b")) })
	require.ErrorIs(t, check("b", 2, at(21*time.Second)), store.ErrStaleLease)
	d = acquire("a", at(21*time.Second))
	require.Equal(t, &store.Duty{Name: "timers", Holder: "a", Fence: 3, ExpiresAt: at(31 * time.Second)}, d)

	// Duties are independent.
	write(t, s, func(tx store.Tx) {
		other, err := tx.DutyAcquire(ctx, "reaper", "b", at(21*time.Second), time.Second)
		require.NoError(t, err)
		require.Equal(t, &store.Duty{Name: "reaper", Holder: "b", Fence: 1, ExpiresAt: at(22 * time.Second)}, other)
	})
}
