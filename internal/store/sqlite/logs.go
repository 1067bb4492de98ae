package sqlite

import (
	"context"
	"fmt"

	"github.com/legatohq/legato/internal/store"
)

var qLogAppend = prep(`INSERT INTO logs (run_id, task, idx, attempt, stream, line, at)
	VALUES (?, ?, ?, ?, ?, ?, ?)`)

// LogAppend sets the Seq of each line, increasing in the order given.
func (t *tx) LogAppend(ctx context.Context, lines []*store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	st := t.stmt(ctx, qLogAppend)
	for _, l := range lines {
		res, err := st.ExecContext(ctx, l.RunID, l.Task, l.Index, l.Attempt, l.Stream, l.Line, toMicros(l.At))
		if err != nil {
			return fmt.Errorf("sqlite: log append: %w", interpretError(err))
		}
		if l.Seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: log append: %w", err)
		}
	}
	return nil
}

// LogList: a Limit <= 0 means no limit.
func (t *tx) LogList(ctx context.Context, p *store.LogListParams) ([]*store.LogLine, error) {
	q := `SELECT seq, run_id, task, idx, attempt, stream, line, at FROM logs
		WHERE run_id = ? AND seq > ?`
	args := []any{p.RunID, p.AfterSeq}
	if p.Task != "" {
		q += ` AND task = ?`
		args = append(args, p.Task)
	}
	if p.Index >= -1 {
		q += ` AND idx = ?`
		args = append(args, p.Index)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, limitOrAll(p.Limit))
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, func(sc scanner) (*store.LogLine, error) {
		var l store.LogLine
		err := sc.Scan(&l.Seq, &l.RunID, &l.Task, &l.Index, &l.Attempt, &l.Stream, &l.Line, microTime{&l.At})
		return &l, err
	})
}
