package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/legatohq/legato/internal/store"
)

// Percentiles are nearest-rank, as in the SQLite driver: the value at
// rank ceil(p·n) of the sorted durations, in integer arithmetic.
const (
	qQueueStats = `SELECT queue, count(*), coalesce(min(not_before) FILTER (WHERE not_before <= $1), '-infinity')
		FROM attempts WHERE status = 'queued' GROUP BY queue ORDER BY queue`
	qRunStats = `WITH w AS (
			SELECT namespace, workflow, status,
				coalesce(sla_breached_at > '-infinity', false) AS breached,
				CASE WHEN status IN ('succeeded', 'failed', 'canceled')
					THEN (extract(epoch FROM finished_at - created_at) * 1000000)::bigint END AS d
			FROM runs
			WHERE created_at >= $3 AND created_at < $4 AND ($1 = '' OR namespace = $1) AND ($2 = '' OR workflow = $2)
		), r AS (
			SELECT namespace, workflow, status, breached, d,
				row_number() OVER (PARTITION BY namespace, workflow, d IS NULL ORDER BY d) AS rn,
				count(d) OVER (PARTITION BY namespace, workflow) AS n
			FROM w
		)
		SELECT namespace, workflow, count(*), count(*) FILTER (WHERE breached AND d IS NOT NULL),
			count(*) FILTER (WHERE status = 'succeeded'),
			count(*) FILTER (WHERE status = 'failed'),
			count(*) FILTER (WHERE status = 'canceled'),
			coalesce(max(d) FILTER (WHERE d IS NOT NULL AND rn = (50 * n + 99) / 100), 0),
			coalesce(max(d) FILTER (WHERE d IS NOT NULL AND rn = (95 * n + 99) / 100), 0)
		FROM r GROUP BY namespace, workflow ORDER BY namespace, workflow`
	// qTaskStats leaves out the aggregate row of a for_each task (its
	// items are counted one by one).
	qTaskStats = `WITH w AS (
			SELECT r.namespace, r.workflow, t.task,
				(extract(epoch FROM t.finished_at - t.started_at) * 1000000)::bigint AS d
			FROM task_runs t JOIN runs r ON r.id = t.run_id
			WHERE r.created_at >= $3 AND r.created_at < $4 AND ($1 = '' OR r.namespace = $1) AND ($2 = '' OR r.workflow = $2)
				AND t.status IN ('succeeded', 'failed') AND t.items = 0
				AND t.started_at > '-infinity' AND t.finished_at > '-infinity'
		), x AS (
			SELECT namespace, workflow, task, d,
				row_number() OVER (PARTITION BY namespace, workflow, task ORDER BY d) AS rn,
				count(*) OVER (PARTITION BY namespace, workflow, task) AS n
			FROM w
		)
		SELECT namespace, workflow, task, max(n),
			max(d) FILTER (WHERE rn = (50 * n + 99) / 100),
			max(d) FILTER (WHERE rn = (95 * n + 99) / 100)
		FROM x GROUP BY namespace, workflow, task ORDER BY namespace, workflow, task`
)

func (t *tx) QueueStats(ctx context.Context, now time.Time) ([]*store.QueueStat, error) {
	rows, err := t.tx.Query(ctx, qQueueStats, tz(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: queue stats: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.QueueStat, error) {
		var q store.QueueStat
		return &q, row.Scan(&q.Queue, &q.Depth, tsCol{&q.OldestDue})
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: queue stats: %w", interpretError(err))
	}
	return out, nil
}

func statsArgs(p *store.StatsParams) []any {
	return []any{p.Namespace, p.Workflow, tz(p.Since), tz(p.Until)}
}

func (t *tx) RunStats(ctx context.Context, p *store.StatsParams) ([]*store.WorkflowStats, error) {
	rows, err := t.tx.Query(ctx, qRunStats, statsArgs(p)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: run stats: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.WorkflowStats, error) {
		var w store.WorkflowStats
		var p50, p95 int64
		err := row.Scan(&w.Namespace, &w.Workflow, &w.Runs, &w.Breached, &w.Succeeded, &w.Failed, &w.Canceled, &p50, &p95)
		w.CycleP50, w.CycleP95 = time.Duration(p50)*time.Microsecond, time.Duration(p95)*time.Microsecond
		return &w, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: run stats: %w", interpretError(err))
	}
	return out, nil
}

func (t *tx) TaskStats(ctx context.Context, p *store.StatsParams) ([]*store.TaskStats, error) {
	rows, err := t.tx.Query(ctx, qTaskStats, statsArgs(p)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: task stats: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.TaskStats, error) {
		var s store.TaskStats
		var p50, p95 int64
		err := row.Scan(&s.Namespace, &s.Workflow, &s.Task, &s.Count, &p50, &p95)
		s.P50, s.P95 = time.Duration(p50)*time.Microsecond, time.Duration(p95)*time.Microsecond
		return &s, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: task stats: %w", interpretError(err))
	}
	return out, nil
}
