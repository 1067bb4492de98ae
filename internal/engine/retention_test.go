package engine_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

func TestPruneEventsPastTheirRetention(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	clock := func() time.Time { return time.UnixMicro(now.Load()).UTC() }
	e := engine.New(st, engine.Options{Now: clock, EventRetention: time.Hour})
	ingest := func(id string) *engine.IngestResult {
		t.Helper()
		res, err := e.IngestEvent(t.Context(), &store.InboxEvent{ID: id, Source: "shop", Type: "order.created"})
		require.NoError(t, err)
		return res
	}
	require.False(t, ingest("a").Duplicate)
	now.Add((30 * time.Minute).Microseconds())
	require.False(t, ingest("b").Duplicate)
	require.True(t, ingest("a").Duplicate, "kept: still deduplicated")

	now.Add((45 * time.Minute).Microseconds()) // a is 75 min old, b 45
	n, err := e.PruneEvents(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, ingest("a").Duplicate, "pruned: a redelivery is a new event")
	require.True(t, ingest("b").Duplicate)

	forever := engine.New(st, engine.Options{Now: clock, EventRetention: -1})
	now.Add(24 * time.Hour.Microseconds())
	n, err = forever.PruneEvents(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "a negative retention keeps everything")
}
