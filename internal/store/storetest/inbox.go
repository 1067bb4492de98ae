package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testRunKeys(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	write(t, s, func(tx store.Tx) {
		id, err := tx.RunKeyPut(ctx, "ns", "wf", "k1", "r1", at(0))
		require.NoError(t, err)
		require.Equal(t, "r1", id)
		// The same key keeps its first run.
		id, err = tx.RunKeyPut(ctx, "ns", "wf", "k1", "r2", at(time.Second))
		require.NoError(t, err)
		require.Equal(t, "r1", id)
		// Keys are per workflow.
		id, err = tx.RunKeyPut(ctx, "ns", "other", "k1", "r2", at(time.Second))
		require.NoError(t, err)
		require.Equal(t, "r2", id)

		_, err = tx.RunTriggerGet(ctx, "r1")
		require.ErrorIs(t, err, store.ErrNotFound)
		rt := &store.RunTrigger{RunID: "r1", Kind: "event", Name: "order.created", EventSource: "shop", EventID: "e1", ReceivedAt: at(time.Minute)}
		require.NoError(t, tx.RunTriggerPut(ctx, rt))
		got, err := tx.RunTriggerGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, rt, got)
	})
}

func testInbox(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	ev := func(id, typ string, d time.Duration) *store.InboxEvent {
		return &store.InboxEvent{
			Namespace: "ns", ID: id, Source: "shop", Type: typ, Subject: "order/1", Time: at(d - time.Second),
			DataContentType: "application/json", Data: map[string]any{"order_id": "o-1", "amount": 12.5},
			ReceivedAt: at(d), Actor: "alice",
		}
	}
	write(t, s, func(tx store.Tx) {
		e1 := ev("e1", "order.created", 0)
		got, created, err := tx.InboxInsert(ctx, e1)
		require.NoError(t, err)
		require.True(t, created)
		require.Positive(t, got.Seq)
		e1.Seq = got.Seq
		require.Equal(t, e1, got)

		// The same (source, id) is stored once; the first one comes back.
		dup := ev("e1", "order.created", time.Hour)
		dup.Data = "other"
		again, created, err := tx.InboxInsert(ctx, dup)
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, e1, again)

		// Another source may reuse the id; zero times and nil data round-trip.
		other := &store.InboxEvent{Namespace: "ns", ID: "e1", Source: "billing", Type: "payment.received", ReceivedAt: at(time.Minute)}
		got, created, err = tx.InboxInsert(ctx, other)
		require.NoError(t, err)
		require.True(t, created)
		require.Nil(t, got.Data)
		require.True(t, got.Time.IsZero())

		_, _, err = tx.InboxInsert(ctx, ev("e2", "order.created", 2*time.Minute))
		require.NoError(t, err)
	})
	view(t, s, func(tx store.Tx) {
		all, err := tx.InboxList(ctx, &store.InboxListParams{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		require.Less(t, all[0].Seq, all[1].Seq)
		require.Less(t, all[1].Seq, all[2].Seq)

		typed, err := tx.InboxList(ctx, &store.InboxListParams{Namespace: "ns", Type: "order.created"})
		require.NoError(t, err)
		require.Len(t, typed, 2)
		require.Equal(t, "e1", typed[0].ID)

		recent, err := tx.InboxList(ctx, &store.InboxListParams{Type: "order.created", Since: at(time.Minute)})
		require.NoError(t, err)
		require.Len(t, recent, 1)
		require.Equal(t, "e2", recent[0].ID)

		after, err := tx.InboxList(ctx, &store.InboxListParams{AfterSeq: all[0].Seq, Limit: 1})
		require.NoError(t, err)
		require.Len(t, after, 1)
		require.Equal(t, all[1].Seq, after[0].Seq)

		none, err := tx.InboxList(ctx, &store.InboxListParams{Namespace: "elsewhere"})
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

func testEventWaits(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	w1 := &store.EventWait{
		RunID: "r1", Task: "pay", Index: -1, Namespace: "ns", Type: "payment.received",
		Match: "event.data.order_id == inputs.order_id", Context: map[string]any{"inputs": map[string]any{"order_id": "o-1"}},
		Deadline: at(time.Hour), CreatedAt: at(0),
	}
	w2 := &store.EventWait{RunID: "r2", Task: "pay", Index: 3, Namespace: "ns", Type: "payment.received", Match: "true", CreatedAt: at(time.Second)}
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.EventWaitPut(ctx, w2))
		require.NoError(t, tx.EventWaitPut(ctx, w1))
		require.NoError(t, tx.EventWaitPut(ctx, &store.EventWait{RunID: "r1", Task: "other", Index: -1, Namespace: "ns", Type: "x", Match: "true", CreatedAt: at(0)}))
	})
	view(t, s, func(tx store.Tx) {
		ws, err := tx.EventWaitList(ctx, "ns", "payment.received")
		require.NoError(t, err)
		require.Equal(t, []*store.EventWait{w1, w2}, ws)
	})
	write(t, s, func(tx store.Tx) {
		// Put replaces the wait of the same task run.
		w1.Match = "false"
		require.NoError(t, tx.EventWaitPut(ctx, w1))
		require.NoError(t, tx.EventWaitDelete(ctx, "r2", "pay", 3))
		require.NoError(t, tx.EventWaitDelete(ctx, "r2", "pay", 3))
	})
	view(t, s, func(tx store.Tx) {
		ws, err := tx.EventWaitList(ctx, "ns", "payment.received")
		require.NoError(t, err)
		require.Equal(t, []*store.EventWait{w1}, ws)
		ws, err = tx.EventWaitList(ctx, "other", "payment.received")
		require.NoError(t, err)
		require.Empty(t, ws)
	})
}
