// Package sqlite is the embedded Store driver: one SQLite file in WAL mode,
// opened with the pure-Go modernc.org/sqlite (no cgo).
//
// Writes go through a pool of one connection whose transactions begin
// IMMEDIATE, so write transactions are serialized without SQLITE_BUSY
// upgrades; reads go through a separate pool of query_only connections, so
// View never waits for a writer. Commits are durable (synchronous=FULL)
// unless the Synchronous option says otherwise. The schema is migrated on
// Open from the numbered files embedded from migrations/.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/legatohq/legato/internal/store"
)

// Store is a store.Store on one SQLite database file.
type Store struct {
	w, r *sql.DB
	// wc is the writer pool's one connection, held for the store's life:
	// write transactions run on it with prepared BEGIN IMMEDIATE, COMMIT
	// and statements (database/sql's Tx would prepare BEGIN and COMMIT
	// anew each time and re-bind every statement to the transaction);
	// wmu makes them take turns.
	wc   *sql.Conn
	wmu  sync.Mutex
	wtx  map[string]*sql.Stmt // the registered statements, on wc
	ctrl struct{ begin, commit, rollback *sql.Stmt }
	// noLimits: the limits table is known to be empty, so a claim skips
	// reading it. Only write transactions use and set it: they take turns
	// (wmu), a transaction that writes limits clears it, and one that
	// read the table without writing it sets it from what it read.
	noLimits atomic.Bool

	// stmts is filled by Open and only read afterwards.
	stmts map[stmtKey]*sql.Stmt
	// unprepared counts the statements run without a prepared statement
	// (their text was not registered with prep): SQLite parses and plans
	// each anew. Tests check the claim's path has none.
	unprepared atomic.Int64
}

var _ store.Store = (*Store)(nil)

type config struct {
	synchronous string
	busyTimeout time.Duration
	readConns   int
}

// Option configures Open.
type Option func(*config)

// Synchronous sets PRAGMA synchronous for the writer: "FULL" (the default)
// or "EXTRA" make every commit survive a crash of the process and of the
// machine; "NORMAL" is faster but trades machine-crash durability: a power
// loss may drop the last commits (never corrupting the database), while a
// crash of the process alone still loses nothing.
func Synchronous(mode string) Option {
	return func(c *config) { c.synchronous = strings.ToUpper(mode) }
}

// BusyTimeout sets how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY (default 10s).
func BusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// ReadConns sets the size of the read pool used by View (default: the
// number of CPUs, at least 4).
func ReadConns(n int) Option {
	return func(c *config) { c.readConns = n }
}

// Open opens (creating if needed) the database file at path and migrates
// its schema to the latest version.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	c := config{synchronous: "FULL", busyTimeout: 10 * time.Second, readConns: max(4, runtime.NumCPU())}
	for _, o := range opts {
		o(&c)
	}
	switch c.synchronous {
	case "FULL", "EXTRA", "NORMAL", "OFF":
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q: want FULL, EXTRA or NORMAL", c.synchronous)
	}
	if c.readConns < 1 {
		c.readConns = 1
	}
	busy := strconv.FormatInt(c.busyTimeout.Milliseconds(), 10)

	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+c.synchronous+")")
	wq.Add("_pragma", "foreign_keys(1)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, stmts: map[stmtKey]*sql.Stmt{}}
	// The writer connection sets WAL mode on the file before any reader
	// opens it, then the schema is migrated.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "query_only(1)")
	rq.Add("_pragma", "foreign_keys(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(c.readConns)
	r.SetMaxIdleConns(c.readConns)
	s.r = r
	if err := s.holdWriter(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := s.prepareAll(ctx, r); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}

// Tx runs fn in one write transaction (BEGIN IMMEDIATE) and commits when fn
// returns nil; any error from fn, or a panic, rolls everything back.
func (s *Store) Tx(ctx context.Context, fn func(store.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.ctrl.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("sqlite: begin: %w", interpretError(err))
	}
	done := false
	defer func() {
		if !done {
			// SQLite may have rolled back already (some errors end the
			// transaction): then this fails, harmlessly.
			_, _ = s.ctrl.rollback.ExecContext(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(&tx{s: s, q: s.wc, stmts: s.wtx}); err != nil {
		return err
	}
	if _, err := s.ctrl.commit.ExecContext(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("sqlite: commit: %w", interpretError(err))
	}
	done = true
	return nil
}

// View runs fn in a read-only transaction on the read pool: a consistent
// snapshot that does not wait for writers. Write methods fail in it.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", interpretError(err))
	}
	// Nothing to keep: a read transaction ends with a rollback.
	defer func() { _ = sqlTx.Rollback() }()
	return fn(&tx{s: s, q: sqlTx, sqlTx: sqlTx, readOnly: true})
}

// holdWriter takes the writer pool's connection for good and prepares on
// it the transaction control and every registered statement.
func (s *Store) holdWriter(ctx context.Context) error {
	wc, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	s.wc = wc
	s.wtx = make(map[string]*sql.Stmt, len(queries))
	for _, c := range []struct {
		st **sql.Stmt
		q  string
	}{{&s.ctrl.begin, "BEGIN IMMEDIATE"}, {&s.ctrl.commit, "COMMIT"}, {&s.ctrl.rollback, "ROLLBACK"}} {
		if *c.st, err = wc.PrepareContext(ctx, c.q); err != nil {
			return fmt.Errorf("prepare %q: %w", c.q, err)
		}
	}
	for _, q := range queries {
		st, err := wc.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.wtx[q] = st
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		_ = st.Close()
	}
	for _, st := range s.wtx {
		_ = st.Close()
	}
	for _, st := range []*sql.Stmt{s.ctrl.begin, s.ctrl.commit, s.ctrl.rollback} {
		if st != nil {
			_ = st.Close()
		}
	}
	var errs []error
	if s.wc != nil {
		if err := s.wc.Close(); !errors.Is(err, sql.ErrConnDone) { // closed twice: fine
			errs = append(errs, err)
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// queries holds the constant statements of the package, prepared on both
// pools by Open; register one with prep in a package-level var.
var queries []string

func prep(query string) string {
	queries = append(queries, query)
	return query
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// prepareAll prepares every registered statement on db, before any
// transaction holds the single writer connection.
func (s *Store) prepareAll(ctx context.Context, db *sql.DB) error {
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmts[stmtKey{db, q}] = st
	}
	return nil
}
