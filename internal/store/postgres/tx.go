package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/legatohq/legato/internal/store"
)

// tx implements store.Tx on one pgx transaction.
type tx struct {
	tx *pipe
	// write is false in View: reads take no locks there.
	write bool
}

var _ store.Tx = (*tx)(nil)

// nowFunc is the clock for the few timestamps the store sets itself.
var nowFunc = time.Now

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs q and scans every row with scan.
func queryAll[T any](ctx context.Context, t *tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	// pipe.Query returns no rows when the writes it held back fail to
	// send (a canceled context): its error must be checked.
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, interpretError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, interpretError(err)
	}
	return out, nil
}

// qLock takes the transaction-level advisory locks of keys ($2) within a
// class ($1), in the store's schema, in key order (volatile functions of
// the select list run after ORDER BY) so that two lockers cannot deadlock.
const qLock = `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '') || '/' || k))
	FROM (SELECT DISTINCT unnest($2::text[]) AS k) keys ORDER BY k`

// lock takes the advisory locks of keys within class (a lock* constant),
// held until the transaction ends. Views take none: they write nothing.
func (t *tx) lock(ctx context.Context, class int32, keys ...string) error {
	if !t.write {
		return nil
	}
	_, err := t.tx.Exec(ctx, qLock, class, keys)
	return err
}

// appendLocked holds back insert, an INSERT of rows of runIDs that
// returns each row's seq, after taking the runs' advisory locks within
// class: both go out with the transaction's next statement (pipe). Row i
// gets its seq (setSeq) then. The seqs increase in the order insert
// inserts its rows, which is the order given.
func (t *tx) appendLocked(_ context.Context, class int32, runIDs []string, setSeq func(i int, seq int64), insert string, args ...any) error {
	t.tx.laterExec(interpretError, qLock, class, runIDs)
	t.tx.later(func(br pgx.BatchResults) error {
		rows, _ := br.Query()
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return interpretError(err)
		}
		slices.Sort(seqs)
		for i, seq := range seqs {
			setSeq(i, seq)
		}
		return nil
	}, insert, args...)
	return nil
}

// Advisory lock classes: the first key of pg_advisory_xact_lock(int, int).
const (
	lockWorkflow       int32 = 0x4c470001 + iota // a workflow's versions and concurrency slots
	lockRunLogs                                  // a run's log sequence
	lockRunEvents                                // a run's event sequence
	lockEventType                                // the inbox and the waits of one (namespace, event type)
	lockConcurrencyKey                           // the concurrency slots of a (workflow, key)
)

// interpretError maps PostgreSQL's errors to the store's sentinels, keeping
// the original error in the chain.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: a referenced run does not exist: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// mustAffect returns store.ErrNotFound when tag reports no row changed.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return err
}

// staleOnMissing turns "no such row" into store.ErrStaleLease: a lease
// update that matched nothing means the token no longer holds the attempt.
func staleOnMissing(err error) error {
	err = interpretError(err)
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrStaleLease
	}
	return err
}

// tz encodes a time for a timestamptz parameter; the zero time is
// '-infinity', which sorts before every other time as SQLite's 0 does.
func tz(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// tzs encodes times for a timestamptz[] parameter.
func tzs[T any](items []T, get func(T) time.Time) []pgtype.Timestamptz {
	out := make([]pgtype.Timestamptz, len(items))
	for i, it := range items {
		out[i] = tz(get(it))
	}
	return out
}

// tsCol scans a timestamptz column: UTC, '-infinity' and NULL are the zero
// time.
type tsCol struct{ t *time.Time }

func (c tsCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*c.t = time.Time{}
		return nil
	}
	*c.t = v.Time.UTC()
	return nil
}

// truncate drops what a timestamptz cannot hold, so that a time the store
// sets itself equals what a read returns.
func truncate(t time.Time) time.Time {
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// jsonArg encodes v for a jsonb parameter. What encodes as JSON null (nil,
// a nil map or RawMessage) is SQL NULL, which reads back as nil.
func jsonArg(v any) (*string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode JSON: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	s := string(withoutNULEscapes(b))
	return &s, nil
}

// withoutNULEscapes replaces the \u0000 escapes of a JSON document, which
// jsonb refuses, with \ufffd. Outside strings JSON has no backslash, and
// inside them a backslash always starts an escape, so walking escape by
// escape finds exactly the NULs.
func withoutNULEscapes(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if bytes.HasPrefix(b[i:], []byte(`\u0000`)) {
			out = append(out, `\ufffd`...)
			i += len(`\u0000`) - 1
			continue
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// jsonCol scans a jsonb column into dst (a pointer) with encoding/json;
// NULL leaves it zero, and a json.RawMessage gets the compact text.
type jsonCol struct{ dst any }

// ScanBytes is called with the column's text, nil for NULL (pgx's
// BytesScanner).
func (j jsonCol) ScanBytes(b []byte) error {
	if b == nil {
		return nil
	}
	raw, ok := j.dst.(*json.RawMessage)
	if !ok {
		return json.Unmarshal(b, j.dst)
	}
	var buf bytes.Buffer
	err := json.Compact(&buf, b)
	*raw = buf.Bytes()
	return err
}

// jsonArgs encodes a value of each item for a jsonb[] parameter (sent as
// text[]).
func jsonArgs[T any](items []T, get func(T) any) ([]*string, error) {
	out := make([]*string, len(items))
	for i, it := range items {
		var err error
		if out[i], err = jsonArg(get(it)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// text makes s storable as PostgreSQL text: NUL bytes and invalid UTF-8
// become U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// newToken returns a fresh lease token: 128 random bits in hex.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// params numbers the arguments of a query built piece by piece.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// limitArg is a LIMIT parameter: NULL (no limit) when n <= 0.
func limitArg(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}
