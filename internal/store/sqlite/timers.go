package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

var (
	qTimerSet = prep(`INSERT INTO timers (run_id, task, idx, kind, fire_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (run_id, task, idx, kind) DO UPDATE SET fire_at = excluded.fire_at`)
	qTimerDelete = prep(`DELETE FROM timers
		WHERE run_id = ? AND task = ? AND idx = ? AND kind = ?`)
	qTimerDeleteRun = prep(`DELETE FROM timers WHERE run_id = ?`)
	qTimerListDue   = prep(`SELECT run_id, task, idx, kind, fire_at FROM timers
		WHERE fire_at <= ? ORDER BY fire_at, run_id, task, idx, kind LIMIT ?`)
	qTimerNext = prep(`SELECT min(fire_at) FROM timers`)
)

func (t *tx) TimerSet(ctx context.Context, tm *store.Timer) error {
	_, err := t.exec(ctx, qTimerSet, tm.RunID, tm.Task, tm.Index, tm.Kind, toMicros(tm.FireAt))
	if err != nil {
		return fmt.Errorf("sqlite: timer set: %w", interpretError(err))
	}
	return nil
}

func (t *tx) TimerDelete(ctx context.Context, runID, task string, index int, kind store.TimerKind) error {
	if _, err := t.exec(ctx, qTimerDelete, runID, task, index, kind); err != nil {
		return fmt.Errorf("sqlite: timer delete: %w", interpretError(err))
	}
	return nil
}

func (t *tx) TimerDeleteRun(ctx context.Context, runID string) error {
	if _, err := t.exec(ctx, qTimerDeleteRun, runID); err != nil {
		return fmt.Errorf("sqlite: timer delete run: %w", interpretError(err))
	}
	return nil
}

// TimerListDue returns due timers, earliest first; limit <= 0: no limit.
func (t *tx) TimerListDue(ctx context.Context, now time.Time, limit int) ([]*store.Timer, error) {
	rows, err := t.query(ctx, qTimerListDue, toMicros(now), limitOrAll(limit))
	return collect(rows, err, func(sc scanner) (*store.Timer, error) {
		var tm store.Timer
		err := sc.Scan(&tm.RunID, &tm.Task, &tm.Index, &tm.Kind, microTime{&tm.FireAt})
		return &tm, err
	})
}

func (t *tx) TimerNext(ctx context.Context) (time.Time, error) {
	var next *int64
	if err := t.queryRow(ctx, qTimerNext).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: timer next: %w", interpretError(err))
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMicros(*next), nil
}
