package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const (
	notificationCols = `id, run_id, task, idx, event, channel, payload, status, attempts,
	next_at, last_error, created_at, finished_at`
	// qNotificationInsert notifies ChannelTimers so that the scheduler
	// duty's holder, on whichever server, delivers at once.
	qNotificationInsert = `WITH n AS (
			INSERT INTO notifications (run_id, task, idx, event, channel, payload, status, attempts,
				next_at, last_error, created_at, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
			RETURNING id)
		SELECT id FROM n, pg_notify('` + ChannelTimers + `', '')`
	qNotificationListDue = `SELECT ` + notificationCols + ` FROM notifications
		WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at, id LIMIT $2`
	qNotificationNextDue = `SELECT min(next_at) FROM notifications WHERE status = 'pending'`
	qNotificationUpdate  = `UPDATE notifications SET status = $2, attempts = $3, next_at = $4,
		last_error = $5, finished_at = $6 WHERE id = $1 AND status = 'pending'`
	qNotificationList = `SELECT ` + notificationCols + ` FROM notifications
		WHERE run_id = $1 ORDER BY id`
)

func scanNotification(sc scanner) (*store.Notification, error) {
	n := new(store.Notification)
	return n, sc.Scan(&n.ID, &n.RunID, &n.Task, &n.Index, &n.Event, &n.Channel, jsonCol{&n.Payload},
		&n.Status, &n.Attempts, tsCol{&n.NextAt}, &n.LastError, tsCol{&n.CreatedAt}, tsCol{&n.FinishedAt})
}

// NotificationInsert sets the ID of each notification.
func (t *tx) NotificationInsert(ctx context.Context, ns []*store.Notification) error {
	for _, n := range ns {
		payload, err := jsonArg(n.Payload)
		if err != nil {
			return err
		}
		if payload == nil {
			empty := "{}"
			payload = &empty
		}
		err = t.tx.QueryRow(ctx, qNotificationInsert, n.RunID, text(n.Task), n.Index, n.Event, text(n.Channel),
			payload, n.Status, n.Attempts, tz(n.NextAt), text(n.LastError), tz(n.CreatedAt), tz(n.FinishedAt)).
			Scan(&n.ID)
		if err != nil {
			return fmt.Errorf("postgres: notification insert: %w", interpretError(err))
		}
	}
	return nil
}

func (t *tx) NotificationListDue(ctx context.Context, now time.Time, limit int) ([]*store.Notification, error) {
	return queryAll(ctx, t, scanNotification, qNotificationListDue, tz(now), limitArg(limit))
}

func (t *tx) NotificationNextDue(ctx context.Context) (time.Time, error) {
	var next time.Time
	if err := t.tx.QueryRow(ctx, qNotificationNextDue).Scan(tsCol{&next}); err != nil {
		return time.Time{}, fmt.Errorf("postgres: notification next due: %w", interpretError(err))
	}
	return next, nil
}

func (t *tx) NotificationUpdate(ctx context.Context, n *store.Notification) error {
	err := mustAffect(t.tx.Exec(ctx, qNotificationUpdate, n.ID, n.Status, n.Attempts, tz(n.NextAt),
		text(n.LastError), tz(n.FinishedAt)))
	if err != nil {
		return fmt.Errorf("postgres: notification update %d: %w", n.ID, interpretError(err))
	}
	return nil
}

func (t *tx) NotificationList(ctx context.Context, runID string) ([]*store.Notification, error) {
	return queryAll(ctx, t, scanNotification, qNotificationList, runID)
}
