// Package postgres is the scale-out Store driver: several Legato servers
// share one PostgreSQL database (version 12 or later) through pgx v5 and
// pgxpool. Open migrates the schema from the numbered files embedded from
// migrations/ (the same numbers as the SQLite driver's), under a session
// advisory lock, so servers starting together migrate once.
//
// # Transactions
//
// Tx runs fn in a READ COMMITTED read-write transaction. SERIALIZABLE would
// give SQLite's semantics (writers serialized) without thought, but every
// concurrent claim would then conflict with every other one on the queue
// index and be retried; REPEATABLE READ fails a claim with a serialization
// error whenever another claim committed since its snapshot. READ COMMITTED
// lets claims skip each other's rows (below), and the few places where a
// transaction reads then writes take a lock first, so that what they read
// is what they overwrite:
//   - RunGet inside Tx is SELECT … FOR UPDATE. A run is the unit of
//     serialization: the engine loads the run first, then its task runs,
//     decides and writes. A second transaction on the same run waits for
//     the first to commit, and each later statement of a READ COMMITTED
//     transaction sees every commit made before it started, so the second
//     decides on the first's result.
//   - VersionPut and RunCountActive (inside Tx) take a transaction-level
//     advisory lock on the workflow first: versions are numbered without
//     gaps or conflicts, and two runs cannot both take the last concurrency
//     slot.
//   - LogAppend and EventAppend take one on each run they append to, so the
//     sequence numbers of a run commit in increasing order: a reader paging
//     with AfterSeq never skips a line that committed late.
//   - Leases need no lock: UPDATE … WHERE lease_token = $1 AND status =
//     'running' re-checks its condition on the row version a concurrent
//     writer committed, so exactly one of a finish and an expire wins.
//
// A failed statement aborts a PostgreSQL transaction (SQLite carries on), so
// the expected outcomes are not errors: RunInsert inserts ON CONFLICT DO
// NOTHING and reports ErrConflict when no row was inserted; stale leases and
// missing rows are zero rows. Foreign keys are deferred: a child row of a
// run that does not exist fails the commit with ErrNotFound.
//
// Two transactions locking runs in opposite orders deadlock, and PostgreSQL
// aborts one: Tx runs fn again after a serialization failure or a deadlock
// (SQLSTATE 40001, 40P01), up to TxAttempts times with a jittered backoff,
// so fn must be safe to run more than once (it is the whole transaction).
//
// View runs fn in a REPEATABLE READ READ ONLY transaction: every read sees
// one snapshot (taken by its first statement), it never waits for writers,
// and write methods fail.
//
// # Claims
//
// AttemptClaim is one statement whatever the number of attempts. For each
// queue it reads the partial index of queued attempts (queue, not_before,
// id) in claim order with FOR UPDATE SKIP LOCKED, stopping at the limit:
// claimers running at once each take different rows and never wait for
// each other, and a row another claimer committed in the meantime is
// re-checked and dropped. It keeps the oldest NotBefore of those, up to
// Limit (at most 1000 per call), leases each with its own token generated
// in Go, and marks their task runs running, all in the same statement.
// With several queues, the rows locked beyond the limit stay locked, and
// skipped by other claimers, until the claim commits.
//
// # Notifications
//
// Inside the transaction, AttemptInsert sends NOTIFY legato_attempts with
// the attempt's queue as payload, and TimerSet NOTIFY legato_timers with an
// empty one; PostgreSQL delivers them at commit (and not at all on
// rollback), folding identical ones of a transaction into one. Channels are
// database-wide: stores in different schemas of one database hear each
// other's, which costs a needless look and nothing else. Listen holds one
// dedicated connection, reconnects with backoff when it breaks, and then
// reports every channel once with an empty payload since notifications may
// have been missed meanwhile. Wake-ups are a shortcut: the caller still
// polls as a safety net.
//
// # Values
//
// Times are timestamptz, so microseconds, and come back in UTC; the zero
// time is stored as '-infinity'. Maps and any values are jsonb: numbers
// decode as float64, and a json.RawMessage (a version's Spec, an event's
// Data) comes back compacted with jsonb's key order. PostgreSQL text cannot
// hold NUL or invalid UTF-8, nor jsonb a \u0000 escape: the driver replaces
// them with U+FFFD in log lines, error messages and JSON values, which come
// from tasks' outputs and would otherwise fail the transition that stores
// them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/legatohq/legato/internal/store"
)

// The channels the store notifies.
const (
	// ChannelAttempts is notified with the queues of the attempts a
	// transaction queued and left for any worker (Tx.AttemptNotify).
	ChannelAttempts = "legato_attempts"
	// ChannelTimers is notified (empty payload) when a timer is set.
	ChannelTimers = "legato_timers"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	cfg    config
	logger *slog.Logger

	// closing ends the listeners; mu orders Listen's registration with Close.
	closing   context.Context
	close     context.CancelFunc
	mu        sync.Mutex
	closed    bool
	listeners sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

type config struct {
	maxConns   int32
	schema     string
	syncCommit string
	txAttempts int
	logger     *slog.Logger
}

// Option configures Open.
type Option func(*config)

// MaxConns sets the size of the connection pool (default: pgxpool's, or
// pool_max_conns in the DSN). A View that writes through Tx while it is
// open, and Listen, each hold a connection of their own.
func MaxConns(n int) Option {
	return func(c *config) { c.maxConns = int32(n) }
}

// Schema puts every table in the named schema, created when missing, by
// making it the connections' search_path. The default is the DSN's
// search_path (usually public). Different schemas of one database are
// independent stores.
func Schema(name string) Option {
	return func(c *config) { c.schema = name }
}

// SynchronousCommit sets the sessions' synchronous_commit: "on" (the
// server's usual default) makes every commit durable before Tx returns;
// "off" is faster but a crash of the database server may lose the last
// commits (never corrupting anything), like the SQLite driver's
// Synchronous("NORMAL"). Empty keeps the server's setting.
func SynchronousCommit(mode string) Option {
	return func(c *config) { c.syncCommit = strings.ToLower(mode) }
}

// TxAttempts bounds how many times Tx runs fn when the transaction fails
// with a serialization failure or a deadlock (default 10).
func TxAttempts(n int) Option {
	return func(c *config) { c.txAttempts = n }
}

// Logger receives the store's warnings (default slog.Default()).
func Logger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), migrates its schema to the latest version and returns the store.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	c := config{txAttempts: 10}
	for _, o := range opts {
		o(&c)
	}
	switch c.syncCommit {
	case "", "on", "off", "local", "remote_write", "remote_apply":
	default:
		return nil, fmt.Errorf("postgres: synchronous_commit %q: want on, off, local, remote_write or remote_apply", c.syncCommit)
	}
	if c.txAttempts < 1 {
		c.txAttempts = 1
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if c.maxConns > 0 {
		pc.MaxConns = c.maxConns
	}
	params := pc.ConnConfig.RuntimeParams
	if c.schema != "" {
		params["search_path"] = pgx.Identifier{c.schema}.Sanitize()
	}
	if c.syncCommit != "" {
		params["synchronous_commit"] = c.syncCommit
	}
	if params["application_name"] == "" {
		params["application_name"] = "legato"
	}
	// Every statement is prepared once per connection and none has a plan
	// that depends on its arguments (they read by key or along an index);
	// with the default plan_cache_mode, PostgreSQL would plan the claim
	// again at each call, which costs more than running it.
	if params["plan_cache_mode"] == "" {
		params["plan_cache_mode"] = "force_generic_plan"
	}
	if err := migrate(ctx, pc.ConnConfig, c.schema); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, cfg: c, logger: c.logger}
	s.closing, s.close = context.WithCancel(context.Background())
	return s, nil
}

var (
	readWrite = pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}
	readOnly  = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
)

// Tx runs fn in a READ COMMITTED transaction and commits when fn returns
// nil; any error from fn, or a panic, rolls everything back. After a
// serialization failure or a deadlock it runs fn again (see TxAttempts).
func (s *Store) Tx(ctx context.Context, fn func(store.Tx) error) error {
	wait := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.run(ctx, readWrite, fn)
		if err == nil || attempt >= s.cfg.txAttempts || !retryable(err) {
			return err
		}
		if !pause(ctx, wait) {
			return err
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// View runs fn in a REPEATABLE READ READ ONLY transaction: one snapshot,
// no waiting for writers; write methods fail in it.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, readOnly, fn)
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(store.Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = ptx.Rollback(ctx)
		}
	}()
	write := opts.AccessMode == pgx.ReadWrite
	t := &tx{tx: &pipe{Tx: ptx}, write: write}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.tx.flush(ctx); err != nil {
		return fmt.Errorf("postgres: %w", interpretError(err))
	}
	done = true
	if !write {
		return ptx.Rollback(ctx)
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", interpretError(err))
	}
	return nil
}

// retryable reports whether err is a serialization failure or a deadlock,
// after which the whole transaction may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// pause waits about d, between d/2 and 3d/2 (jitter keeps those who
// collided from colliding again), or until ctx ends; it reports whether it
// waited the whole time.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Writers is how many write transactions the engine should commit at
// once (its group commit runs that many batches in parallel): PostgreSQL
// takes concurrent writers, and a batch spends most of its time in round
// trips, so several overlap. A quarter of the pool, at least 2.
func (s *Store) Writers() int { return max(2, int(s.pool.Config().MaxConns)/4) }

// Close stops the listeners and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.close()
	s.listeners.Wait()
	s.pool.Close()
	return nil
}
