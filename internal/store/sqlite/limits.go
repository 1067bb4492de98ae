package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const limitCols = `kind, name, max_running, rate, burst, tokens, refilled_at`

var (
	qLimitList = prep(`SELECT ` + limitCols + ` FROM limits ORDER BY kind, name`)
	// qLimitPut keeps the bucket of an unchanged limit.
	qLimitPut = prep(`INSERT INTO limits (` + limitCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, name) DO UPDATE SET max_running = excluded.max_running,
			rate = excluded.rate, burst = excluded.burst, tokens = excluded.tokens,
			refilled_at = excluded.refilled_at
		WHERE limits.max_running <> excluded.max_running OR limits.rate <> excluded.rate
			OR limits.burst <> excluded.burst`)
	qLimitDelete  = prep(`DELETE FROM limits WHERE kind = ? AND name = ?`)
	qLimitBucket  = prep(`UPDATE limits SET tokens = ?, refilled_at = ? WHERE kind = ? AND name = ?`)
	qRunningCount = prep(`SELECT queue, type, resource, count(*) FROM attempts
		WHERE status = 'running' GROUP BY queue, type, resource`)
)

func (t *tx) LimitPut(ctx context.Context, l *store.Limit) error {
	t.limitsWritten()
	l.NewBucket(fromMicros(toMicros(nowFunc())))
	if _, err := t.exec(ctx, qLimitPut, l.Kind, l.Name, l.MaxRunning, l.Rate, l.Burst, l.Tokens, toMicros(l.RefilledAt)); err != nil {
		return fmt.Errorf("sqlite: limit put %s %s: %w", l.Kind, l.Name, interpretError(err))
	}
	return nil
}

func (t *tx) LimitDelete(ctx context.Context, kind store.LimitKind, name string) error {
	t.limitsWritten()
	if _, err := t.exec(ctx, qLimitDelete, kind, name); err != nil {
		return fmt.Errorf("sqlite: limit delete %s %s: %w", kind, name, interpretError(err))
	}
	return nil
}

func (t *tx) LimitList(ctx context.Context) ([]*store.Limit, error) {
	rows, err := t.query(ctx, qLimitList)
	return collect(rows, err, func(sc scanner) (*store.Limit, error) {
		var l store.Limit
		return &l, sc.Scan(&l.Kind, &l.Name, &l.MaxRunning, &l.Rate, &l.Burst, &l.Tokens, microTime{&l.RefilledAt})
	})
}

// limitsWritten forgets that the store has no limits: the next claim
// reads them again.
func (t *tx) limitsWritten() {
	t.wroteLimits = true
	t.s.noLimits.Store(false)
}

// budget reads the limits and, when there are any, the running attempts.
// SQLite's single writer keeps them from changing under the claim.
func (t *tx) budget(ctx context.Context, now time.Time) (*store.Budget, error) {
	write := t.sqlTx == nil
	if write && t.s.noLimits.Load() {
		return store.NewBudget(nil, nil, now), nil
	}
	limits, err := t.LimitList(ctx)
	if write && err == nil && !t.wroteLimits {
		t.s.noLimits.Store(len(limits) == 0)
	}
	if err != nil || len(limits) == 0 {
		return store.NewBudget(nil, nil, now), err
	}
	rows, err := t.query(ctx, qRunningCount)
	running, err := collect(rows, err, func(sc scanner) (*store.RunningCount, error) {
		var r store.RunningCount
		return &r, sc.Scan(&r.Queue, &r.Type, &r.Resource, &r.N)
	})
	if err != nil {
		return nil, err
	}
	counts := make([]store.RunningCount, len(running))
	for i, r := range running {
		counts[i] = *r
	}
	return store.NewBudget(limits, counts, now), nil
}
