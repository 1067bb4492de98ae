package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const (
	qTaskRunList = `SELECT ` + taskRunCols + ` FROM task_runs
		WHERE run_id = $1 ORDER BY task, idx`
	// qTaskRunsRunning reads the partial index task_runs_running: as
	// many rows as the runs of $1 have running task runs.
	qTaskRunsRunning = `SELECT ` + taskRunCols + ` FROM task_runs
		WHERE run_id = ANY($1) AND status = 'running'`
	// qTaskRunUpsert writes every row of a batch in one statement, from one
	// array per column.
	qTaskRunUpsert = `INSERT INTO task_runs (` + taskRunCols + `)
		SELECT run_id, task, idx, status, attempts, output::jsonb, error, items, seq,
			child_run_id, wake_at, started_at, finished_at
		FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[],
			$7::text[], $8::int[], $9::bigint[], $10::text[], $11::timestamptz[],
			$12::timestamptz[], $13::timestamptz[])
			AS u (` + taskRunCols + `)
		ON CONFLICT (run_id, task, idx) DO UPDATE SET status = excluded.status,
			attempts = excluded.attempts, output = excluded.output, error = excluded.error,
			items = excluded.items, seq = excluded.seq, child_run_id = excluded.child_run_id,
			wake_at = excluded.wake_at, started_at = excluded.started_at,
			finished_at = excluded.finished_at`
	qTaskRunDelete = `DELETE FROM task_runs WHERE run_id = $1 AND task = $2 AND idx = $3`
)

// TaskRunList returns the task runs of a run ordered by task, then index.
func (t *tx) TaskRunList(ctx context.Context, runID string) ([]*store.TaskRun, error) {
	return queryAll(ctx, t, scanTaskRun, qTaskRunList, runID)
}

// TaskRunUpsert writes the batch in one statement. A key given twice keeps
// its last row, as one upsert after the other would.
func (t *tx) TaskRunUpsert(ctx context.Context, trs []*store.TaskRun) error {
	if len(trs) == 0 {
		return nil
	}
	type key struct {
		run, task string
		index     int
	}
	at := make(map[key]int, len(trs))
	rows := make([]*store.TaskRun, 0, len(trs))
	for _, tr := range trs {
		k := key{tr.RunID, tr.Task, tr.Index}
		if i, dup := at[k]; dup {
			rows[i] = tr
			continue
		}
		at[k] = len(rows)
		rows = append(rows, tr)
	}

	n := len(rows)
	runIDs, tasks, statuses, errs, children := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	indexes, attempts, items := make([]int, n), make([]int, n), make([]int, n)
	seqs := make([]int64, n)
	for i, tr := range rows {
		runIDs[i], tasks[i], indexes[i], statuses[i], attempts[i] = tr.RunID, tr.Task, tr.Index, string(tr.Status), tr.Attempts
		errs[i], items[i], seqs[i], children[i] = text(tr.Error), tr.Items, tr.Seq, tr.ChildRunID
	}
	outputs, err := jsonArgs(rows, func(tr *store.TaskRun) any { return tr.Output })
	if err != nil {
		return err
	}
	// Held back until the transaction's next statement (pipe).
	t.tx.laterExec(func(err error) error {
		if err != nil {
			return fmt.Errorf("postgres: task run upsert: %w", interpretError(err))
		}
		return nil
	}, qTaskRunUpsert, runIDs, tasks, indexes, statuses, attempts, outputs,
		errs, items, seqs, children,
		tzs(rows, func(tr *store.TaskRun) time.Time { return tr.WakeAt }),
		tzs(rows, func(tr *store.TaskRun) time.Time { return tr.StartedAt }),
		tzs(rows, func(tr *store.TaskRun) time.Time { return tr.FinishedAt }))
	return nil
}

// TaskRunDelete is held back until the transaction's next statement.
func (t *tx) TaskRunDelete(_ context.Context, runID, task string, index int) error {
	t.tx.laterExec(func(err error) error {
		if err != nil {
			return fmt.Errorf("postgres: task run delete: %w", interpretError(err))
		}
		return nil
	}, qTaskRunDelete, runID, task, index)
	return nil
}
