package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

const (
	// qEventAppend inserts a batch in the order given (ORDER BY ord), so
	// that the seqs it takes increase along the batch.
	qEventAppend = `INSERT INTO events (run_id, type, task, idx, data, actor, at)
		SELECT run_id, type, task, idx, data::jsonb, actor, at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
			$7::timestamptz[]) WITH ORDINALITY AS u (run_id, type, task, idx, data, actor, at, ord)
		ORDER BY ord
		RETURNING seq`
	qEventList = `SELECT seq, run_id, type, task, idx, data, actor, at FROM events
		WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
)

// EventAppend sets the Seq of each event, increasing in the order given.
// Like LogAppend, it locks each run's event sequence until commit.
func (t *tx) EventAppend(ctx context.Context, evs []*store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	runIDs, types, tasks, actors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	indexes := make([]int, n)
	for i, e := range evs {
		runIDs[i], types[i], tasks[i], indexes[i], actors[i] = e.RunID, e.Type, e.Task, e.Index, e.Actor
	}
	data, err := jsonArgs(evs, func(e *store.Event) any { return e.Data })
	if err != nil {
		return err
	}
	err = t.appendLocked(ctx, lockRunEvents, runIDs, func(i int, seq int64) { evs[i].Seq = seq },
		qEventAppend, runIDs, types, tasks, indexes, data, actors,
		tzs(evs, func(e *store.Event) time.Time { return e.At }))
	if err != nil {
		return fmt.Errorf("postgres: event append: %w", err)
	}
	return nil
}

// EventList: a limit <= 0 means no limit.
func (t *tx) EventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*store.Event, error) {
	return queryAll(ctx, t, func(sc scanner) (*store.Event, error) {
		e := new(store.Event)
		return e, sc.Scan(&e.Seq, &e.RunID, &e.Type, &e.Task, &e.Index, jsonCol{&e.Data}, &e.Actor, tsCol{&e.At})
	}, qEventList, runID, afterSeq, limitArg(limit))
}
