package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/legatohq/legato/internal/store"
)

// maxClaim bounds the attempts one claim takes (one token each is sent).
const maxClaim = 1000

const (
	// claimStart ends a claim whose CTE leased has leased attempts, with
	// $2 the time: it marks their task runs running and returns them.
	claimStart = `, started AS (
			UPDATE task_runs tr SET status = 'running',
				started_at = CASE WHEN tr.started_at = '-infinity' THEN $2 ELSE tr.started_at END
			FROM leased
			WHERE tr.run_id = leased.run_id AND tr.task = leased.task AND tr.idx = leased.idx
		)
		SELECT ` + attemptCols + ` FROM leased ORDER BY priority DESC, not_before, id`

	qAttemptInsert = `INSERT INTO attempts (run_id, task, idx, number, namespace, workflow, queue, type,
				params, timeout_ns, status, not_before, lease_token, lease_expires_at, worker_id,
				cancel_requested, created_at, started_at, finished_at, error, priority, resource)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
				$18, $19, $20, $21, $22)
			RETURNING id`
	// qAttemptNotify notifies each queue of $1 once; notifications are
	// delivered at commit.
	qAttemptNotify = `SELECT pg_notify('` + ChannelAttempts + `', q) FROM (SELECT DISTINCT unnest($1::text[]) AS q) queues`
	qAttemptGet    = `SELECT ` + attemptCols + ` FROM attempts WHERE id = $1`

	// qAttemptClaim picks the due attempts of the queues ($1) and types ($7,
	// any when empty) with SKIP LOCKED, unless a limit applies to the claim
	// (then it takes none, and the claim goes through claimLimited), hands each one of the tokens ($6)
	// and marks their task runs running, in one statement. Each queue is
	// read in claim order from the partial index, and stops at the limit
	// (ORDER BY over queue = ANY($1) would sort every due attempt); with
	// several queues, up to the limit per queue are locked and the oldest
	// taken, the others left at the end of the transaction.
	qAttemptClaim = `WITH due AS (
			SELECT a.id FROM (SELECT DISTINCT unnest($1::text[]) AS queue) q, LATERAL (
				SELECT id, priority, not_before FROM attempts
				WHERE status = 'queued' AND queue = q.queue AND not_before <= $2
					AND (cardinality($7::text[]) = 0 OR type = ANY($7))
				ORDER BY priority DESC, not_before, id
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			) a
			WHERE NOT EXISTS (SELECT 1 FROM limits
				WHERE (kind = 'queue' AND name = ANY($1)) OR kind IN ('type', 'resource'))
			ORDER BY a.priority DESC, a.not_before, a.id
			LIMIT $3
		), numbered AS (
			SELECT id, row_number() OVER (ORDER BY id) AS n FROM due
		), leased AS (
			UPDATE attempts a SET status = 'running', lease_token = tokens.token,
				started_at = $2, lease_expires_at = $4, worker_id = $5
			FROM numbered JOIN unnest($6::text[]) WITH ORDINALITY AS tokens (token, n) USING (n)
			WHERE a.id = numbered.id
			RETURNING a.*
		)` + claimStart

	// qAttemptCandidates is the due attempts of the queues ($1) and types
	// ($4) outside the blocked queues ($5), types ($6) and resources ($7),
	// up to $3 per queue, locked with SKIP LOCKED, in claim order: a claim
	// under limits keeps those its budget allows.
	qAttemptCandidates = `SELECT a.id, a.queue, a.type, a.resource
		FROM (SELECT DISTINCT unnest($1::text[]) AS queue) q, LATERAL (
			SELECT id, queue, type, resource, priority, not_before FROM attempts
			WHERE status = 'queued' AND queue = q.queue AND not_before <= $2
				AND (cardinality($4::text[]) = 0 OR type = ANY($4))
				AND queue <> ALL($5) AND type <> ALL($6) AND resource <> ALL($7)
			ORDER BY priority DESC, not_before, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		) a
		ORDER BY a.priority DESC, a.not_before, a.id`
	// qAttemptLease leases the attempts $1 with the tokens $5, in order.
	qAttemptLease = `WITH leased AS (
			UPDATE attempts a SET status = 'running', lease_token = tokens.token,
				started_at = $2, lease_expires_at = $3, worker_id = $4
			FROM unnest($1::bigint[], $5::text[]) AS tokens (id, token)
			WHERE a.id = tokens.id
			RETURNING a.*
		)` + claimStart

	// A heartbeat leaves a cancel-requested lease to run out.
	qAttemptHeartbeat = `UPDATE attempts SET lease_expires_at =
			CASE WHEN cancel_requested THEN lease_expires_at ELSE $3 END
		WHERE id = $1 AND lease_token = $2 AND status = 'running'
		RETURNING cancel_requested`
	qAttemptFinish = `UPDATE attempts SET status = $3, error = $4, finished_at = $5
		WHERE id = $1 AND lease_token = $2 AND status = 'running'
			AND (NOT cancel_requested OR $3 = 'canceled')
		RETURNING ` + attemptCols
	// qAttemptCancel cancels the queued attempts and flags the running ones
	// of a run ($2 = '') or of one of its task runs.
	qAttemptCancel = `WITH canceled AS (
			UPDATE attempts SET status = 'canceled', finished_at = $4
			WHERE run_id = $1 AND ($2::text = '' OR (task = $2 AND idx = $3)) AND status = 'queued'
		), flagged AS (
			UPDATE attempts SET cancel_requested = true
			WHERE run_id = $1 AND ($2::text = '' OR (task = $2 AND idx = $3)) AND status = 'running'
			RETURNING ` + attemptCols + `
		)
		SELECT ` + attemptCols + ` FROM flagged ORDER BY id`
	qAttemptListExpired = `SELECT ` + attemptCols + ` FROM attempts
		WHERE status = 'running' AND lease_expires_at < $1
		ORDER BY lease_expires_at, id LIMIT $2`
	qAttemptExpire = `UPDATE attempts SET status = 'failed', error = $3, finished_at = $4
		WHERE id = $1 AND lease_token = $2 AND status = 'running' AND lease_expires_at < $4`
	qAttemptRelease = `UPDATE attempts SET status = 'failed', error = $3, finished_at = $4
		WHERE id = $1 AND lease_token = $2 AND status = 'running'`
	// qAttemptNextDue reads the head of each queue ($1) in the partial index.
	qAttemptNextDue = `SELECT min(head.not_before) FROM (SELECT DISTINCT unnest($1::text[]) AS queue) q, LATERAL (
			SELECT not_before FROM attempts
			WHERE status = 'queued' AND queue = q.queue AND (cardinality($2::text[]) = 0 OR type = ANY($2))
				AND queue <> ALL($3) AND type <> ALL($4) AND resource <> ALL($5)
			ORDER BY not_before LIMIT 1
		) head`
	// qAttemptNextDueFull is the earliest queued attempt of the queues ($1)
	// and types ($2) held back by a full queue ($3), type ($4) or resource ($5).
	qAttemptNextDueFull = `SELECT min(not_before) FROM attempts
		WHERE status = 'queued' AND queue = ANY($1) AND (cardinality($2::text[]) = 0 OR type = ANY($2))
			AND (queue = ANY($3) OR type = ANY($4) OR resource = ANY($5))`
	// qAttemptNextDueOf is the earliest queued attempt of the queues ($1)
	// and types ($2) whose queue, type or resource ($3, by $4) is $5.
	qAttemptNextDueOf = `SELECT min(not_before) FROM attempts
		WHERE status = 'queued' AND queue = ANY($1) AND (cardinality($2::text[]) = 0 OR type = ANY($2))
			AND CASE $3::text WHEN 'queue' THEN queue WHEN 'type' THEN type ELSE resource END = $4`
)

// AttemptInsert stores a and sets its ID, with the transaction's next
// statement. A zero Status is queued, a zero CreatedAt the current time,
// and a zero NotBefore CreatedAt, so that AttemptNextDue never mistakes a
// due attempt for none.
func (t *tx) AttemptInsert(ctx context.Context, a *store.Attempt) error {
	if a.Status == "" {
		a.Status = store.AttemptQueued
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = truncate(nowFunc())
	}
	if a.NotBefore.IsZero() {
		a.NotBefore = a.CreatedAt
	}
	params, err := jsonArg(a.Params)
	if err != nil {
		return err
	}
	// Held back until the transaction's next statement, which reads the
	// new id into a.
	t.tx.later(func(br pgx.BatchResults) error {
		if err := br.QueryRow().Scan(&a.ID); err != nil {
			return fmt.Errorf("postgres: attempt insert: %w", interpretError(err))
		}
		return nil
	}, qAttemptInsert, a.RunID, a.Task, a.Index, a.Number, a.Namespace,
		a.Workflow, a.Queue, a.Type, params, int64(a.Timeout), a.Status, tz(a.NotBefore),
		a.LeaseToken, tz(a.LeaseExpiresAt), a.WorkerID, a.CancelRequested, tz(a.CreatedAt),
		tz(a.StartedAt), tz(a.FinishedAt), text(a.Error), a.Priority, a.Resource)
	return nil
}

// AttemptNotify notifies ChannelAttempts with each queue, at commit.
func (t *tx) AttemptNotify(ctx context.Context, queues []string) error {
	if len(queues) == 0 {
		return nil
	}
	if _, err := t.tx.Exec(ctx, qAttemptNotify, queues); err != nil {
		return fmt.Errorf("postgres: attempt notify: %w", interpretError(err))
	}
	return nil
}

func (t *tx) AttemptGet(ctx context.Context, id int64) (*store.Attempt, error) {
	a, err := scanAttempt(t.tx.QueryRow(ctx, qAttemptGet, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt %d: %w", id, interpretError(err))
	}
	return a, nil
}

// AttemptClaim takes up to p.Limit (at most 1000) attempts of p.Queues
// (and of p.Types unless empty) in one statement when no limit applies;
// see the package doc. When that statement took nothing, limits may
// apply: it then locks their rows, counts the running attempts, and
// leases the candidates the budget allows.
func (t *tx) AttemptClaim(ctx context.Context, p *store.AttemptClaimParams) ([]*store.Attempt, error) {
	if len(p.Queues) == 0 || p.Limit <= 0 {
		return nil, nil
	}
	tokens := newTokens(min(p.Limit, maxClaim))
	claimed, err := queryAll(ctx, t, scanAttempt, qAttemptClaim, p.Queues, tz(p.Now), len(tokens),
		tz(p.Now.Add(p.LeaseFor)), p.WorkerID, tokens, orEmpty(p.Types))
	if err != nil || len(claimed) > 0 {
		if err != nil {
			return nil, fmt.Errorf("postgres: attempt claim: %w", err)
		}
		return claimed, nil
	}
	budget, err := t.budget(ctx, p.Queues, p.Now)
	if err != nil || budget.Empty() {
		if err != nil {
			return nil, fmt.Errorf("postgres: attempt claim: %w", err)
		}
		return nil, nil
	}
	return t.claimLimited(ctx, p, budget)
}

func newTokens(n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = newToken()
	}
	return tokens
}

// claimLimited picks from a window of candidates past what is blocked.
func (t *tx) claimLimited(ctx context.Context, p *store.AttemptClaimParams, budget *store.Budget) ([]*store.Attempt, error) {
	bq, bt, br := budget.Blocked()
	window := min(4*p.Limit+16, maxClaim)
	cands, err := queryAll(ctx, t, func(sc scanner) (*store.Attempt, error) {
		a := new(store.Attempt)
		return a, sc.Scan(&a.ID, &a.Queue, &a.Type, &a.Resource)
	}, qAttemptCandidates, p.Queues, tz(p.Now), window, orEmpty(p.Types), orEmpty(bq), orEmpty(bt), orEmpty(br))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt claim: %w", err)
	}
	var ids []int64
	for _, a := range cands {
		if len(ids) < min(p.Limit, maxClaim) && budget.Take(a.Queue, a.Type, a.Resource) {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	for _, l := range budget.Taken() {
		if _, err := t.tx.Exec(ctx, qLimitBucket, l.Kind, l.Name, l.Tokens, tz(l.RefilledAt)); err != nil {
			return nil, fmt.Errorf("postgres: attempt claim: bucket: %w", interpretError(err))
		}
	}
	now := budget.Now()
	claimed, err := queryAll(ctx, t, scanAttempt, qAttemptLease, ids, tz(now),
		tz(now.Add(p.LeaseFor)), p.WorkerID, newTokens(len(ids)))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt claim: %w", err)
	}
	return claimed, nil
}

// AttemptHeartbeat extends the lease unless a cancel was requested: then
// it reports cancel and leaves the lease to run out.
func (t *tx) AttemptHeartbeat(ctx context.Context, id int64, token string, until time.Time) (bool, error) {
	var cancel bool
	if err := t.tx.QueryRow(ctx, qAttemptHeartbeat, id, token, tz(until)).Scan(&cancel); err != nil {
		return false, fmt.Errorf("postgres: attempt %d heartbeat: %w", id, staleOnMissing(err))
	}
	return cancel, nil
}

// AttemptFinish returns the attempt as it is once finished.
func (t *tx) AttemptFinish(ctx context.Context, p *store.AttemptFinishParams) (*store.Attempt, error) {
	switch p.Status {
	case store.AttemptSucceeded, store.AttemptFailed, store.AttemptCanceled:
	default:
		return nil, fmt.Errorf("postgres: attempt %d finish: status %q is not succeeded, failed or canceled", p.ID, p.Status)
	}
	a, err := scanAttempt(t.tx.QueryRow(ctx, qAttemptFinish, p.ID, p.Token, p.Status, text(p.Error), tz(p.Now)))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt %d finish: %w", p.ID, staleOnMissing(err))
	}
	return a, nil
}

// qAttemptFinishAll finishes the attempts $1 held with the tokens $2
// with the statuses $3, errors $4 and times $5. It locks them in id order
// first, as a heartbeat of several attempts does (Engine.Heartbeat):
// locked in the update's join order, the two could deadlock (a second
// lost to the deadlock detector, then the batch refused and retried).
var qAttemptFinishAll = `WITH locked AS (
			SELECT id FROM attempts WHERE id = ANY($1) ORDER BY id FOR UPDATE
		)
		UPDATE attempts a SET status = p.status, error = p.error, finished_at = p.at
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS p (id, token, status, error, at)
		WHERE a.id = p.id AND a.id IN (SELECT id FROM locked) AND a.lease_token = p.token AND a.status = 'running'
			AND (NOT a.cancel_requested OR p.status = 'canceled')
		RETURNING ` + store.QualifyColumns("a", attemptCols)

// AttemptFinishAll finishes ps in one statement.
func (t *tx) AttemptFinishAll(ctx context.Context, ps []*store.AttemptFinishParams) ([]*store.Attempt, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	ids, tokens, statuses, errs := make([]int64, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		switch p.Status {
		case store.AttemptSucceeded, store.AttemptFailed, store.AttemptCanceled:
		default:
			return nil, fmt.Errorf("postgres: attempt %d finish: status %q is not succeeded, failed or canceled", p.ID, p.Status)
		}
		ids[i], tokens[i], statuses[i], errs[i] = p.ID, p.Token, string(p.Status), text(p.Error)
	}
	done, err := queryAll(ctx, t, scanAttempt, qAttemptFinishAll, ids, tokens, statuses, errs,
		tzs(ps, func(p *store.AttemptFinishParams) time.Time { return p.Now }))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt finish: %w", err)
	}
	return store.FinishedInOrder(ps, done)
}

// AttemptCancel stamps canceled queued attempts with the current time and
// returns the flagged running ones by ID.
func (t *tx) AttemptCancel(ctx context.Context, runID, task string, index int) ([]*store.Attempt, error) {
	flagged, err := queryAll(ctx, t, scanAttempt, qAttemptCancel, runID, task, index, tz(truncate(nowFunc())))
	if err != nil {
		return nil, fmt.Errorf("postgres: attempt cancel: %w", err)
	}
	return flagged, nil
}

// AttemptListExpired returns expired leases, longest expired first; a limit
// <= 0 means no limit.
func (t *tx) AttemptListExpired(ctx context.Context, now time.Time, limit int) ([]*store.Attempt, error) {
	return queryAll(ctx, t, scanAttempt, qAttemptListExpired, tz(now), limitArg(limit))
}

func (t *tx) AttemptExpire(ctx context.Context, id int64, token string, now time.Time, errMsg string) error {
	if err := mustAffect(t.tx.Exec(ctx, qAttemptExpire, id, token, text(errMsg), tz(now))); err != nil {
		return fmt.Errorf("postgres: attempt %d expire: %w", id, staleOnMissing(err))
	}
	return nil
}

func (t *tx) AttemptRelease(ctx context.Context, id int64, token string, now time.Time, errMsg string) error {
	if err := mustAffect(t.tx.Exec(ctx, qAttemptRelease, id, token, text(errMsg), tz(now))); err != nil {
		return fmt.Errorf("postgres: attempt %d release: %w", id, staleOnMissing(err))
	}
	return nil
}

// AttemptNextDue: an empty types means any type. It leaves out what the
// limits block and adds when each empty bucket holding attempts refills.
func (t *tx) AttemptNextDue(ctx context.Context, queues, types []string) (time.Time, error) {
	var next time.Time
	if len(queues) == 0 {
		return next, nil
	}
	budget, err := t.budget(ctx, queues, nowFunc())
	if err != nil {
		return next, fmt.Errorf("postgres: attempt next due: %w", err)
	}
	bq, bt, br := budget.Blocked()
	err = t.tx.QueryRow(ctx, qAttemptNextDue, queues, orEmpty(types), orEmpty(bq), orEmpty(bt), orEmpty(br)).Scan(tsCol{&next})
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: attempt next due: %w", interpretError(err))
	}
	for _, w := range budget.Waits() {
		var due time.Time
		if err := t.tx.QueryRow(ctx, qAttemptNextDueOf, queues, orEmpty(types), w.Kind, w.Name).Scan(tsCol{&due}); err != nil {
			return time.Time{}, fmt.Errorf("postgres: attempt next due: %w", interpretError(err))
		}
		next = store.EarliestWait(next, due, w.At)
	}
	if fq, ft, fr := budget.Full(); len(fq)+len(ft)+len(fr) > 0 {
		var due time.Time
		if err := t.tx.QueryRow(ctx, qAttemptNextDueFull, queues, orEmpty(types), orEmpty(fq), orEmpty(ft), orEmpty(fr)).Scan(tsCol{&due}); err != nil {
			return time.Time{}, fmt.Errorf("postgres: attempt next due: %w", interpretError(err))
		}
		next = store.EarliestWait(next, due, nowFunc().Add(store.LimitRecheck))
	}
	return next, nil
}

// orEmpty makes a nil slice an empty array rather than NULL.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
