package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testSchedules(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	nightly := &store.Schedule{
		Namespace: "ns", Workflow: "wf", Name: "nightly", Version: 1, Cron: "0 2 * * *",
		Timezone: "Europe/Paris", NextFireAt: at(2 * time.Second), UpdatedAt: at(0), UpdatedBy: "alice",
	}
	hourly := &store.Schedule{
		Namespace: "ns", Workflow: "wf", Name: "hourly", Version: 1, Cron: "@hourly",
		NextFireAt: at(time.Second), LastFiredAt: at(-time.Hour), LastRunID: "r1", QueuedRunID: "r2",
		LastError: "bad inputs", UpdatedAt: at(0), UpdatedBy: "alice",
	}
	paused := &store.Schedule{
		Namespace: "ns", Workflow: "other", Name: "cron-1", Version: 3, Cron: "* * * * *",
		NextFireAt: at(0), Paused: true, UpdatedAt: at(0), UpdatedBy: "bob",
	}
	never := &store.Schedule{
		Namespace: "a", Workflow: "wf", Name: "cron-1", Version: 1, Cron: "0 0 30 2 *",
		UpdatedAt: at(0), UpdatedBy: "bob",
	}
	write(t, s, func(tx store.Tx) {
		next, err := tx.ScheduleNext(ctx)
		require.NoError(t, err)
		require.Zero(t, next, "no schedules")
		for _, sc := range []*store.Schedule{nightly, hourly, paused, never} {
			require.NoError(t, tx.ScheduleUpsert(ctx, sc))
		}
	})
	due := func(now time.Time, limit int) []*store.Schedule {
		var got []*store.Schedule
		view(t, s, func(tx store.Tx) {
			var err error
			got, err = tx.ScheduleListDue(ctx, now, limit)
			require.NoError(t, err)
		})
		return got
	}
	require.Equal(t, []*store.Schedule{hourly, nightly}, due(at(time.Hour), 0), "not paused, NextFireAt set and <= now, earliest first")
	require.Equal(t, []*store.Schedule{hourly}, due(at(time.Hour), 1))
	require.Empty(t, due(at(0), 0))

	view(t, s, func(tx store.Tx) {
		next, err := tx.ScheduleNext(ctx)
		require.NoError(t, err)
		require.Equal(t, at(time.Second), next, "the paused and the never-firing one do not count")
		got, err := tx.ScheduleGet(ctx, "ns", "wf", "hourly")
		require.NoError(t, err)
		require.Equal(t, hourly, got)
		_, err = tx.ScheduleGet(ctx, "ns", "wf", "nope")
		require.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
		all, err := tx.ScheduleList(ctx, "", "")
		require.NoError(t, err)
		require.Equal(t, []*store.Schedule{never, paused, hourly, nightly}, all, "by namespace, workflow, name")
		ns, err := tx.ScheduleList(ctx, "ns", "")
		require.NoError(t, err)
		require.Equal(t, []*store.Schedule{paused, hourly, nightly}, ns)
		wf, err := tx.ScheduleList(ctx, "ns", "wf")
		require.NoError(t, err)
		require.Equal(t, []*store.Schedule{hourly, nightly}, wf)
	})

	// Upsert replaces every field.
	moved := *hourly
	moved.Version, moved.Cron, moved.Timezone = 2, "*/5 * * * *", "UTC"
	moved.NextFireAt, moved.Paused, moved.LastFiredAt = at(3*time.Hour), true, at(time.Second)
	moved.LastRunID, moved.QueuedRunID, moved.LastError = "r3", "", ""
	moved.UpdatedAt, moved.UpdatedBy = at(time.Minute), "carol"
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.ScheduleUpsert(ctx, &moved))
		got, err := tx.ScheduleGet(ctx, "ns", "wf", "hourly")
		require.NoError(t, err)
		require.Equal(t, &moved, got)
	})
	require.Equal(t, []*store.Schedule{nightly}, due(at(5*time.Hour), 0))

	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.ScheduleDelete(ctx, "ns", "wf", "nightly"))
		require.NoError(t, tx.ScheduleDelete(ctx, "ns", "wf", "nightly"), "absent: no error")
	})
	require.Empty(t, due(at(5*time.Hour), 0))
	view(t, s, func(tx store.Tx) {
		next, err := tx.ScheduleNext(ctx)
		require.NoError(t, err)
		require.Zero(t, next)
	})
}
