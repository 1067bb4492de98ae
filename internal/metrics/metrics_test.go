package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/metrics"
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
