package sqlite

import (
	"context"
	"fmt"

	"github.com/legatohq/legato/internal/store"
)

var (
	qEventAppend = prep(`INSERT INTO events (run_id, type, task, idx, data, actor, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	qEventList = prep(`SELECT seq, run_id, type, task, idx, data, actor, at FROM events
		WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`)
)

// EventAppend sets the Seq of each event, increasing in the order given.
func (t *tx) EventAppend(ctx context.Context, evs []*store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	st := t.stmt(ctx, qEventAppend)
	for _, e := range evs {
		data, err := toJSON(e.Data)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, e.RunID, e.Type, e.Task, e.Index, data, e.Actor, toMicros(e.At))
		if err != nil {
			return fmt.Errorf("sqlite: event append: %w", interpretError(err))
		}
		if e.Seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: event append: %w", err)
		}
	}
	return nil
}

// EventList: a limit <= 0 means no limit.
func (t *tx) EventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*store.Event, error) {
	rows, err := t.query(ctx, qEventList, runID, afterSeq, limitOrAll(limit))
	return collect(rows, err, func(sc scanner) (*store.Event, error) {
		var e store.Event
		err := sc.Scan(&e.Seq, &e.RunID, &e.Type, &e.Task, &e.Index, jsonCol{&e.Data}, &e.Actor, microTime{&e.At})
		return &e, err
	})
}
