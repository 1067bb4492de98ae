package sqlite

import (
	"context"
	"fmt"

	"github.com/legatohq/legato/internal/store"
)

const taskRunCols = `run_id, task, idx, status, attempts, output, error, items, seq,
	child_run_id, wake_at, started_at, finished_at`

var (
	qTaskRunList = prep(`SELECT ` + taskRunCols + ` FROM task_runs
		WHERE run_id = ? ORDER BY task, idx`)
	// qTaskRunsRunning reads the partial index task_runs_running for the
	// runs of ?, a JSON array: as many rows as they have running task
	// runs, not all of their task runs.
	qTaskRunsRunning = prep(`SELECT ` + taskRunCols + ` FROM task_runs
		WHERE run_id IN (SELECT value FROM json_each(?)) AND status = 'running'`)
	qTaskRunUpsert = prep(`INSERT INTO task_runs (` + taskRunCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, task, idx) DO UPDATE SET status = excluded.status,
			attempts = excluded.attempts, output = excluded.output, error = excluded.error,
			items = excluded.items, seq = excluded.seq, child_run_id = excluded.child_run_id,
			wake_at = excluded.wake_at, started_at = excluded.started_at,
			finished_at = excluded.finished_at`)
	qTaskRunDelete = prep(`DELETE FROM task_runs WHERE run_id = ? AND task = ? AND idx = ?`)
)

func scanTaskRun(sc scanner) (*store.TaskRun, error) {
	var tr store.TaskRun
	err := sc.Scan(&tr.RunID, &tr.Task, &tr.Index, &tr.Status, &tr.Attempts, jsonCol{&tr.Output},
		&tr.Error, &tr.Items, &tr.Seq, &tr.ChildRunID, microTime{&tr.WakeAt},
		microTime{&tr.StartedAt}, microTime{&tr.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &tr, nil
}

// TaskRunList returns the task runs of a run ordered by task, then index.
func (t *tx) TaskRunList(ctx context.Context, runID string) ([]*store.TaskRun, error) {
	rows, err := t.query(ctx, qTaskRunList, runID)
	return collect(rows, err, scanTaskRun)
}

// TaskRunUpsert runs one prepared statement per row: inside the
// transaction on an embedded database this costs no round trip.
func (t *tx) TaskRunUpsert(ctx context.Context, trs []*store.TaskRun) error {
	if len(trs) == 0 {
		return nil
	}
	st := t.stmt(ctx, qTaskRunUpsert)
	for _, tr := range trs {
		out, err := toJSON(tr.Output)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, tr.RunID, tr.Task, tr.Index, tr.Status, tr.Attempts, out,
			tr.Error, tr.Items, tr.Seq, tr.ChildRunID, toMicros(tr.WakeAt), toMicros(tr.StartedAt),
			toMicros(tr.FinishedAt))
		if err != nil {
			return fmt.Errorf("sqlite: task run upsert %s: %w",
				store.IdempotencyKey(tr.RunID, tr.Task, tr.Index), interpretError(err))
		}
	}
	return nil
}

func (t *tx) TaskRunDelete(ctx context.Context, runID, task string, index int) error {
	if _, err := t.exec(ctx, qTaskRunDelete, runID, task, index); err != nil {
		return fmt.Errorf("sqlite: task run delete: %w", interpretError(err))
	}
	return nil
}
