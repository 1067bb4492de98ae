package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/legatohq/legato/internal/store"
)

// tx implements store.Tx: a write transaction on the writer connection,
// or a read transaction of the read pool.
type tx struct {
	s *Store
	// q runs statements: the writer connection, or the read transaction.
	q querier
	// stmts are the registered statements prepared on the writer
	// connection (writes); reads bind the read pool's to sqlTx.
	stmts    map[string]*sql.Stmt
	sqlTx    *sql.Tx
	readOnly bool
	// wroteLimits: the transaction wrote the limits table.
	wroteLimits bool
}

// querier is what *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var _ store.Tx = (*tx)(nil)

// nowFunc is the clock for the few timestamps the store sets itself.
var nowFunc = time.Now

// stmt returns query as a prepared statement usable in this transaction
// when query was registered with prep, else nil and a plain query is used.
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.sqlTx == nil {
		if st, ok := t.stmts[query]; ok {
			return st
		}
	} else if st, ok := t.s.stmts[stmtKey{t.s.r, query}]; ok {
		return t.sqlTx.StmtContext(ctx, st)
	}
	t.s.unprepared.Add(1)
	return nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.q.ExecContext(ctx, query, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.q.QueryContext(ctx, query, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, query, args...)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row of rows with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, interpretError(err)
		}
		out = append(out, v)
	}
	return out, interpretError(rows.Err())
}

// interpretError maps SQLite's errors to the store's sentinels, keeping the
// original error in the chain.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: a referenced run does not exist: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// Times are stored as INTEGER unix microseconds UTC; 0 is the zero time.

func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// microTime scans an INTEGER column into a time.Time.
type microTime struct{ t *time.Time }

func (m microTime) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column: want INTEGER, got %T", src)
	}
	*m.t = fromMicros(v)
	return nil
}

// Maps and any values are stored as JSON text, NULL for nil.

func toJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		if x == nil {
			return nil, nil
		}
	case json.RawMessage:
		if x == nil {
			return nil, nil
		}
		return string(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode JSON: %w", err)
	}
	return string(b), nil
}

// jsonCol scans a JSON text column into dst (a pointer); NULL leaves it zero.
type jsonCol struct{ dst any }

func (j jsonCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = append([]byte(nil), v...)
	default:
		return fmt.Errorf("JSON column: want TEXT, got %T", src)
	}
	if raw, ok := j.dst.(*json.RawMessage); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, j.dst)
}

// newToken returns a fresh lease token: 128 random bits in hex.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// limitOrAll maps a limit <= 0 to no limit (-1 for SQLite's LIMIT).
func limitOrAll(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// mustAffect returns store.ErrNotFound when res changed no row.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
