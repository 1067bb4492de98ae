package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const scheduleCols = `namespace, workflow, name, version, cron, timezone, next_fire_at, paused,
	last_fired_at, last_run_id, queued_run_id, last_error, updated_at, updated_by`

const (
	qScheduleUpsert = `INSERT INTO schedules (` + scheduleCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (namespace, workflow, name) DO UPDATE SET version = excluded.version,
			cron = excluded.cron, timezone = excluded.timezone, next_fire_at = excluded.next_fire_at,
			paused = excluded.paused, last_fired_at = excluded.last_fired_at,
			last_run_id = excluded.last_run_id, queued_run_id = excluded.queued_run_id,
			last_error = excluded.last_error, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`
	qScheduleGet = `SELECT ` + scheduleCols + ` FROM schedules
		WHERE namespace = $1 AND workflow = $2 AND name = $3`
	qScheduleGetLocked = qScheduleGet + ` FOR UPDATE`
	qScheduleList      = `SELECT ` + scheduleCols + ` FROM schedules
		WHERE ($1 = '' OR namespace = $1) AND ($2 = '' OR workflow = $2)
		ORDER BY namespace, workflow, name`
	qScheduleDelete  = `DELETE FROM schedules WHERE namespace = $1 AND workflow = $2 AND name = $3`
	qScheduleListDue = `SELECT ` + scheduleCols + ` FROM schedules
		WHERE NOT paused AND isfinite(next_fire_at) AND next_fire_at <= $1
		ORDER BY next_fire_at, namespace, workflow, name LIMIT $2`
	qScheduleNext = `SELECT min(next_fire_at) FROM schedules WHERE NOT paused AND isfinite(next_fire_at)`
)

func scanSchedule(sc scanner) (*store.Schedule, error) {
	s := new(store.Schedule)
	return s, sc.Scan(&s.Namespace, &s.Workflow, &s.Name, &s.Version, &s.Cron, &s.Timezone,
		tsCol{&s.NextFireAt}, &s.Paused, tsCol{&s.LastFiredAt}, &s.LastRunID, &s.QueuedRunID,
		&s.LastError, tsCol{&s.UpdatedAt}, &s.UpdatedBy)
}

func (t *tx) ScheduleUpsert(ctx context.Context, s *store.Schedule) error {
	_, err := t.tx.Exec(ctx, qScheduleUpsert, s.Namespace, s.Workflow, s.Name, s.Version, s.Cron,
		s.Timezone, tz(s.NextFireAt), s.Paused, tz(s.LastFiredAt), s.LastRunID, s.QueuedRunID,
		text(s.LastError), tz(s.UpdatedAt), s.UpdatedBy)
	if err != nil {
		return fmt.Errorf("postgres: schedule upsert %s/%s/%s: %w", s.Namespace, s.Workflow, s.Name, interpretError(err))
	}
	return nil
}

// ScheduleGet inside Tx locks the schedule's row until the transaction
// ends (FOR UPDATE): a tick is decided by one transaction at a time.
func (t *tx) ScheduleGet(ctx context.Context, namespace, workflow, name string) (*store.Schedule, error) {
	q := qScheduleGet
	if t.write {
		q = qScheduleGetLocked
	}
	s, err := scanSchedule(t.tx.QueryRow(ctx, q, namespace, workflow, name))
	if err != nil {
		return nil, fmt.Errorf("postgres: schedule %s/%s/%s: %w", namespace, workflow, name, interpretError(err))
	}
	return s, nil
}

func (t *tx) ScheduleList(ctx context.Context, namespace, workflow string) ([]*store.Schedule, error) {
	return queryAll(ctx, t, scanSchedule, qScheduleList, namespace, workflow)
}

func (t *tx) ScheduleDelete(ctx context.Context, namespace, workflow, name string) error {
	if _, err := t.tx.Exec(ctx, qScheduleDelete, namespace, workflow, name); err != nil {
		return fmt.Errorf("postgres: schedule delete: %w", interpretError(err))
	}
	return nil
}

func (t *tx) ScheduleListDue(ctx context.Context, now time.Time, limit int) ([]*store.Schedule, error) {
	return queryAll(ctx, t, scanSchedule, qScheduleListDue, tz(now), limitArg(limit))
}

func (t *tx) ScheduleNext(ctx context.Context) (time.Time, error) {
	var next time.Time
	if err := t.tx.QueryRow(ctx, qScheduleNext).Scan(tsCol{&next}); err != nil {
		return time.Time{}, fmt.Errorf("postgres: schedule next: %w", interpretError(err))
	}
	return next, nil
}
