package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func newNotification(runID, channel string, next time.Time) *store.Notification {
	return &store.Notification{
		RunID: runID, Index: -1, Event: "failure", Channel: channel,
		Payload: json.RawMessage(`{"event":"failure","run_id":"` + runID + `"}`),
		Status:  store.NotificationPending, NextAt: next, CreatedAt: at(0),
	}
}

func notificationIDs(ns []*store.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func testOutbox(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("InsertDueUpdate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1", "r2")
		a := newNotification("r1", "slack", at(2*time.Second))
		b := newNotification("r1", "email", at(time.Second))
		c := newNotification("r2", "slack", at(time.Hour))
		c.Task, c.Index, c.Event = "reserve", 3, "sla_breach"
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.NotificationInsert(ctx, []*store.Notification{a, b}))
			require.NoError(t, tx.NotificationInsert(ctx, []*store.Notification{c}))
			require.NoError(t, tx.NotificationInsert(ctx, nil))
		})
		require.NotZero(t, a.ID)
		require.Greater(t, b.ID, a.ID)
		require.Greater(t, c.ID, b.ID)

		view(t, s, func(tx store.Tx) {
			due, err := tx.NotificationListDue(ctx, at(2*time.Second), 0)
			require.NoError(t, err)
			require.Equal(t, []int64{b.ID, a.ID}, notificationIDs(due), "earliest NextAt first")
			require.Equal(t, b, due[0])
			due, err = tx.NotificationListDue(ctx, at(2*time.Second), 1)
			require.NoError(t, err)
			require.Equal(t, []int64{b.ID}, notificationIDs(due))
			next, err := tx.NotificationNextDue(ctx)
			require.NoError(t, err)
			require.Equal(t, at(time.Second), next)
			list, err := tx.NotificationList(ctx, "r2")
			require.NoError(t, err)
			require.Equal(t, []*store.Notification{c}, list)
		})

		// A failed try moves it later; a delivery ends it.
		b.Attempts, b.LastError, b.NextAt = 1, "connection refused", at(time.Minute)
		a.Attempts, a.Status, a.FinishedAt = 1, store.NotificationDelivered, at(3*time.Second)
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.NotificationUpdate(ctx, b))
			require.NoError(t, tx.NotificationUpdate(ctx, a))
		})
		err := s.Tx(ctx, func(tx store.Tx) error { return tx.NotificationUpdate(ctx, a) })
		require.ErrorIs(t, err, store.ErrNotFound, "a delivered notification is no longer pending")
		missing := newNotification("r1", "x", at(0))
		missing.ID = a.ID + 1000
		err = s.Tx(ctx, func(tx store.Tx) error { return tx.NotificationUpdate(ctx, missing) })
		require.ErrorIs(t, err, store.ErrNotFound)

		view(t, s, func(tx store.Tx) {
			due, err := tx.NotificationListDue(ctx, at(30*time.Second), 0)
			require.NoError(t, err)
			require.Empty(t, due)
			next, err := tx.NotificationNextDue(ctx)
			require.NoError(t, err)
			require.Equal(t, at(time.Minute), next)
			list, err := tx.NotificationList(ctx, "r1")
			require.NoError(t, err)
			require.Equal(t, []*store.Notification{a, b}, list)
		})

		// Given up: no longer due, kept for the record.
		b.Attempts, b.Status, b.FinishedAt = 5, store.NotificationFailed, at(2*time.Minute)
		c.Attempts, c.Status, c.FinishedAt = 1, store.NotificationDelivered, at(2*time.Minute)
		write(t, s, func(tx store.Tx) {
			require.NoError(t, tx.NotificationUpdate(ctx, b))
			require.NoError(t, tx.NotificationUpdate(ctx, c))
		})
		view(t, s, func(tx store.Tx) {
			next, err := tx.NotificationNextDue(ctx)
			require.NoError(t, err)
			require.Zero(t, next, "none pending")
			list, err := tx.NotificationList(ctx, "r1")
			require.NoError(t, err)
			require.Equal(t, store.NotificationFailed, list[1].Status)
		})
	})
}
