package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// An embedded store has one writer at a time: InboxInsert and EventWaitPut
// never interleave, so they need no lock of their own.

const inboxCols = `seq, namespace, id, source, type, subject, time, datacontenttype, data, received_at, actor`

var (
	qRunKeyPut = prep(`INSERT INTO run_keys (namespace, workflow, key, run_id, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (namespace, workflow, key) DO NOTHING`)
	qRunKeyGet       = prep(`SELECT run_id FROM run_keys WHERE namespace = ? AND workflow = ? AND key = ?`)
	qRunTriggerPut   = prep(`INSERT OR REPLACE INTO run_triggers (run_id, kind, name, event_source, event_id, received_at) VALUES (?, ?, ?, ?, ?, ?)`)
	qRunTriggerGet   = prep(`SELECT run_id, kind, name, event_source, event_id, received_at FROM run_triggers WHERE run_id = ?`)
	qInboxInsert     = prep(`INSERT INTO inbox (namespace, id, source, type, subject, time, datacontenttype, data, received_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`)
	qInboxPrune      = prep(`DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox WHERE received_at < ? ORDER BY seq LIMIT ?)`)
	qInboxGet        = prep(`SELECT ` + inboxCols + ` FROM inbox WHERE source = ? AND id = ?`)
	qInboxList       = prep(`SELECT ` + inboxCols + ` FROM inbox WHERE (?1 = '' OR namespace = ?1) AND (?2 = '' OR type = ?2) AND received_at >= ?3 AND seq > ?4 ORDER BY seq LIMIT ?5`)
	qEventWaitPut    = prep(`INSERT OR REPLACE INTO event_waits (run_id, task, idx, namespace, type, match, context, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qEventWaitDelete = prep(`DELETE FROM event_waits WHERE run_id = ? AND task = ? AND idx = ?`)
	qEventWaitList   = prep(`SELECT run_id, task, idx, namespace, type, match, context, deadline, created_at FROM event_waits WHERE namespace = ? AND type = ? ORDER BY created_at, run_id, task, idx`)
)

func (t *tx) RunKeyPut(ctx context.Context, namespace, workflow, key, runID string, at time.Time) (string, error) {
	if _, err := t.exec(ctx, qRunKeyPut, namespace, workflow, key, runID, toMicros(at)); err != nil {
		return "", fmt.Errorf("sqlite: run key put: %w", interpretError(err))
	}
	var id string
	if err := t.queryRow(ctx, qRunKeyGet, namespace, workflow, key).Scan(&id); err != nil {
		return "", fmt.Errorf("sqlite: run key get: %w", interpretError(err))
	}
	return id, nil
}

func (t *tx) RunTriggerPut(ctx context.Context, rt *store.RunTrigger) error {
	if _, err := t.exec(ctx, qRunTriggerPut, rt.RunID, rt.Kind, rt.Name, rt.EventSource, rt.EventID, toMicros(rt.ReceivedAt)); err != nil {
		return fmt.Errorf("sqlite: run trigger put %s: %w", rt.RunID, interpretError(err))
	}
	return nil
}

func (t *tx) RunTriggerGet(ctx context.Context, runID string) (*store.RunTrigger, error) {
	var rt store.RunTrigger
	if err := t.queryRow(ctx, qRunTriggerGet, runID).Scan(&rt.RunID, &rt.Kind, &rt.Name, &rt.EventSource, &rt.EventID, microTime{&rt.ReceivedAt}); err != nil {
		return nil, fmt.Errorf("sqlite: run trigger %s: %w", runID, interpretError(err))
	}
	return &rt, nil
}

func (t *tx) InboxInsert(ctx context.Context, ev *store.InboxEvent) (*store.InboxEvent, bool, error) {
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = time.Now().UTC()
	}
	data, err := toJSON(ev.Data)
	if err != nil {
		return nil, false, err
	}
	res, err := t.exec(ctx, qInboxInsert, ev.Namespace, ev.ID, ev.Source, ev.Type, ev.Subject, toMicros(ev.Time),
		ev.DataContentType, data, toMicros(ev.ReceivedAt), ev.Actor)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: inbox insert: %w", interpretError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, err
	}
	got, err := scanInbox(t.queryRow(ctx, qInboxGet, ev.Source, ev.ID))
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: inbox get: %w", interpretError(err))
	}
	return got, n == 1, nil
}

func scanInbox(sc scanner) (*store.InboxEvent, error) {
	var ev store.InboxEvent
	err := sc.Scan(&ev.Seq, &ev.Namespace, &ev.ID, &ev.Source, &ev.Type, &ev.Subject, microTime{&ev.Time},
		&ev.DataContentType, jsonCol{&ev.Data}, microTime{&ev.ReceivedAt}, &ev.Actor)
	return &ev, err
}

func (t *tx) InboxList(ctx context.Context, p *store.InboxListParams) ([]*store.InboxEvent, error) {
	rows, err := t.query(ctx, qInboxList, p.Namespace, p.Type, toMicros(p.Since), p.AfterSeq, limitOrAll(p.Limit))
	evs, err := collect(rows, err, scanInbox)
	if err != nil {
		return nil, fmt.Errorf("sqlite: inbox list: %w", interpretError(err))
	}
	return evs, nil
}

func (t *tx) EventWaitPut(ctx context.Context, w *store.EventWait) error {
	c, err := toJSON(w.Context)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, qEventWaitPut, w.RunID, w.Task, w.Index, w.Namespace, w.Type, w.Match, c,
		toMicros(w.Deadline), toMicros(w.CreatedAt)); err != nil {
		return fmt.Errorf("sqlite: event wait put %s/%s/%d: %w", w.RunID, w.Task, w.Index, interpretError(err))
	}
	return nil
}

func (t *tx) EventWaitDelete(ctx context.Context, runID, task string, index int) error {
	if _, err := t.exec(ctx, qEventWaitDelete, runID, task, index); err != nil {
		return fmt.Errorf("sqlite: event wait delete %s/%s/%d: %w", runID, task, index, interpretError(err))
	}
	return nil
}

func (t *tx) EventWaitList(ctx context.Context, namespace, typ string) ([]*store.EventWait, error) {
	rows, err := t.query(ctx, qEventWaitList, namespace, typ)
	ws, err := collect(rows, err, func(sc scanner) (*store.EventWait, error) {
		var w store.EventWait
		err := sc.Scan(&w.RunID, &w.Task, &w.Index, &w.Namespace, &w.Type, &w.Match, jsonCol{&w.Context},
			microTime{&w.Deadline}, microTime{&w.CreatedAt})
		return &w, err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sqlite: event wait list: %w", interpretError(err))
	}
	return ws, nil
}

func (t *tx) InboxPrune(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := t.exec(ctx, qInboxPrune, toMicros(before), limitOrAll(limit))
	if err != nil {
		return 0, fmt.Errorf("sqlite: inbox prune: %w", interpretError(err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}
