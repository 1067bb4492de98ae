package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipe is the transaction the driver's methods use: a pgx.Tx that holds
// back writes whose results nobody needs at once (the run's update, its
// task runs, its journal) and sends them with the next statement, in one
// round trip (a pgx batch). Every statement, and the commit, sends what is
// held first, in order, so reads see the writes; an error of a held write
// is the error of the statement that sent it, and the transaction fails.
type pipe struct {
	pgx.Tx
	held  pgx.Batch
	reads []func(pgx.BatchResults) error
}

// later holds q back; read takes its result when it is sent.
func (p *pipe) later(read func(pgx.BatchResults) error, q string, args ...any) {
	p.held.Queue(q, args...)
	p.reads = append(p.reads, read)
}

// laterExec holds back a statement whose result is only its error.
func (p *pipe) laterExec(wrap func(error) error, q string, args ...any) {
	p.later(func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return wrap(err)
	}, q, args...)
}

// send sends the held statements and q (when not empty) in one batch; it
// returns the batch positioned on q's result, after reading the held
// ones. The caller closes it.
func (p *pipe) send(ctx context.Context, q string, args ...any) (pgx.BatchResults, error) {
	b, reads := p.held, p.reads
	p.held, p.reads = pgx.Batch{}, nil
	if q != "" {
		b.Queue(q, args...)
	}
	br := p.Tx.SendBatch(ctx, &b)
	for _, read := range reads {
		if err := read(br); err != nil {
			return nil, errors.Join(err, br.Close())
		}
	}
	return br, nil
}

// flush sends what is held.
func (p *pipe) flush(ctx context.Context) error {
	if len(p.reads) == 0 {
		return nil
	}
	br, err := p.send(ctx, "")
	if err != nil {
		return err
	}
	return br.Close()
}

func (p *pipe) Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	if len(p.reads) == 0 {
		return p.Tx.Exec(ctx, q, args...)
	}
	br, err := p.send(ctx, q, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func (p *pipe) QueryRow(ctx context.Context, q string, args ...any) pgx.Row {
	if len(p.reads) == 0 {
		return p.Tx.QueryRow(ctx, q, args...)
	}
	br, err := p.send(ctx, q, args...)
	if err != nil {
		return errRow{err}
	}
	return batchRow{row: br.QueryRow(), br: br}
}

func (p *pipe) Query(ctx context.Context, q string, args ...any) (pgx.Rows, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Query(ctx, q, args...)
}

// SendBatch sends what is held first. Should that fail, the transaction
// is aborted and b fails too (no driver method sends a batch of its own
// today: appendLocked holds its statements back instead).
func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	_ = p.flush(ctx)
	return p.Tx.SendBatch(ctx, b)
}

// batchRow is a row read from a batch, closed once scanned.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	return errors.Join(err, r.br.Close())
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
