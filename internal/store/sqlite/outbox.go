package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const notificationCols = `id, run_id, task, idx, event, channel, payload, status, attempts,
	next_at, last_error, created_at, finished_at`

var (
	qNotificationInsert = prep(`INSERT INTO notifications (run_id, task, idx, event, channel,
		payload, status, attempts, next_at, last_error, created_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qNotificationListDue = prep(`SELECT ` + notificationCols + ` FROM notifications
		WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`)
	qNotificationNextDue = prep(`SELECT coalesce(min(next_at), 0) FROM notifications
		WHERE status = 'pending'`)
	qNotificationUpdate = prep(`UPDATE notifications SET status = ?, attempts = ?, next_at = ?,
		last_error = ?, finished_at = ? WHERE id = ? AND status = 'pending'`)
	qNotificationList = prep(`SELECT ` + notificationCols + ` FROM notifications
		WHERE run_id = ? ORDER BY id`)
)

func scanNotification(sc scanner) (*store.Notification, error) {
	var n store.Notification
	err := sc.Scan(&n.ID, &n.RunID, &n.Task, &n.Index, &n.Event, &n.Channel, jsonCol{&n.Payload},
		&n.Status, &n.Attempts, microTime{&n.NextAt}, &n.LastError, microTime{&n.CreatedAt},
		microTime{&n.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// NotificationInsert sets the ID of each notification. The engine wakes
// its own delivery loop; an embedded store has no other server to tell.
func (t *tx) NotificationInsert(ctx context.Context, ns []*store.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	st := t.stmt(ctx, qNotificationInsert)
	for _, n := range ns {
		payload, err := toJSON(n.Payload)
		if err != nil {
			return err
		}
		if payload == nil {
			payload = "{}"
		}
		res, err := st.ExecContext(ctx, n.RunID, n.Task, n.Index, n.Event, n.Channel, payload, n.Status,
			n.Attempts, toMicros(n.NextAt), n.LastError, toMicros(n.CreatedAt), toMicros(n.FinishedAt))
		if err != nil {
			return fmt.Errorf("sqlite: notification insert: %w", interpretError(err))
		}
		if n.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: notification insert: %w", err)
		}
	}
	return nil
}

func (t *tx) NotificationListDue(ctx context.Context, now time.Time, limit int) ([]*store.Notification, error) {
	rows, err := t.query(ctx, qNotificationListDue, toMicros(now), limitOrAll(limit))
	return collect(rows, err, scanNotification)
}

func (t *tx) NotificationNextDue(ctx context.Context) (time.Time, error) {
	var us int64
	if err := t.queryRow(ctx, qNotificationNextDue).Scan(&us); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: notification next due: %w", interpretError(err))
	}
	return fromMicros(us), nil
}

func (t *tx) NotificationUpdate(ctx context.Context, n *store.Notification) error {
	res, err := t.exec(ctx, qNotificationUpdate, n.Status, n.Attempts, toMicros(n.NextAt), n.LastError,
		toMicros(n.FinishedAt), n.ID)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: notification update %d: %w", n.ID, interpretError(err))
	}
	return nil
}

func (t *tx) NotificationList(ctx context.Context, runID string) ([]*store.Notification, error) {
	rows, err := t.query(ctx, qNotificationList, runID)
	return collect(rows, err, scanNotification)
}
