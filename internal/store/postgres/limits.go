package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const (
	limitCols  = `kind, name, max_running, rate, burst, tokens, refilled_at`
	qLimitList = `SELECT ` + limitCols + ` FROM limits ORDER BY kind, name`
	// qLimitLock locks, in key order, the limits a claim of the queues
	// ($1) falls under: theirs, and every type and resource limit.
	qLimitLock = `SELECT ` + limitCols + ` FROM limits
		WHERE (kind = 'queue' AND name = ANY($1)) OR kind IN ('type', 'resource')
		ORDER BY kind, name FOR UPDATE`
	qLimitRead = `SELECT ` + limitCols + ` FROM limits
		WHERE (kind = 'queue' AND name = ANY($1)) OR kind IN ('type', 'resource')`
	// qLimitPut keeps the bucket of an unchanged limit.
	qLimitPut = `INSERT INTO limits (` + limitCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (kind, name) DO UPDATE SET max_running = excluded.max_running,
			rate = excluded.rate, burst = excluded.burst, tokens = excluded.tokens,
			refilled_at = excluded.refilled_at
		WHERE limits.max_running <> excluded.max_running OR limits.rate <> excluded.rate
			OR limits.burst <> excluded.burst`
	qLimitDelete  = `DELETE FROM limits WHERE kind = $1 AND name = $2`
	qLimitBucket  = `UPDATE limits SET tokens = $3, refilled_at = $4 WHERE kind = $1 AND name = $2`
	qRunningCount = `SELECT queue, type, resource, count(*) FROM attempts
		WHERE status = 'running' GROUP BY queue, type, resource`
)

func scanLimit(sc scanner) (*store.Limit, error) {
	l := new(store.Limit)
	return l, sc.Scan(&l.Kind, &l.Name, &l.MaxRunning, &l.Rate, &l.Burst, &l.Tokens, tsCol{&l.RefilledAt})
}

func (t *tx) LimitPut(ctx context.Context, l *store.Limit) error {
	l.NewBucket(truncate(nowFunc()))
	if _, err := t.tx.Exec(ctx, qLimitPut, l.Kind, l.Name, l.MaxRunning, l.Rate, l.Burst, l.Tokens, tz(l.RefilledAt)); err != nil {
		return fmt.Errorf("postgres: limit put %s %s: %w", l.Kind, l.Name, interpretError(err))
	}
	return nil
}

func (t *tx) LimitDelete(ctx context.Context, kind store.LimitKind, name string) error {
	if _, err := t.tx.Exec(ctx, qLimitDelete, kind, name); err != nil {
		return fmt.Errorf("postgres: limit delete %s %s: %w", kind, name, interpretError(err))
	}
	return nil
}

func (t *tx) LimitList(ctx context.Context) ([]*store.Limit, error) {
	return queryAll(ctx, t, scanLimit, qLimitList)
}

// budget reads the limits a claim of queues falls under, locked until the
// transaction ends in a write transaction (so the running count read next,
// a new snapshot under READ COMMITTED, cannot change under the claim by
// another claim), and, when there are any, the running attempts.
func (t *tx) budget(ctx context.Context, queues []string, now time.Time) (*store.Budget, error) {
	q := qLimitRead
	if t.write {
		q = qLimitLock
	}
	limits, err := queryAll(ctx, t, scanLimit, q, queues)
	if err != nil || len(limits) == 0 {
		return store.NewBudget(nil, nil, now), err
	}
	running, err := queryAll(ctx, t, func(sc scanner) (store.RunningCount, error) {
		var r store.RunningCount
		return r, sc.Scan(&r.Queue, &r.Type, &r.Resource, &r.N)
	}, qRunningCount)
	if err != nil {
		return nil, err
	}
	return store.NewBudget(limits, running, now), nil
}
