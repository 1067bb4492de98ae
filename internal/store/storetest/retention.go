package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testInboxPrune(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	write(t, s, func(tx store.Tx) {
		for i := range 5 {
			_, _, err := tx.InboxInsert(ctx, &store.InboxEvent{
				Namespace: "ns", ID: fmt.Sprint("e", i), Source: "shop", Type: "order.created",
				ReceivedAt: at(time.Duration(i) * time.Hour),
			})
			require.NoError(t, err)
		}
	})
	prune := func(before time.Time, limit int) int {
		t.Helper()
		var n int
		write(t, s, func(tx store.Tx) {
			var err error
			n, err = tx.InboxPrune(ctx, before, limit)
			require.NoError(t, err)
		})
		return n
	}
	ids := func() []string {
		t.Helper()
		var out []string
		view(t, s, func(tx store.Tx) {
			evs, err := tx.InboxList(ctx, &store.InboxListParams{})
			require.NoError(t, err)
			for _, ev := range evs {
				out = append(out, ev.ID)
			}
		})
		return out
	}
	require.Equal(t, 0, prune(at(0), 10), "received at the bound: kept")
	require.Equal(t, 2, prune(at(3*time.Hour), 2), "limit, oldest first")
	require.Equal(t, []string{"e2", "e3", "e4"}, ids())
	require.Equal(t, 1, prune(at(3*time.Hour), 0), "no limit")
	require.Equal(t, []string{"e3", "e4"}, ids())
	// A pruned event's (source, id) is free again.
	write(t, s, func(tx store.Tx) {
		_, created, err := tx.InboxInsert(ctx, &store.InboxEvent{Namespace: "ns", ID: "e0", Source: "shop", Type: "order.created", ReceivedAt: at(5 * time.Hour)})
		require.NoError(t, err)
		require.True(t, created)
	})
}
