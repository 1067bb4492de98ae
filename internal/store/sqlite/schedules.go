package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const scheduleCols = `namespace, workflow, name, version, cron, timezone, next_fire_at, paused,
	last_fired_at, last_run_id, queued_run_id, last_error, updated_at, updated_by`

var (
	qScheduleUpsert = prep(`INSERT INTO schedules (` + scheduleCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, workflow, name) DO UPDATE SET version = excluded.version,
			cron = excluded.cron, timezone = excluded.timezone, next_fire_at = excluded.next_fire_at,
			paused = excluded.paused, last_fired_at = excluded.last_fired_at,
			last_run_id = excluded.last_run_id, queued_run_id = excluded.queued_run_id,
			last_error = excluded.last_error, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`)
	qScheduleGet = prep(`SELECT ` + scheduleCols + ` FROM schedules
		WHERE namespace = ? AND workflow = ? AND name = ?`)
	qScheduleList = prep(`SELECT ` + scheduleCols + ` FROM schedules
		WHERE (? = '' OR namespace = ?) AND (? = '' OR workflow = ?)
		ORDER BY namespace, workflow, name`)
	qScheduleDelete  = prep(`DELETE FROM schedules WHERE namespace = ? AND workflow = ? AND name = ?`)
	qScheduleListDue = prep(`SELECT ` + scheduleCols + ` FROM schedules
		WHERE paused = 0 AND next_fire_at > 0 AND next_fire_at <= ?
		ORDER BY next_fire_at, namespace, workflow, name LIMIT ?`)
	qScheduleNext = prep(`SELECT min(next_fire_at) FROM schedules WHERE paused = 0 AND next_fire_at > 0`)
)

func scanSchedule(sc scanner) (*store.Schedule, error) {
	var s store.Schedule
	err := sc.Scan(&s.Namespace, &s.Workflow, &s.Name, &s.Version, &s.Cron, &s.Timezone,
		microTime{&s.NextFireAt}, &s.Paused, microTime{&s.LastFiredAt}, &s.LastRunID,
		&s.QueuedRunID, &s.LastError, microTime{&s.UpdatedAt}, &s.UpdatedBy)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *tx) ScheduleUpsert(ctx context.Context, s *store.Schedule) error {
	_, err := t.exec(ctx, qScheduleUpsert, s.Namespace, s.Workflow, s.Name, s.Version, s.Cron,
		s.Timezone, toMicros(s.NextFireAt), s.Paused, toMicros(s.LastFiredAt), s.LastRunID,
		s.QueuedRunID, s.LastError, toMicros(s.UpdatedAt), s.UpdatedBy)
	if err != nil {
		return fmt.Errorf("sqlite: schedule upsert %s/%s/%s: %w", s.Namespace, s.Workflow, s.Name, interpretError(err))
	}
	return nil
}

// ScheduleGet needs no lock of its own: SQLite serializes write transactions.
func (t *tx) ScheduleGet(ctx context.Context, namespace, workflow, name string) (*store.Schedule, error) {
	s, err := scanSchedule(t.queryRow(ctx, qScheduleGet, namespace, workflow, name))
	if err != nil {
		return nil, fmt.Errorf("sqlite: schedule %s/%s/%s: %w", namespace, workflow, name, interpretError(err))
	}
	return s, nil
}

func (t *tx) ScheduleList(ctx context.Context, namespace, workflow string) ([]*store.Schedule, error) {
	rows, err := t.query(ctx, qScheduleList, namespace, namespace, workflow, workflow)
	return collect(rows, err, scanSchedule)
}

func (t *tx) ScheduleDelete(ctx context.Context, namespace, workflow, name string) error {
	if _, err := t.exec(ctx, qScheduleDelete, namespace, workflow, name); err != nil {
		return fmt.Errorf("sqlite: schedule delete: %w", interpretError(err))
	}
	return nil
}

func (t *tx) ScheduleListDue(ctx context.Context, now time.Time, limit int) ([]*store.Schedule, error) {
	rows, err := t.query(ctx, qScheduleListDue, toMicros(now), limitOrAll(limit))
	return collect(rows, err, scanSchedule)
}

func (t *tx) ScheduleNext(ctx context.Context) (time.Time, error) {
	var next *int64
	if err := t.queryRow(ctx, qScheduleNext).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: schedule next: %w", interpretError(err))
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMicros(*next), nil
}
