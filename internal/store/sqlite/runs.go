package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/legatohq/legato/internal/store"
)

const runCols = `id, namespace, workflow, version, status, inputs, outputs, error, attempt,
	compensating, parent_run_id, parent_task, parent_index, seq, created_at, started_at,
	finished_at, deadline, created_by, updated_at, sla_breached_at, concurrency_key, priority, revision`

var (
	qRunInsert = prep(`INSERT INTO runs (` + runCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qRunGet  = prep(`SELECT ` + runCols + ` FROM runs WHERE id = ?`)
	qRunRevs = prep(`SELECT id, revision, version FROM runs
		WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`)
	qRunUpdate = prep(`UPDATE runs SET version = ?, status = ?, inputs = ?, outputs = ?,
		error = ?, attempt = ?, compensating = ?, seq = ?, started_at = ?, finished_at = ?,
		deadline = ?, updated_at = ?, sla_breached_at = ?, revision = revision + 1
		WHERE id = ? RETURNING revision`)
	// qRunUpdateSame is qRunUpdate for a run whose status is unchanged
	// (most of a run's updates): the status is left out of its SET, so
	// SQLite leaves the two indexes that hold it alone.
	qRunUpdateSame = prep(`UPDATE runs SET version = ?, inputs = ?, outputs = ?,
		error = ?, attempt = ?, compensating = ?, seq = ?, started_at = ?, finished_at = ?,
		deadline = ?, updated_at = ?, sla_breached_at = ?, revision = revision + 1
		WHERE id = ? AND status = ? RETURNING revision`)
	qRunCountActive = prep(`SELECT count(*) FROM runs
		WHERE namespace = ? AND workflow = ? AND status IN ('running', 'waiting')`)
	qRunNextQueued = prep(`SELECT ` + runCols + ` FROM runs
		WHERE namespace = ? AND workflow = ? AND status = 'queued'
		ORDER BY priority DESC, created_at, id LIMIT 1`)
	qRunCountActiveKey = prep(`SELECT count(*) FROM runs
		WHERE namespace = ? AND workflow = ? AND concurrency_key = ? AND status IN ('running', 'waiting')`)
	qRunNextQueuedKey = prep(`SELECT ` + runCols + ` FROM runs
		WHERE namespace = ? AND workflow = ? AND concurrency_key = ? AND status = 'queued'
		ORDER BY priority DESC, created_at, id LIMIT 1`)
)

func scanRun(sc scanner) (*store.Run, error) {
	var r store.Run
	err := sc.Scan(&r.ID, &r.Namespace, &r.Workflow, &r.Version, &r.Status, jsonCol{&r.Inputs},
		jsonCol{&r.Outputs}, &r.Error, &r.Attempt, &r.Compensating, &r.ParentRunID, &r.ParentTask,
		&r.ParentIndex, &r.Seq, microTime{&r.CreatedAt}, microTime{&r.StartedAt},
		microTime{&r.FinishedAt}, microTime{&r.Deadline}, &r.CreatedBy, microTime{&r.UpdatedAt},
		microTime{&r.SLABreachedAt}, &r.ConcurrencyKey, &r.Priority, &r.Revision)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RunInsert stores r; a zero CreatedAt is set to the current time.
func (t *tx) RunInsert(ctx context.Context, r *store.Run) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = fromMicros(toMicros(nowFunc()))
	}
	inputs, err := toJSON(r.Inputs)
	if err != nil {
		return err
	}
	outputs, err := toJSON(r.Outputs)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, qRunInsert, r.ID, r.Namespace, r.Workflow, r.Version, r.Status, inputs,
		outputs, r.Error, r.Attempt, r.Compensating, r.ParentRunID, r.ParentTask, r.ParentIndex,
		r.Seq, toMicros(r.CreatedAt), toMicros(r.StartedAt), toMicros(r.FinishedAt),
		toMicros(r.Deadline), r.CreatedBy, toMicros(r.UpdatedAt), toMicros(r.SLABreachedAt), r.ConcurrencyKey, r.Priority,
		r.Revision)
	if err != nil {
		return fmt.Errorf("sqlite: run insert %s: %w", r.ID, interpretError(err))
	}
	return nil
}

func (t *tx) RunGet(ctx context.Context, id string) (*store.Run, error) {
	r, err := scanRun(t.queryRow(ctx, qRunGet, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: run %s: %w", id, interpretError(err))
	}
	return r, nil
}

// RunUpdate writes the mutable fields of r: all but ID, Namespace,
// Workflow, the parent fields, CreatedAt and CreatedBy; and increments
// its revision.
func (t *tx) RunRevisions(ctx context.Context, ids []string) ([]store.RunRevision, []*store.TaskRun, error) {
	list := jsonList(ids)
	rows, err := t.query(ctx, qRunRevs, list)
	revs, err := collect(rows, err, func(sc scanner) (*store.RunRevision, error) {
		var r store.RunRevision
		return &r, sc.Scan(&r.ID, &r.Revision, &r.Version)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: run revisions: %w", err)
	}
	rows, err = t.query(ctx, qTaskRunsRunning, list)
	running, err := collect(rows, err, scanTaskRun)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: running task runs: %w", err)
	}
	out := make([]store.RunRevision, len(revs))
	for i, r := range revs {
		out[i] = *r
	}
	return out, running, nil
}

func (t *tx) RunUpdate(ctx context.Context, r *store.Run) error {
	inputs, err := toJSON(r.Inputs)
	if err != nil {
		return err
	}
	outputs, err := toJSON(r.Outputs)
	if err != nil {
		return err
	}
	err = sql.ErrNoRows
	if r.Status == store.RunRunning {
		// Most updates of a running run leave it running; the others
		// change the status (a run that ends) more often than not.
		err = t.queryRow(ctx, qRunUpdateSame, r.Version, inputs, outputs, r.Error, r.Attempt,
			r.Compensating, r.Seq, toMicros(r.StartedAt), toMicros(r.FinishedAt), toMicros(r.Deadline),
			toMicros(r.UpdatedAt), toMicros(r.SLABreachedAt), r.ID, r.Status).Scan(&r.Revision)
	}
	if errors.Is(err, sql.ErrNoRows) {
		// The status changed, or it was not tried without (or the run
		// is not there).
		err = t.queryRow(ctx, qRunUpdate, r.Version, r.Status, inputs, outputs, r.Error, r.Attempt,
			r.Compensating, r.Seq, toMicros(r.StartedAt), toMicros(r.FinishedAt), toMicros(r.Deadline),
			toMicros(r.UpdatedAt), toMicros(r.SLABreachedAt), r.ID).Scan(&r.Revision)
	}
	if err != nil {
		return fmt.Errorf("sqlite: run update %s: %w", r.ID, interpretError(err))
	}
	return nil
}

func (t *tx) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if p.Namespace != "" {
		add("namespace = ?", p.Namespace)
	}
	if p.Workflow != "" {
		add("workflow = ?", p.Workflow)
	}
	if p.Status != "" {
		add("status = ?", p.Status)
	}
	if p.ParentID != "" {
		add("parent_run_id = ?", p.ParentID)
	}
	if !p.Before.IsZero() {
		add("created_at < ?", toMicros(p.Before))
	}
	q := `SELECT ` + runCols + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, scanRun)
}

func (t *tx) RunCountActive(ctx context.Context, namespace, workflow string) (int, error) {
	var n int
	if err := t.queryRow(ctx, qRunCountActive, namespace, workflow).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: run count: %w", interpretError(err))
	}
	return n, nil
}

func (t *tx) RunNextQueued(ctx context.Context, namespace, workflow string) (*store.Run, error) {
	r, err := scanRun(t.queryRow(ctx, qRunNextQueued, namespace, workflow))
	if err != nil {
		return nil, fmt.Errorf("sqlite: next queued run of %s/%s: %w", namespace, workflow, interpretError(err))
	}
	return r, nil
}

// RunCountActiveKey needs no lock: SQLite serializes write transactions.
func (t *tx) RunCountActiveKey(ctx context.Context, namespace, workflow, key string) (int, error) {
	var n int
	if err := t.queryRow(ctx, qRunCountActiveKey, namespace, workflow, key).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: run count: %w", interpretError(err))
	}
	return n, nil
}

func (t *tx) RunNextQueuedKey(ctx context.Context, namespace, workflow, key string) (*store.Run, error) {
	r, err := scanRun(t.queryRow(ctx, qRunNextQueuedKey, namespace, workflow, key))
	if err != nil {
		return nil, fmt.Errorf("sqlite: next queued run of %s/%s key %q: %w", namespace, workflow, key, interpretError(err))
	}
	return r, nil
}
