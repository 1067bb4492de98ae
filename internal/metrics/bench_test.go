package metrics_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/metrics"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

// BenchmarkScrape measures one /metrics scrape with 10,000 queued attempts
// in 4 queues of a real SQLite store (the queue gauges read it).
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "legato.db"))
	require.NoError(b, err)
	defer st.Close()
	now := time.Now().UTC()
	require.NoError(b, st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Version: 1, Status: store.RunRunning, Attempt: 1, ParentIndex: -1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for i := range 10000 {
			a := &store.Attempt{RunID: "r", Task: "t", Index: i, Number: 1, Namespace: "ns", Workflow: "wf",
				Queue: []string{"default", "a", "b", "c"}[i%4], Type: "shell", NotBefore: now.Add(time.Duration(i-5000) * time.Millisecond), CreatedAt: now}
			if err := tx.AttemptInsert(ctx, a); err != nil {
				return err
			}
		}
		return nil
	}))
	m := metrics.New(metrics.Options{Store: st})
	h := m.Handler()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
