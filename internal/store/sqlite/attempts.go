package sqlite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const attemptCols = `id, run_id, task, idx, number, namespace, workflow, queue, type, params,
	timeout_ns, status, not_before, lease_token, lease_expires_at, worker_id, cancel_requested,
	created_at, started_at, finished_at, error, priority, resource`

var (
	qAttemptInsert = prep(`INSERT INTO attempts (run_id, task, idx, number, namespace, workflow,
		queue, type, params, timeout_ns, status, not_before, lease_token, lease_expires_at,
		worker_id, cancel_requested, created_at, started_at, finished_at, error, priority, resource)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qAttemptGet       = prep(`SELECT ` + attemptCols + ` FROM attempts WHERE id = ?`)
	qAttemptHeartbeat = prep(`UPDATE attempts SET lease_expires_at =
			CASE WHEN cancel_requested THEN lease_expires_at ELSE ? END
		WHERE id = ? AND lease_token = ? AND status = 'running'
		RETURNING cancel_requested`)
	qAttemptFinish = prep(`UPDATE attempts SET status = ?, error = ?, finished_at = ?
		WHERE id = ? AND lease_token = ? AND status = 'running' AND (NOT cancel_requested OR ?1 = 'canceled')
		RETURNING ` + attemptCols)
	qAttemptListExpired = prep(`SELECT ` + attemptCols + ` FROM attempts
		WHERE status = 'running' AND lease_expires_at < ?
		ORDER BY lease_expires_at, id LIMIT ?`)
	qAttemptExpire = prep(`UPDATE attempts SET status = 'failed', error = ?, finished_at = ?
		WHERE id = ? AND lease_token = ? AND status = 'running' AND lease_expires_at < ?`)
	qAttemptRelease = prep(`UPDATE attempts SET status = 'failed', error = ?, finished_at = ?
		WHERE id = ? AND lease_token = ? AND status = 'running'`)
	qAttemptCancelQueuedRun = prep(`UPDATE attempts SET status = 'canceled', finished_at = ?
		WHERE run_id = ? AND status = 'queued'`)
	qAttemptCancelQueuedTask = prep(`UPDATE attempts SET status = 'canceled', finished_at = ?
		WHERE run_id = ? AND task = ? AND idx = ? AND status = 'queued'`)
	qAttemptFlagRun = prep(`UPDATE attempts SET cancel_requested = 1
		WHERE run_id = ? AND status = 'running' RETURNING ` + attemptCols)
	qAttemptFlagTask = prep(`UPDATE attempts SET cancel_requested = 1
		WHERE run_id = ? AND task = ? AND idx = ? AND status = 'running' RETURNING ` + attemptCols)
)

func scanAttempt(sc scanner) (*store.Attempt, error) {
	var a store.Attempt
	var timeout int64
	err := sc.Scan(&a.ID, &a.RunID, &a.Task, &a.Index, &a.Number, &a.Namespace, &a.Workflow,
		&a.Queue, &a.Type, jsonCol{&a.Params}, &timeout, &a.Status, microTime{&a.NotBefore},
		&a.LeaseToken, microTime{&a.LeaseExpiresAt}, &a.WorkerID, &a.CancelRequested,
		microTime{&a.CreatedAt}, microTime{&a.StartedAt}, microTime{&a.FinishedAt}, &a.Error, &a.Priority, &a.Resource)
	if err != nil {
		return nil, err
	}
	a.Timeout = time.Duration(timeout)
	return &a, nil
}

// AttemptInsert stores a and sets its ID. A zero Status is queued, a zero
// CreatedAt the current time, and a zero NotBefore CreatedAt, so that
// AttemptNextDue never mistakes a due attempt for none.
func (t *tx) AttemptInsert(ctx context.Context, a *store.Attempt) error {
	if a.Status == "" {
		a.Status = store.AttemptQueued
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = fromMicros(toMicros(nowFunc()))
	}
	if a.NotBefore.IsZero() {
		a.NotBefore = a.CreatedAt
	}
	params, err := toJSON(a.Params)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, qAttemptInsert, a.RunID, a.Task, a.Index, a.Number, a.Namespace,
		a.Workflow, a.Queue, a.Type, params, int64(a.Timeout), a.Status, toMicros(a.NotBefore),
		a.LeaseToken, toMicros(a.LeaseExpiresAt), a.WorkerID, a.CancelRequested,
		toMicros(a.CreatedAt), toMicros(a.StartedAt), toMicros(a.FinishedAt), a.Error, a.Priority, a.Resource)
	if err != nil {
		return fmt.Errorf("sqlite: attempt insert: %w", interpretError(err))
	}
	if a.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("sqlite: attempt insert: %w", err)
	}
	return nil
}

func (t *tx) AttemptGet(ctx context.Context, id int64) (*store.Attempt, error) {
	a, err := scanAttempt(t.queryRow(ctx, qAttemptGet, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt %d: %w", id, interpretError(err))
	}
	return a, nil
}

// AttemptClaim takes three statements whatever the number of attempts
// (five under limits): pick the due ones, lease each with its own token,
// mark their task runs. Under limits it reads a window of candidates past
// the blocked queues, types and resources and keeps those the budget allows.
func (t *tx) AttemptClaim(ctx context.Context, p *store.AttemptClaimParams) ([]*store.Attempt, error) {
	if len(p.Queues) == 0 || p.Limit <= 0 {
		return nil, nil
	}
	budget, err := t.budget(ctx, p.Now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: %w", err)
	}
	now := toMicros(budget.Now())
	where, args := queuedFilter(p.Queues, p.Types, budget)
	window := p.Limit
	if !budget.Empty() {
		window = min(4*p.Limit+16, 1000)
	}
	args = append(args, now, window)
	// The claim order's index, named: the planner would otherwise take the
	// (status, queue, not_before) one for the range and sort every due
	// attempt at each claim, which a deep queue makes quadratic.
	rows, err := t.query(ctx, `SELECT id, queue, type, resource FROM attempts INDEXED BY attempts_claim_priority
		WHERE `+where+` AND not_before <= ?
		ORDER BY priority DESC, not_before, id LIMIT ?`, args...)
	cands, err := collect(rows, err, func(sc scanner) (*store.Attempt, error) {
		var a store.Attempt
		return &a, sc.Scan(&a.ID, &a.Queue, &a.Type, &a.Resource)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: %w", err)
	}
	var ids []*int64
	for _, a := range cands {
		if len(ids) < p.Limit && budget.Take(a.Queue, a.Type, a.Resource) {
			ids = append(ids, &a.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	for _, l := range budget.Taken() {
		if _, err := t.exec(ctx, qLimitBucket, l.Tokens, toMicros(l.RefilledAt), l.Kind, l.Name); err != nil {
			return nil, fmt.Errorf("sqlite: attempt claim: bucket: %w", interpretError(err))
		}
	}

	expires := toMicros(budget.Now().Add(p.LeaseFor))
	args = args[:0]
	values := make([]string, len(ids))
	for i, id := range ids {
		values[i] = "(?, ?)"
		args = append(args, *id, newToken())
	}
	args = append(args, now, expires, p.WorkerID)
	rows, err = t.query(ctx, `WITH claim (id, token) AS (VALUES `+strings.Join(values, ", ")+`)
		UPDATE attempts SET status = 'running', lease_token = claim.token, started_at = ?,
			lease_expires_at = ?, worker_id = ?
		FROM claim WHERE attempts.id = claim.id
		RETURNING `+qualify("attempts", attemptCols), args...)
	claimed, err := collect(rows, err, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: %w", err)
	}
	slices.SortFunc(claimed, func(a, b *store.Attempt) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})

	args = args[:0]
	args = append(args, store.TaskRunning, now)
	for _, id := range ids {
		args = append(args, *id)
	}
	_, err = t.exec(ctx, `UPDATE task_runs SET status = ?,
			started_at = CASE WHEN task_runs.started_at = 0 THEN ? ELSE task_runs.started_at END
		FROM attempts a
		WHERE a.id IN (`+placeholders(len(ids))+`)
			AND task_runs.run_id = a.run_id AND task_runs.task = a.task AND task_runs.idx = a.idx`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: task runs: %w", interpretError(err))
	}
	return claimed, nil
}

// qualify prefixes each column of a comma-separated list with table.
func qualify(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// AttemptHeartbeat extends the lease unless a cancel was requested: then
// it reports cancel and leaves the lease to run out.
func (t *tx) AttemptHeartbeat(ctx context.Context, id int64, token string, until time.Time) (bool, error) {
	var cancel bool
	err := t.queryRow(ctx, qAttemptHeartbeat, toMicros(until), id, token).Scan(&cancel)
	if err = interpretError(err); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = store.ErrStaleLease
		}
		return false, fmt.Errorf("sqlite: attempt %d heartbeat: %w", id, err)
	}
	return cancel, nil
}

// AttemptFinish returns the attempt as it is once finished.
func (t *tx) AttemptFinish(ctx context.Context, p *store.AttemptFinishParams) (*store.Attempt, error) {
	if p.Status != store.AttemptSucceeded && p.Status != store.AttemptFailed && p.Status != store.AttemptCanceled {
		return nil, fmt.Errorf("sqlite: attempt %d finish: status %q is not succeeded, failed or canceled", p.ID, p.Status)
	}
	a, err := scanAttempt(t.queryRow(ctx, qAttemptFinish, p.Status, p.Error, toMicros(p.Now), p.ID, p.Token))
	if err = interpretError(err); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = store.ErrStaleLease
		}
		return nil, fmt.Errorf("sqlite: attempt %d finish: %w", p.ID, err)
	}
	return a, nil
}

// AttemptCancel stamps canceled queued attempts with the current time.
func (t *tx) AttemptCancel(ctx context.Context, runID, task string, index int) ([]*store.Attempt, error) {
	now := toMicros(nowFunc())
	var err error
	if task == "" {
		_, err = t.exec(ctx, qAttemptCancelQueuedRun, now, runID)
	} else {
		_, err = t.exec(ctx, qAttemptCancelQueuedTask, now, runID, task, index)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt cancel: %w", interpretError(err))
	}
	var flagged []*store.Attempt
	if task == "" {
		rows, qerr := t.query(ctx, qAttemptFlagRun, runID)
		flagged, err = collect(rows, qerr, scanAttempt)
	} else {
		rows, qerr := t.query(ctx, qAttemptFlagTask, runID, task, index)
		flagged, err = collect(rows, qerr, scanAttempt)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt cancel: %w", err)
	}
	slices.SortFunc(flagged, func(a, b *store.Attempt) int { return cmp.Compare(a.ID, b.ID) })
	return flagged, nil
}

// AttemptListExpired returns expired leases, longest expired first; a limit
// <= 0 means no limit.
func (t *tx) AttemptListExpired(ctx context.Context, now time.Time, limit int) ([]*store.Attempt, error) {
	rows, err := t.query(ctx, qAttemptListExpired, toMicros(now), limitOrAll(limit))
	return collect(rows, err, scanAttempt)
}

func (t *tx) AttemptExpire(ctx context.Context, id int64, token string, now time.Time, errMsg string) error {
	n := toMicros(now)
	res, err := t.exec(ctx, qAttemptExpire, errMsg, n, id, token, n)
	if err == nil {
		err = mustAffect(res)
	}
	if err = interpretError(err); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = store.ErrStaleLease
		}
		return fmt.Errorf("sqlite: attempt %d expire: %w", id, err)
	}
	return nil
}

func (t *tx) AttemptRelease(ctx context.Context, id int64, token string, now time.Time, errMsg string) error {
	res, err := t.exec(ctx, qAttemptRelease, errMsg, toMicros(now), id, token)
	if err == nil {
		err = mustAffect(res)
	}
	if err = interpretError(err); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = store.ErrStaleLease
		}
		return fmt.Errorf("sqlite: attempt %d release: %w", id, err)
	}
	return nil
}

// AttemptNextDue leaves out the attempts of blocked queues, types and
// resources, and adds when each empty bucket holding due attempts refills.
func (t *tx) AttemptNextDue(ctx context.Context, queues, types []string) (time.Time, error) {
	if len(queues) == 0 {
		return time.Time{}, nil
	}
	budget, err := t.budget(ctx, nowFunc())
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
	}
	minDue := func(extra string, extraArgs []any, b *store.Budget) (time.Time, error) {
		where, args := queuedFilter(queues, types, b)
		var next *int64
		err := t.queryRow(ctx, `SELECT min(not_before) FROM attempts WHERE `+where+extra, append(args, extraArgs...)...).Scan(&next)
		if err != nil || next == nil {
			return time.Time{}, interpretError(err)
		}
		return fromMicros(*next), nil
	}
	next, err := minDue("", nil, budget)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
	}
	for _, w := range budget.Waits() {
		due, err := minDue(" AND "+string(w.Kind)+" = ?", []any{w.Name}, nil)
		if err != nil {
			return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
		}
		next = store.EarliestWait(next, due, w.At)
	}
	if fq, ft, fr := budget.Full(); len(fq)+len(ft)+len(fr) > 0 {
		var conds []string
		var args []any
		for col, names := range map[string][]string{"queue": fq, "type": ft, "resource": fr} {
			if len(names) > 0 {
				conds = append(conds, col+` IN (`+placeholders(len(names))+`)`)
				for _, n := range names {
					args = append(args, n)
				}
			}
		}
		due, err := minDue(" AND ("+strings.Join(conds, " OR ")+")", args, nil)
		if err != nil {
			return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
		}
		next = store.EarliestWait(next, due, nowFunc().Add(store.LimitRecheck))
	}
	return next, nil
}

// queuedFilter is the WHERE clause of the queued attempts of queues and
// types (any when empty) outside what b blocks (nothing when b is nil).
func queuedFilter(queues, types []string, b *store.Budget) (string, []any) {
	var args []any
	in := func(col, op string, vals []string) string {
		if len(vals) == 0 {
			return ""
		}
		for _, v := range vals {
			args = append(args, v)
		}
		return ` AND ` + col + ` ` + op + ` (` + placeholders(len(vals)) + `)`
	}
	where := `status = 'queued'` + in("queue", "IN", queues) + in("type", "IN", types)
	if b != nil {
		bq, bt, br := b.Blocked()
		where += in("queue", "NOT IN", bq) + in("type", "NOT IN", bt) + in("resource", "NOT IN", br)
	}
	return where, args
}
