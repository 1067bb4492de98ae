package metrics_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/metrics"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

func TestReportedByOthers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := metrics.New(metrics.Options{LocalWorkers: 3, Now: func() time.Time { return now }})
	m.SLABreach("sales", "orders", "run")
	m.SLABreach("sales", "orders", "run")
	m.SLABreach("sales", "orders", "task")
	m.ObserveEventToStart(250 * time.Millisecond)
	m.WorkerSeen("w1")
	m.WorkerSeen("w2")
	now = now.Add(30 * time.Second)
	m.WorkerSeen("w2")
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP legato_sla_breaches_total SLA breaches recorded, by workflow and kind (run: the run's deadline; task: a task's duration).
# TYPE legato_sla_breaches_total counter
legato_sla_breaches_total{kind="run",namespace="sales",workflow="orders"} 2
legato_sla_breaches_total{kind="task",namespace="sales",workflow="orders"} 1
`), "legato_sla_breaches_total"))
	require.Equal(t, 1, testutil.CollectAndCount(m.Registry(), "legato_event_to_start_seconds"))
	workers := func() string {
		mfs, err := m.Registry().Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "legato_workers" {
				return mf.String()
			}
		}
		return ""
	}
	require.Contains(t, workers(), `value:2`, "two remote workers seen within a minute")
	now = now.Add(45 * time.Second)
	require.NotContains(t, workers(), `value:2`, "w1 is forgotten after a minute")

	var none *metrics.Metrics // code holding no metrics may still report
	none.SLABreach("a", "b", "run")
	none.ObserveEventToStart(time.Second)
	none.WorkerSeen("w")
}

func TestQueueGauges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Version: 1, Status: store.RunRunning, Attempt: 1, ParentIndex: -1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for i, a := range []struct {
			queue string
			due   time.Duration
		}{{"billing", -90 * time.Second}, {"billing", -time.Second}, {"billing", time.Hour}, {"later", time.Minute}} {
			if err := tx.AttemptInsert(ctx, &store.Attempt{RunID: "r", Task: "t", Index: i, Number: 1, Namespace: "ns", Workflow: "wf",
				Queue: a.queue, Type: "shell", NotBefore: now.Add(a.due), CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	}))
	m := metrics.New(metrics.Options{Store: st, Now: func() time.Time { return now }})
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP legato_queue_depth Queued attempts of a queue, due or not (read from the store at scrape time; the default queue is always reported).
# TYPE legato_queue_depth gauge
legato_queue_depth{queue="billing"} 3
legato_queue_depth{queue="default"} 0
legato_queue_depth{queue="later"} 1
# HELP legato_queue_oldest_waiting_seconds How long the oldest due attempt of a queue has waited for a worker (0 when none is due).
# TYPE legato_queue_oldest_waiting_seconds gauge
legato_queue_oldest_waiting_seconds{queue="billing"} 90
legato_queue_oldest_waiting_seconds{queue="default"} 0
legato_queue_oldest_waiting_seconds{queue="later"} 0
`), "legato_queue_depth", "legato_queue_oldest_waiting_seconds"))

	// A store that fails makes the scrape say so, not hang or panic.
	require.NoError(t, st.Close())
	_, err = m.Registry().Gather()
	require.Error(t, err)
}
