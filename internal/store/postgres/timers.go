package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const (
	// qTimerSet notifies ChannelTimers in the same statement; the
	// notification is delivered at commit.
	qTimerSet = `WITH timer AS (
			INSERT INTO timers (run_id, task, idx, kind, fire_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (run_id, task, idx, kind) DO UPDATE SET fire_at = excluded.fire_at
			RETURNING run_id)
		SELECT pg_notify('` + ChannelTimers + `', '') FROM timer`
	qTimerDelete = `DELETE FROM timers
		WHERE run_id = $1 AND task = $2 AND idx = $3 AND kind = $4`
	qTimerDeleteRun = `DELETE FROM timers WHERE run_id = $1`
	qTimerListDue   = `SELECT run_id, task, idx, kind, fire_at FROM timers
		WHERE fire_at <= $1 ORDER BY fire_at, run_id, task, idx, kind LIMIT $2`
	qTimerNext = `SELECT min(fire_at) FROM timers`
)

// TimerSet creates or moves a timer and notifies ChannelTimers.
func (t *tx) TimerSet(ctx context.Context, tm *store.Timer) error {
	if _, err := t.tx.Exec(ctx, qTimerSet, tm.RunID, tm.Task, tm.Index, tm.Kind, tz(tm.FireAt)); err != nil {
		return fmt.Errorf("postgres: timer set: %w", interpretError(err))
	}
	return nil
}

func (t *tx) TimerDelete(ctx context.Context, runID, task string, index int, kind store.TimerKind) error {
	if _, err := t.tx.Exec(ctx, qTimerDelete, runID, task, index, kind); err != nil {
		return fmt.Errorf("postgres: timer delete: %w", interpretError(err))
	}
	return nil
}

func (t *tx) TimerDeleteRun(ctx context.Context, runID string) error {
	if _, err := t.tx.Exec(ctx, qTimerDeleteRun, runID); err != nil {
		return fmt.Errorf("postgres: timer delete run: %w", interpretError(err))
	}
	return nil
}

// TimerListDue returns due timers, earliest first; limit <= 0: no limit.
func (t *tx) TimerListDue(ctx context.Context, now time.Time, limit int) ([]*store.Timer, error) {
	return queryAll(ctx, t, func(sc scanner) (*store.Timer, error) {
		tm := new(store.Timer)
		return tm, sc.Scan(&tm.RunID, &tm.Task, &tm.Index, &tm.Kind, tsCol{&tm.FireAt})
	}, qTimerListDue, tz(now), limitArg(limit))
}

func (t *tx) TimerNext(ctx context.Context) (time.Time, error) {
	var next time.Time
	if err := t.tx.QueryRow(ctx, qTimerNext).Scan(tsCol{&next}); err != nil {
		return time.Time{}, fmt.Errorf("postgres: timer next: %w", interpretError(err))
	}
	return next, nil
}
