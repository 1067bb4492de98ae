package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api"
	"github.com/legatohq/legato/internal/store"
)

func TestStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Known runs of "orders" an hour ago: cycle times 10, 20, 30, 40 s;
	// one still running; one two days ago (outside 24h).
	type known struct {
		id     string
		status store.RunStatus
		ago    time.Duration
		cycle  time.Duration
		task   time.Duration
	}
	runs := []known{
		{"r1", store.RunSucceeded, time.Hour, 10 * time.Second, time.Second},
		{"r2", store.RunSucceeded, time.Hour, 20 * time.Second, 2 * time.Second},
		{"r3", store.RunFailed, time.Hour, 30 * time.Second, 3 * time.Second},
		{"r4", store.RunCanceled, time.Hour, 40 * time.Second, 4 * time.Second},
		{"r5", store.RunRunning, time.Hour, 0, 0},
		{"old", store.RunSucceeded, 48 * time.Hour, time.Hour, time.Hour},
	}
	require.NoError(t, b.st.Tx(ctx, func(tx store.Tx) error {
		for _, k := range runs {
			created := now.Add(-k.ago)
			r := &store.Run{ID: k.id, Namespace: "sales", Workflow: "orders", Version: 1, Status: k.status, Attempt: 1, ParentIndex: -1, CreatedAt: created, UpdatedAt: created}
			if k.status.Terminal() {
				r.StartedAt, r.FinishedAt = created, created.Add(k.cycle)
			}
			if err := tx.RunInsert(ctx, r); err != nil {
				return err
			}
			if k.task == 0 {
				continue
			}
			if err := tx.TaskRunUpsert(ctx, []*store.TaskRun{
				{RunID: k.id, Task: "charge", Index: -1, Status: store.TaskSucceeded, Attempts: 1, StartedAt: created, FinishedAt: created.Add(k.task)},
				{RunID: k.id, Task: "ship", Index: -1, Status: store.TaskSucceeded, Attempts: 1, StartedAt: created, FinishedAt: created.Add(k.task / 10)},
			}); err != nil {
				return err
			}
		}
		return nil
	}))

	var st api.Stats
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/stats?window=24h", nil, &st))
	require.Equal(t, "24h", st.Window)
	require.WithinDuration(t, now.Add(-24*time.Hour), st.Since, 10*time.Second)
	require.Len(t, st.Workflows, 1)
	w := st.Workflows[0]
	require.Equal(t, "sales", w.Namespace)
	require.Equal(t, "orders", w.Workflow)
	require.Equal(t, 5, w.Runs)
	require.Equal(t, 4, w.Finished)
	require.Equal(t, [3]int{2, 1, 1}, [3]int{w.Succeeded, w.Failed, w.Canceled})
	require.InDelta(t, 0.5, *w.SuccessRate, 1e-9)
	require.InDelta(t, 0.5, *w.ExceptionRate, 1e-9)
	require.InDelta(t, 20.0, *w.CycleTimeP50Seconds, 1e-6) // nearest rank 2 of 4
	require.InDelta(t, 40.0, *w.CycleTimeP95Seconds, 1e-6) // rank 4 of 4
	require.Nil(t, w.SLACompliance)
	require.Contains(t, st.Notes[0], "sla_compliance is null")
	require.Equal(t, []api.TaskStats{
		{Task: "charge", Count: 4, P50Seconds: 2, P95Seconds: 4},
		{Task: "ship", Count: 4, P50Seconds: 0.2, P95Seconds: 0.4},
	}, w.SlowestTasks, "slowest first")

	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/stats?window=7d&namespace=sales&workflow=orders", nil, &st))
	require.Equal(t, 6, st.Workflows[0].Runs, "a week takes the older run in")
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/stats?workflow=nothing", nil, &st))
	require.NotNil(t, st.Workflows)
	require.Empty(t, st.Workflows)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/stats?window=30m", nil, &st))
	require.Empty(t, st.Workflows, "nothing created in the last half hour")

	for _, bad := range []string{"0s", "-1h", "soon", "367d", "99999999999d"} {
		e := b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/stats?window="+bad, nil)
		require.Contains(t, e.Error.Message, "window must be a positive duration")
	}
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodGet, "/api/v1/stats", nil, nil))
}
