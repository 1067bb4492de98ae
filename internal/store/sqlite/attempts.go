package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// qAttemptFinishAll finishes the attempts of a JSON array of
	// {"i": id, "t": token, "s": status, "e": error, "n": micros}.
	qAttemptFinishAll = prep(`UPDATE attempts SET status = p.value ->> 's', error = p.value ->> 'e',
			finished_at = p.value ->> 'n'
		FROM json_each(?) AS p
		WHERE attempts.id = p.value ->> 'i' AND attempts.lease_token = p.value ->> 't'
			AND +attempts.status = 'running' AND (NOT attempts.cancel_requested OR p.value ->> 's' = 'canceled')
		RETURNING ` + store.QualifyColumns("attempts", attemptCols))
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

// AttemptNotify does nothing: one server uses a SQLite store, and the
// engine wakes its own workers.
func (t *tx) AttemptNotify(context.Context, []string) error { return nil }

func (t *tx) AttemptGet(ctx context.Context, id int64) (*store.Attempt, error) {
	a, err := scanAttempt(t.queryRow(ctx, qAttemptGet, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt %d: %w", id, interpretError(err))
	}
	return a, nil
}

// The claim's and AttemptNextDue's statements have fixed texts, prepared
// by Open like the others: lists go in as one JSON array argument each,
// read with json_each. Their arguments are, in order (see filterArgs):
//
//	?1 the queue (one queue) or the queues (a JSON array: many)
//	?2 the types, a JSON array; any type when empty
//	?3, ?4, ?5 JSON arrays of queues, types and resources, left out by
//	   queuedFilter (blocked by the limits) and kept by nextDueHeld
//
// One queue has its own texts: queue = ?1 lets the claim read the claim
// order's index (status, queue, priority DESC, not_before, id) from its
// start and stop at its LIMIT, where IN over several queues reads each
// queue's range and sorts them.
var (
	qClaimOne, qClaimMany             = claimSelect(false), claimSelect(true)
	qNextDueOne, qNextDueMany         = minNotBefore(queuedFilter(false)), minNotBefore(queuedFilter(true))
	qNextDueHeldOne, qNextDueHeldMany = minNotBefore(nextDueHeld(false)), minNotBefore(nextDueHeld(true))
	// qAttemptLease leases the attempts of ?1, a JSON array of
	// [id, token] pairs, and returns them.
	qAttemptLease = prep(`WITH claim (id, token) AS (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
		UPDATE attempts SET status = 'running', lease_token = claim.token, started_at = ?2,
			lease_expires_at = ?3, worker_id = ?4
		FROM claim WHERE attempts.id = claim.id
		RETURNING ` + store.QualifyColumns("attempts", attemptCols))
	// qTaskRunsStart marks running the task runs of the attempts of ?3, a
	// JSON array of ids.
	qTaskRunsStart = prep(`UPDATE task_runs SET status = ?1,
			started_at = CASE WHEN task_runs.started_at = 0 THEN ?2 ELSE task_runs.started_at END
		FROM attempts a
		WHERE a.id IN (SELECT value FROM json_each(?3))
			AND task_runs.run_id = a.run_id AND task_runs.task = a.task AND task_runs.idx = a.idx`)
)

// queueCond is the condition on the queue of ?1: one queue, or many.
func queueCond(many bool) string {
	if many {
		return `queue IN (SELECT value FROM json_each(?1))`
	}
	return `queue = ?1`
}

// typeCond is the condition on the type of ?2: any when empty.
const typeCond = `(?2 = '[]' OR type IN (SELECT value FROM json_each(?2)))`

// queuedFilter is the WHERE clause of the queued attempts of the queues
// and types outside the blocked queues, types and resources. An empty
// list's subquery is never run (SQLite builds an IN's table at its first
// use), so that without limits the claim pays for none of them.
func queuedFilter(many bool) string {
	return `status = 'queued' AND ` + queueCond(many) + ` AND ` + typeCond + `
		AND (?3 = '[]' OR queue NOT IN (SELECT value FROM json_each(?3)))
		AND (?4 = '[]' OR type NOT IN (SELECT value FROM json_each(?4)))
		AND (?5 = '[]' OR resource NOT IN (SELECT value FROM json_each(?5)))`
}

// nextDueHeld is the WHERE clause of the queued attempts of the queues
// and types in one of the queues, types or resources held back.
func nextDueHeld(many bool) string {
	return `status = 'queued' AND ` + queueCond(many) + ` AND ` + typeCond + `
		AND (queue IN (SELECT value FROM json_each(?3))
			OR type IN (SELECT value FROM json_each(?4))
			OR resource IN (SELECT value FROM json_each(?5)))`
}

// minNotBefore is AttemptNextDue's statement over the attempts of where.
func minNotBefore(where string) string {
	return prep(`SELECT min(not_before) FROM attempts WHERE ` + where)
}

// claimSelect is the claim's candidates, ?6 the time and ?7 how many, in
// claim order. The claim order's index is named: the planner would
// otherwise take the (status, queue, not_before) one for the range and
// sort every due attempt at each claim, which a deep queue makes
// quadratic. The LIMIT is cast: SQLite plans with the value of a bare
// parameter there, and re-prepares the statement whenever it changes (a
// worker's free slots vary from claim to claim).
func claimSelect(many bool) string {
	return prep(`SELECT id, queue, type, resource FROM attempts INDEXED BY attempts_claim_priority
		WHERE ` + queuedFilter(many) + ` AND not_before <= ?6
		ORDER BY priority DESC, not_before, id LIMIT CAST(?7 AS INTEGER)`)
}

// filterArgs are the arguments ?1 to ?5 of the statements above, and the
// statement of the two, one and many, that fits the queues.
func filterArgs(one, many string, queues, types, qs, ts, rs []string) (string, []any) {
	args := make([]any, 5, 7)
	if len(queues) == 1 {
		args[0] = queues[0]
	} else {
		args[0], one = jsonList(queues), many
	}
	args[1], args[2], args[3], args[4] = jsonList(types), jsonList(qs), jsonList(ts), jsonList(rs)
	return one, args
}

// jsonList is vals as a JSON array, [] when empty.
func jsonList(vals []string) string {
	if len(vals) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(vals) // strings always encode
	return string(b)
}

// AttemptClaim takes three statements whatever the number of attempts,
// all prepared: pick the due ones, lease each with its own token, mark
// their task runs. Reading the limits adds one, and under limits one for
// the running counts and one per bucket drawn from. Under limits it reads
// a window of candidates past the blocked queues, types and resources and
// keeps those the budget allows. The limits are read afresh each time,
// not cached: the prepared read of the (usually empty) table costs about
// 1% of a claim's CPU in the engine's fan-out benchmark, and a cached
// "no limits" would have to stay right across the read pool's snapshots
// (AttemptNextDue runs in View) and the writer's rollbacks.
func (t *tx) AttemptClaim(ctx context.Context, p *store.AttemptClaimParams) ([]*store.Attempt, error) {
	if len(p.Queues) == 0 || p.Limit <= 0 {
		return nil, nil
	}
	budget, err := t.budget(ctx, p.Now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: %w", err)
	}
	now := toMicros(budget.Now())
	bq, bt, br := budget.Blocked()
	q, args := filterArgs(qClaimOne, qClaimMany, p.Queues, p.Types, bq, bt, br)
	window := p.Limit
	if !budget.Empty() {
		window = min(4*p.Limit+16, 1000)
	}
	rows, err := t.query(ctx, q, append(args, now, window)...)
	cands, err := collect(rows, err, func(sc scanner) (*store.Attempt, error) {
		var a store.Attempt
		return &a, sc.Scan(&a.ID, &a.Queue, &a.Type, &a.Resource)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: %w", err)
	}
	// leases is [[id, token], …] and ids [id, …], in JSON.
	leases, ids := []byte{'['}, []byte{'['}
	n := 0
	for _, a := range cands {
		if n == p.Limit || !budget.Take(a.Queue, a.Type, a.Resource) {
			continue
		}
		if n > 0 {
			leases, ids = append(leases, ','), append(ids, ',')
		}
		n++
		ids = strconv.AppendInt(ids, a.ID, 10)
		leases = append(strconv.AppendInt(append(leases, '['), a.ID, 10), ",\""...)
		leases = append(append(leases, newToken()...), "\"]"...)
	}
	if n == 0 {
		return nil, nil
	}
	leases, ids = append(leases, ']'), append(ids, ']')
	for _, l := range budget.Taken() {
		if _, err := t.exec(ctx, qLimitBucket, l.Tokens, toMicros(l.RefilledAt), l.Kind, l.Name); err != nil {
			return nil, fmt.Errorf("sqlite: attempt claim: bucket: %w", interpretError(err))
		}
	}

	expires := toMicros(budget.Now().Add(p.LeaseFor))
	rows, err = t.query(ctx, qAttemptLease, string(leases), now, expires, p.WorkerID)
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

	if _, err = t.exec(ctx, qTaskRunsStart, store.TaskRunning, now, string(ids)); err != nil {
		return nil, fmt.Errorf("sqlite: attempt claim: task runs: %w", interpretError(err))
	}
	return claimed, nil
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

// AttemptFinishAll finishes ps in one statement.
func (t *tx) AttemptFinishAll(ctx context.Context, ps []*store.AttemptFinishParams) ([]*store.Attempt, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	type item struct {
		I int64               `json:"i"`
		T string              `json:"t"`
		S store.AttemptStatus `json:"s"`
		E string              `json:"e"`
		N int64               `json:"n"`
	}
	items := make([]item, len(ps))
	for i, p := range ps {
		if p.Status != store.AttemptSucceeded && p.Status != store.AttemptFailed && p.Status != store.AttemptCanceled {
			return nil, fmt.Errorf("sqlite: attempt %d finish: status %q is not succeeded, failed or canceled", p.ID, p.Status)
		}
		items[i] = item{p.ID, p.Token, p.Status, p.Error, toMicros(p.Now)}
	}
	arg, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt finish: %w", err)
	}
	rows, err := t.query(ctx, qAttemptFinishAll, string(arg))
	done, err := collect(rows, err, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempt finish: %w", err)
	}
	return store.FinishedInOrder(ps, done)
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
	minDue := func(one, many string, qs, ts, rs []string) (time.Time, error) {
		q, args := filterArgs(one, many, queues, types, qs, ts, rs)
		var next *int64
		if err := t.queryRow(ctx, q, args...).Scan(&next); err != nil || next == nil {
			return time.Time{}, interpretError(err)
		}
		return fromMicros(*next), nil
	}
	bq, bt, br := budget.Blocked()
	next, err := minDue(qNextDueOne, qNextDueMany, bq, bt, br)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
	}
	for _, w := range budget.Waits() {
		held := [3][]string{}
		switch w.Kind {
		case store.LimitQueue:
			held[0] = []string{w.Name}
		case store.LimitType:
			held[1] = []string{w.Name}
		case store.LimitResource:
			held[2] = []string{w.Name}
		}
		due, err := minDue(qNextDueHeldOne, qNextDueHeldMany, held[0], held[1], held[2])
		if err != nil {
			return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
		}
		next = store.EarliestWait(next, due, w.At)
	}
	if fq, ft, fr := budget.Full(); len(fq)+len(ft)+len(fr) > 0 {
		due, err := minDue(qNextDueHeldOne, qNextDueHeldMany, fq, ft, fr)
		if err != nil {
			return time.Time{}, fmt.Errorf("sqlite: attempt next due: %w", err)
		}
		next = store.EarliestWait(next, due, nowFunc().Add(store.LimitRecheck))
	}
	return next, nil
}
