package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/legatohq/legato/internal/store"
)

const (
	// qRunInsert reports a duplicate id by inserting nothing: a unique
	// violation would abort the whole transaction.
	qRunInsert = `INSERT INTO runs (` + runCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
		ON CONFLICT (id) DO NOTHING`
	qRunGet        = `SELECT ` + runCols + ` FROM runs WHERE id = $1`
	qRunGetLocked  = qRunGet + ` FOR UPDATE`
	qRunRevs       = `SELECT id, revision, version FROM runs WHERE id = ANY($1) ORDER BY id`
	qRunRevsLocked = qRunRevs + ` FOR UPDATE`
	qRunUpdate     = `UPDATE runs SET version = $2, status = $3, inputs = $4, outputs = $5,
		error = $6, attempt = $7, compensating = $8, seq = $9, started_at = $10, finished_at = $11,
		deadline = $12, updated_at = $13, sla_breached_at = $14, revision = revision + 1
		WHERE id = $1 RETURNING revision`
	qRunCountActive = `SELECT count(*) FROM runs
		WHERE namespace = $1 AND workflow = $2 AND status IN ('running', 'waiting')`
	qRunNextQueued = `SELECT ` + runCols + ` FROM runs
		WHERE namespace = $1 AND workflow = $2 AND status = 'queued'
		ORDER BY priority DESC, created_at, id LIMIT 1`
	qRunCountActiveKey = `SELECT count(*) FROM runs
		WHERE namespace = $1 AND workflow = $2 AND concurrency_key = $3 AND status IN ('running', 'waiting')`
	qRunNextQueuedKey = `SELECT ` + runCols + ` FROM runs
		WHERE namespace = $1 AND workflow = $2 AND concurrency_key = $3 AND status = 'queued'
		ORDER BY priority DESC, created_at, id LIMIT 1`
)

// runMaps encodes a run's inputs and outputs.
func runMaps(r *store.Run) (inputs, outputs *string, err error) {
	if inputs, err = jsonArg(r.Inputs); err != nil {
		return nil, nil, err
	}
	outputs, err = jsonArg(r.Outputs)
	return inputs, outputs, err
}

// RunInsert stores r; a zero CreatedAt is set to the current time.
func (t *tx) RunInsert(ctx context.Context, r *store.Run) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = truncate(nowFunc())
	}
	inputs, outputs, err := runMaps(r)
	if err != nil {
		return err
	}
	// Held back until the transaction's next statement.
	id := r.ID
	t.tx.later(func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("%w: run %s exists", store.ErrConflict, id)
		}
		if err != nil {
			return fmt.Errorf("postgres: run insert %s: %w", id, interpretError(err))
		}
		return nil
	}, qRunInsert, r.ID, r.Namespace, r.Workflow, r.Version, r.Status,
		inputs, outputs, text(r.Error), r.Attempt, r.Compensating, r.ParentRunID, r.ParentTask,
		r.ParentIndex, r.Seq, tz(r.CreatedAt), tz(r.StartedAt), tz(r.FinishedAt), tz(r.Deadline),
		r.CreatedBy, tz(r.UpdatedAt), tz(r.SLABreachedAt), r.ConcurrencyKey, r.Priority, r.Revision)
	return nil
}

// RunGet inside Tx locks the run's row until the transaction ends (FOR
// UPDATE): transitions of one run are serialized across servers.
func (t *tx) RunGet(ctx context.Context, id string) (*store.Run, error) {
	q := qRunGet
	if t.write {
		q = qRunGetLocked
	}
	r, err := scanRun(t.tx.QueryRow(ctx, q, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: run %s: %w", id, interpretError(err))
	}
	return r, nil
}

// RunRevisions sends its two reads in one batch (with what the pipe
// holds): the runs, locked in id order, then their running task runs.
func (t *tx) RunRevisions(ctx context.Context, ids []string) ([]store.RunRevision, []*store.TaskRun, error) {
	q := qRunRevs
	if t.write {
		q = qRunRevsLocked
	}
	var revs []store.RunRevision
	t.tx.later(func(br pgx.BatchResults) error {
		rows, _ := br.Query()
		var err error
		revs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RunRevision, error) {
			var rr store.RunRevision
			return rr, r.Scan(&rr.ID, &rr.Revision, &rr.Version)
		})
		if err != nil {
			return fmt.Errorf("postgres: run revisions: %w", interpretError(err))
		}
		return nil
	}, q, ids)
	br, err := t.tx.send(ctx, qTaskRunsRunning, ids)
	if err != nil {
		return nil, nil, err
	}
	rows, _ := br.Query()
	running, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.TaskRun, error) { return scanTaskRun(r) })
	if err = errors.Join(err, br.Close()); err != nil {
		return nil, nil, fmt.Errorf("postgres: running task runs: %w", interpretError(err))
	}
	return revs, running, nil
}

// RunUpdate writes the mutable fields of r: all but ID, Namespace,
// Workflow, the parent fields, CreatedAt and CreatedBy.
func (t *tx) RunUpdate(ctx context.Context, r *store.Run) error {
	inputs, outputs, err := runMaps(r)
	if err != nil {
		return err
	}
	// Held back until the transaction's next statement (pipe), which reads
	// the new revision into r: by the commit, r.Revision is the row's.
	t.tx.later(func(br pgx.BatchResults) error {
		if err := br.QueryRow().Scan(&r.Revision); err != nil {
			return fmt.Errorf("postgres: run update %s: %w", r.ID, interpretError(err))
		}
		return nil
	}, qRunUpdate, r.ID, r.Version, r.Status, inputs, outputs,
		text(r.Error), r.Attempt, r.Compensating, r.Seq, tz(r.StartedAt), tz(r.FinishedAt),
		tz(r.Deadline), tz(r.UpdatedAt), tz(r.SLABreachedAt))
	return nil
}

// RunList builds its WHERE clause from the filters set in p.
func (t *tx) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	var args params
	var conds []string
	if p.Namespace != "" {
		conds = append(conds, "namespace = "+args.add(p.Namespace))
	}
	if p.Workflow != "" {
		conds = append(conds, "workflow = "+args.add(p.Workflow))
	}
	if p.Status != "" {
		conds = append(conds, "status = "+args.add(p.Status))
	}
	if p.ParentID != "" {
		conds = append(conds, "parent_run_id = "+args.add(p.ParentID))
	}
	if !p.Before.IsZero() {
		conds = append(conds, "created_at < "+args.add(tz(p.Before)))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + runCols + ` FROM runs`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + args.add(limit)
	return queryAll(ctx, t, scanRun, q, args...)
}

// RunCountActive inside Tx first takes an advisory lock on the workflow,
// held until the transaction ends: two transactions cannot both count the
// last free concurrency slot.
func (t *tx) RunCountActive(ctx context.Context, namespace, workflow string) (int, error) {
	if err := t.lock(ctx, lockWorkflow, namespace+"/"+workflow); err != nil {
		return 0, fmt.Errorf("postgres: run count: %w", err)
	}
	var n int
	if err := t.tx.QueryRow(ctx, qRunCountActive, namespace, workflow).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: run count: %w", interpretError(err))
	}
	return n, nil
}

func (t *tx) RunNextQueued(ctx context.Context, namespace, workflow string) (*store.Run, error) {
	r, err := scanRun(t.tx.QueryRow(ctx, qRunNextQueued, namespace, workflow))
	if err != nil {
		return nil, fmt.Errorf("postgres: next queued run of %s/%s: %w", namespace, workflow, interpretError(err))
	}
	return r, nil
}

// RunCountActiveKey inside Tx first takes an advisory lock on (workflow,
// key), held until the transaction ends: two transactions cannot both
// count the last free slot of a key.
func (t *tx) RunCountActiveKey(ctx context.Context, namespace, workflow, key string) (int, error) {
	if err := t.lock(ctx, lockConcurrencyKey, namespace+"/"+workflow+"#"+key); err != nil {
		return 0, fmt.Errorf("postgres: run count: %w", err)
	}
	var n int
	if err := t.tx.QueryRow(ctx, qRunCountActiveKey, namespace, workflow, key).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: run count: %w", interpretError(err))
	}
	return n, nil
}

func (t *tx) RunNextQueuedKey(ctx context.Context, namespace, workflow, key string) (*store.Run, error) {
	r, err := scanRun(t.tx.QueryRow(ctx, qRunNextQueuedKey, namespace, workflow, key))
	if err != nil {
		return nil, fmt.Errorf("postgres: next queued run of %s/%s key %q: %w", namespace, workflow, key, interpretError(err))
	}
	return r, nil
}
