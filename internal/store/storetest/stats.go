package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testQueueStats(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	view(t, s, func(tx store.Tx) {
		qs, err := tx.QueueStats(ctx, at(0))
		require.NoError(t, err)
		require.Empty(t, qs, "no queued attempts, no queues")
	})
	insertRuns(t, s, "r1")
	insertAttempts(t, s,
		newAttempt("r1", "a", -1, "default", at(10*time.Second)),
		newAttempt("r1", "b", -1, "default", at(20*time.Second)),
		newAttempt("r1", "c", -1, "default", at(time.Hour)), // not due yet
		newAttempt("r1", "d", -1, "slow", at(time.Hour)),
		newAttempt("r1", "e", -1, "done", at(0)),
	)
	got := claim(t, s, store.AttemptClaimParams{Queues: []string{"done"}, WorkerID: "w", Limit: 1, Now: at(time.Minute), LeaseFor: time.Minute})
	require.Len(t, got, 1)
	view(t, s, func(tx store.Tx) {
		qs, err := tx.QueueStats(ctx, at(time.Minute))
		require.NoError(t, err)
		require.Equal(t, []*store.QueueStat{
			{Queue: "default", Depth: 3, OldestDue: at(10 * time.Second)},
			{Queue: "slow", Depth: 1},
		}, qs, "a running attempt is not queued; one not due yet counts in depth, not in age")
	})
}

// statsRun is a run with its task runs, for the stats cases.
type statsRun struct {
	id, wf  string
	status  store.RunStatus
	created time.Duration
	cycle   time.Duration // created to finished; ignored unless final
	task    time.Duration // duration of its one task "t" (when > 0)
}

func testStats(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	runs := []statsRun{
		{"s1", "wf", store.RunSucceeded, 0, 1 * time.Second, 100 * time.Millisecond},
		{"s2", "wf", store.RunSucceeded, time.Second, 2 * time.Second, 200 * time.Millisecond},
		{"s3", "wf", store.RunSucceeded, 2 * time.Second, 3 * time.Second, 300 * time.Millisecond},
		{"f1", "wf", store.RunFailed, 3 * time.Second, 10 * time.Second, 400 * time.Millisecond},
		{"c1", "wf", store.RunCanceled, 4 * time.Second, 20 * time.Second, 0},
		{"p1", "wf", store.RunRunning, 5 * time.Second, 0, 0},
		{"o1", "other", store.RunSucceeded, 6 * time.Second, 5 * time.Second, time.Second},
		{"old", "wf", store.RunSucceeded, -time.Hour, time.Hour, time.Hour}, // before the window
	}
	write(t, s, func(tx store.Tx) {
		for _, sr := range runs {
			r := newRun(sr.id, "ns", sr.wf, at(sr.created))
			r.Status = sr.status
			if sr.id == "f1" || sr.id == "p1" {
				r.SLABreachedAt = r.CreatedAt.Add(time.Second) // missed their SLA
			}
			if sr.status.Terminal() {
				r.StartedAt, r.FinishedAt = r.CreatedAt, r.CreatedAt.Add(sr.cycle)
			}
			require.NoError(t, tx.RunInsert(ctx, r))
			if sr.task > 0 {
				start := r.CreatedAt.Add(10 * time.Millisecond)
				require.NoError(t, tx.TaskRunUpsert(ctx, []*store.TaskRun{
					{RunID: sr.id, Task: "t", Index: -1, Status: store.TaskSucceeded, Attempts: 1, StartedAt: start, FinishedAt: start.Add(sr.task)},
					// neither a task run not yet finished nor a for_each aggregate counts
					{RunID: sr.id, Task: "u", Index: -1, Status: store.TaskRunning, Attempts: 1, StartedAt: start},
					{RunID: sr.id, Task: "each", Index: -1, Status: store.TaskSucceeded, Items: 2, StartedAt: start, FinishedAt: start.Add(time.Hour)},
				}))
			}
		}
	})
	p := &store.StatsParams{Since: at(0), Until: at(time.Minute)}
	view(t, s, func(tx store.Tx) {
		ws, err := tx.RunStats(ctx, p)
		require.NoError(t, err)
		require.Equal(t, []*store.WorkflowStats{
			{Namespace: "ns", Workflow: "other", Runs: 1, Succeeded: 1, CycleP50: 5 * time.Second, CycleP95: 5 * time.Second},
			// cycle times 1, 2, 3, 10, 20 s: nearest rank 3 of 5 and 5 of 5
			{Namespace: "ns", Workflow: "wf", Runs: 6, Succeeded: 3, Failed: 1, Canceled: 1, CycleP50: 3 * time.Second, CycleP95: 20 * time.Second, Breached: 1}, // p1 is late but not finished
		}, ws)
		ts, err := tx.TaskStats(ctx, p)
		require.NoError(t, err)
		require.Equal(t, []*store.TaskStats{
			{Namespace: "ns", Workflow: "other", Task: "t", Count: 1, P50: time.Second, P95: time.Second},
			// 100, 200, 300, 400 ms: ranks 2 and 4
			{Namespace: "ns", Workflow: "wf", Task: "t", Count: 4, P50: 200 * time.Millisecond, P95: 400 * time.Millisecond},
		}, ts)

		ws, err = tx.RunStats(ctx, &store.StatsParams{Namespace: "ns", Workflow: "other", Since: at(0), Until: at(time.Minute)})
		require.NoError(t, err)
		require.Len(t, ws, 1)
		require.Equal(t, "other", ws[0].Workflow)
		ws, err = tx.RunStats(ctx, &store.StatsParams{Namespace: "elsewhere", Since: at(0), Until: at(time.Minute)})
		require.NoError(t, err)
		require.Empty(t, ws)
		ts, err = tx.TaskStats(ctx, &store.StatsParams{Workflow: "wf", Since: at(-2 * time.Hour), Until: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, []*store.TaskStats{
			{Namespace: "ns", Workflow: "wf", Task: "t", Count: 5, P50: 300 * time.Millisecond, P95: time.Hour},
		}, ts, "a wider window takes the older run in")
	})
}
