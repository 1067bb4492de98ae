package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// qLogAppend inserts a batch in the order given (ORDER BY ord), so that
// the seqs it takes increase along the batch.
const qLogAppend = `INSERT INTO logs (run_id, task, idx, attempt, stream, line, at)
	SELECT run_id, task, idx, attempt, stream, line, at
	FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[],
		$7::timestamptz[]) WITH ORDINALITY AS u (run_id, task, idx, attempt, stream, line, at, ord)
	ORDER BY ord
	RETURNING seq`

// LogAppend sets the Seq of each line, increasing in the order given. It
// locks each run's log sequence until commit, so that a run's lines commit
// in Seq order.
func (t *tx) LogAppend(ctx context.Context, lines []*store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	n := len(lines)
	runIDs, tasks, streams, texts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	indexes, attempts := make([]int, n), make([]int, n)
	for i, l := range lines {
		runIDs[i], tasks[i], indexes[i], attempts[i], streams[i], texts[i] = l.RunID, l.Task, l.Index, l.Attempt, l.Stream, text(l.Line)
	}
	err := t.appendLocked(ctx, lockRunLogs, runIDs, func(i int, seq int64) { lines[i].Seq = seq },
		qLogAppend, runIDs, tasks, indexes, attempts, streams, texts,
		tzs(lines, func(l *store.LogLine) time.Time { return l.At }))
	if err != nil {
		return fmt.Errorf("postgres: log append: %w", err)
	}
	return nil
}

// LogList: a Limit <= 0 means no limit.
func (t *tx) LogList(ctx context.Context, p *store.LogListParams) ([]*store.LogLine, error) {
	args := params{p.RunID, p.AfterSeq}
	q := `SELECT seq, run_id, task, idx, attempt, stream, line, at FROM logs
		WHERE run_id = $1 AND seq > $2`
	if p.Task != "" {
		q += ` AND task = ` + args.add(p.Task)
	}
	if p.Index >= -1 {
		q += ` AND idx = ` + args.add(p.Index)
	}
	q += ` ORDER BY seq LIMIT ` + args.add(limitArg(p.Limit))
	return queryAll(ctx, t, func(sc scanner) (*store.LogLine, error) {
		l := new(store.LogLine)
		return l, sc.Scan(&l.Seq, &l.RunID, &l.Task, &l.Index, &l.Attempt, &l.Stream, &l.Line, tsCol{&l.At})
	}, q, args...)
}
