package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// An event arriving and a wait beginning for its type must not miss each
// other across servers: InboxInsert and EventWaitPut both take the
// advisory lock of (namespace, type) until their transaction ends, so the
// second one's reads (a wait's look-back, an event's list of waits) see
// the first one's row.

const inboxCols = `seq, namespace, id, source, type, subject, time, datacontenttype, data, received_at, actor`

const (
	// An insert that meets a committed key does nothing; one that meets
	// an uncommitted key waits for that transaction, so exactly one binds.
	qRunKeyPut = `INSERT INTO run_keys (namespace, workflow, key, run_id, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (namespace, workflow, key) DO NOTHING`
	qRunKeyGet     = `SELECT run_id FROM run_keys WHERE namespace = $1 AND workflow = $2 AND key = $3`
	qRunTriggerPut = `INSERT INTO run_triggers (run_id, kind, name, event_source, event_id, received_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (run_id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
			event_source = excluded.event_source, event_id = excluded.event_id, received_at = excluded.received_at`
	qRunTriggerGet = `SELECT run_id, kind, name, event_source, event_id, received_at FROM run_triggers WHERE run_id = $1`
	qInboxInsert   = `INSERT INTO inbox (namespace, id, source, type, subject, time, datacontenttype, data, received_at, actor)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (source, id) DO NOTHING`
	qInboxGet   = `SELECT ` + inboxCols + ` FROM inbox WHERE source = $1 AND id = $2`
	qInboxPrune = `DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox WHERE received_at < $1 ORDER BY seq LIMIT $2)`
	qInboxList  = `SELECT ` + inboxCols + ` FROM inbox WHERE ($1 = '' OR namespace = $1) AND ($2 = '' OR type = $2)
		AND received_at >= $3 AND seq > $4 ORDER BY seq LIMIT $5`
	qEventWaitPut = `INSERT INTO event_waits (run_id, task, idx, namespace, type, match, context, deadline, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (run_id, task, idx) DO UPDATE SET namespace = excluded.namespace, type = excluded.type,
			match = excluded.match, context = excluded.context, deadline = excluded.deadline, created_at = excluded.created_at`
	qEventWaitDelete = `DELETE FROM event_waits WHERE run_id = $1 AND task = $2 AND idx = $3`
	qEventWaitList   = `SELECT run_id, task, idx, namespace, type, match, context, deadline, created_at FROM event_waits
		WHERE namespace = $1 AND type = $2 ORDER BY created_at, run_id, task, idx`
)

func (t *tx) RunKeyPut(ctx context.Context, namespace, workflow, key, runID string, at time.Time) (string, error) {
	if _, err := t.tx.Exec(ctx, qRunKeyPut, text(namespace), text(workflow), text(key), runID, tz(at)); err != nil {
		return "", fmt.Errorf("postgres: run key put: %w", interpretError(err))
	}
	var id string
	if err := t.tx.QueryRow(ctx, qRunKeyGet, text(namespace), text(workflow), text(key)).Scan(&id); err != nil {
		return "", fmt.Errorf("postgres: run key get: %w", interpretError(err))
	}
	return id, nil
}

func (t *tx) RunTriggerPut(ctx context.Context, rt *store.RunTrigger) error {
	if _, err := t.tx.Exec(ctx, qRunTriggerPut, rt.RunID, text(rt.Kind), text(rt.Name), text(rt.EventSource), text(rt.EventID), tz(rt.ReceivedAt)); err != nil {
		return fmt.Errorf("postgres: run trigger put %s: %w", rt.RunID, interpretError(err))
	}
	return nil
}

func (t *tx) RunTriggerGet(ctx context.Context, runID string) (*store.RunTrigger, error) {
	var rt store.RunTrigger
	if err := t.tx.QueryRow(ctx, qRunTriggerGet, runID).Scan(&rt.RunID, &rt.Kind, &rt.Name, &rt.EventSource, &rt.EventID, tsCol{&rt.ReceivedAt}); err != nil {
		return nil, fmt.Errorf("postgres: run trigger %s: %w", runID, interpretError(err))
	}
	return &rt, nil
}

func (t *tx) InboxInsert(ctx context.Context, ev *store.InboxEvent) (*store.InboxEvent, bool, error) {
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = truncate(nowFunc())
	}
	data, err := jsonArg(ev.Data)
	if err != nil {
		return nil, false, err
	}
	if err := t.lock(ctx, lockEventType, ev.Namespace+"/"+ev.Type); err != nil {
		return nil, false, fmt.Errorf("postgres: inbox lock: %w", interpretError(err))
	}
	tag, err := t.tx.Exec(ctx, qInboxInsert, text(ev.Namespace), text(ev.ID), text(ev.Source), text(ev.Type), text(ev.Subject),
		tz(ev.Time), text(ev.DataContentType), data, tz(ev.ReceivedAt), text(ev.Actor))
	if err != nil {
		return nil, false, fmt.Errorf("postgres: inbox insert: %w", interpretError(err))
	}
	got, err := scanInbox(t.tx.QueryRow(ctx, qInboxGet, text(ev.Source), text(ev.ID)))
	if err != nil {
		return nil, false, fmt.Errorf("postgres: inbox get: %w", interpretError(err))
	}
	return got, tag.RowsAffected() == 1, nil
}

func scanInbox(sc scanner) (*store.InboxEvent, error) {
	var ev store.InboxEvent
	err := sc.Scan(&ev.Seq, &ev.Namespace, &ev.ID, &ev.Source, &ev.Type, &ev.Subject, tsCol{&ev.Time},
		&ev.DataContentType, jsonCol{&ev.Data}, tsCol{&ev.ReceivedAt}, &ev.Actor)
	return &ev, err
}

func (t *tx) InboxList(ctx context.Context, p *store.InboxListParams) ([]*store.InboxEvent, error) {
	evs, err := queryAll(ctx, t, scanInbox, qInboxList, text(p.Namespace), text(p.Type), tz(p.Since), p.AfterSeq, limitArg(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: inbox list: %w", err)
	}
	return evs, nil
}

func (t *tx) EventWaitPut(ctx context.Context, w *store.EventWait) error {
	c, err := jsonArg(w.Context)
	if err != nil {
		return err
	}
	if err := t.lock(ctx, lockEventType, w.Namespace+"/"+w.Type); err != nil {
		return fmt.Errorf("postgres: event wait lock: %w", interpretError(err))
	}
	if _, err := t.tx.Exec(ctx, qEventWaitPut, w.RunID, text(w.Task), w.Index, text(w.Namespace), text(w.Type), text(w.Match), c,
		tz(w.Deadline), tz(w.CreatedAt)); err != nil {
		return fmt.Errorf("postgres: event wait put %s/%s/%d: %w", w.RunID, w.Task, w.Index, interpretError(err))
	}
	return nil
}

func (t *tx) EventWaitDelete(ctx context.Context, runID, task string, index int) error {
	if _, err := t.tx.Exec(ctx, qEventWaitDelete, runID, text(task), index); err != nil {
		return fmt.Errorf("postgres: event wait delete %s/%s/%d: %w", runID, task, index, interpretError(err))
	}
	return nil
}

func (t *tx) EventWaitList(ctx context.Context, namespace, typ string) ([]*store.EventWait, error) {
	ws, err := queryAll(ctx, t, func(sc scanner) (*store.EventWait, error) {
		var w store.EventWait
		err := sc.Scan(&w.RunID, &w.Task, &w.Index, &w.Namespace, &w.Type, &w.Match, jsonCol{&w.Context},
			tsCol{&w.Deadline}, tsCol{&w.CreatedAt})
		return &w, err
	}, qEventWaitList, text(namespace), text(typ))
	if err != nil {
		return nil, fmt.Errorf("postgres: event wait list: %w", err)
	}
	return ws, nil
}

func (t *tx) InboxPrune(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := t.tx.Exec(ctx, qInboxPrune, tz(before), limitArg(limit))
	if err != nil {
		return 0, fmt.Errorf("postgres: inbox prune: %w", interpretError(err))
	}
	return int(tag.RowsAffected()), nil
}
