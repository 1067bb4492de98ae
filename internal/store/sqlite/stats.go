package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// Percentiles are nearest-rank: the value at rank ceil(p·n) of the sorted
// durations, with ceil written in integer arithmetic ((p·n + 99) / 100) so
// that both drivers share the formula.
const (
	qQueueStats = `SELECT queue, count(*), coalesce(min(CASE WHEN not_before <= ? THEN not_before END), 0)
		FROM attempts WHERE status = 'queued' GROUP BY queue ORDER BY queue`
	qRunStats = `WITH w AS (
			SELECT namespace, workflow, status, sla_breached_at <> 0 AS breached,
				CASE WHEN status IN ('succeeded', 'failed', 'canceled') THEN finished_at - created_at END AS d
			FROM runs
			WHERE created_at >= ?3 AND created_at < ?4 AND (?1 = '' OR namespace = ?1) AND (?2 = '' OR workflow = ?2)
		), r AS (
			SELECT namespace, workflow, status, breached, d,
				row_number() OVER (PARTITION BY namespace, workflow, d IS NULL ORDER BY d) AS rn,
				count(d) OVER (PARTITION BY namespace, workflow) AS n
			FROM w
		)
		SELECT namespace, workflow, count(*), sum(breached AND d IS NOT NULL),
			sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END),
			sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
			sum(CASE WHEN status = 'canceled' THEN 1 ELSE 0 END),
			coalesce(max(CASE WHEN d IS NOT NULL AND rn = (50 * n + 99) / 100 THEN d END), 0),
			coalesce(max(CASE WHEN d IS NOT NULL AND rn = (95 * n + 99) / 100 THEN d END), 0)
		FROM r GROUP BY namespace, workflow ORDER BY namespace, workflow`
	// qTaskStats leaves out the aggregate row of a for_each task (its
	// items are counted one by one).
	qTaskStats = `WITH w AS (
			SELECT r.namespace, r.workflow, t.task, t.finished_at - t.started_at AS d
			FROM task_runs t JOIN runs r ON r.id = t.run_id
			WHERE r.created_at >= ?3 AND r.created_at < ?4 AND (?1 = '' OR r.namespace = ?1) AND (?2 = '' OR r.workflow = ?2)
				AND t.status IN ('succeeded', 'failed') AND t.items = 0 AND t.started_at <> 0 AND t.finished_at <> 0
		), x AS (
			SELECT namespace, workflow, task, d,
				row_number() OVER (PARTITION BY namespace, workflow, task ORDER BY d) AS rn,
				count(*) OVER (PARTITION BY namespace, workflow, task) AS n
			FROM w
		)
		SELECT namespace, workflow, task, max(n),
			max(CASE WHEN rn = (50 * n + 99) / 100 THEN d END),
			max(CASE WHEN rn = (95 * n + 99) / 100 THEN d END)
		FROM x GROUP BY namespace, workflow, task ORDER BY namespace, workflow, task`
)

func (t *tx) QueueStats(ctx context.Context, now time.Time) ([]*store.QueueStat, error) {
	rows, err := t.query(ctx, qQueueStats, toMicros(now))
	out, err := collect(rows, err, func(sc scanner) (*store.QueueStat, error) {
		var q store.QueueStat
		return &q, sc.Scan(&q.Queue, &q.Depth, microTime{&q.OldestDue})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	return out, nil
}

// statsArgs: ?1 and ?2 are the namespace and workflow filters, ?3 and ?4
// the window.
func statsArgs(p *store.StatsParams) []any {
	return []any{p.Namespace, p.Workflow, toMicros(p.Since), toMicros(p.Until)}
}

func (t *tx) RunStats(ctx context.Context, p *store.StatsParams) ([]*store.WorkflowStats, error) {
	rows, err := t.query(ctx, qRunStats, statsArgs(p)...)
	out, err := collect(rows, err, func(sc scanner) (*store.WorkflowStats, error) {
		var w store.WorkflowStats
		var p50, p95 int64
		err := sc.Scan(&w.Namespace, &w.Workflow, &w.Runs, &w.Breached, &w.Succeeded, &w.Failed, &w.Canceled, &p50, &p95)
		w.CycleP50, w.CycleP95 = time.Duration(p50)*time.Microsecond, time.Duration(p95)*time.Microsecond
		return &w, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: run stats: %w", err)
	}
	return out, nil
}

func (t *tx) TaskStats(ctx context.Context, p *store.StatsParams) ([]*store.TaskStats, error) {
	rows, err := t.query(ctx, qTaskStats, statsArgs(p)...)
	out, err := collect(rows, err, func(sc scanner) (*store.TaskStats, error) {
		var s store.TaskStats
		var p50, p95 int64
		err := sc.Scan(&s.Namespace, &s.Workflow, &s.Task, &s.Count, &p50, &p95)
		s.P50, s.P95 = time.Duration(p50)*time.Microsecond, time.Duration(p95)*time.Microsecond
		return &s, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: task stats: %w", err)
	}
	return out, nil
}
