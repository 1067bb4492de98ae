package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
	"github.com/legatohq/legato/internal/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Runner(m))
}

// concurrently runs fn(0), …, fn(n-1) at once and joins their errors.
func concurrently(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// insertRuns commits running runs with the given ids.
func insertRuns(t testing.TB, s store.Store, ids ...string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.RunInsert(ctx, &store.Run{ID: id, Namespace: "ns", Workflow: "wf", Status: store.RunRunning}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// openSchema opens the store in schema and closes it when t ends.
func openSchema(t testing.TB, schema string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, pgtest.DSN(t), append([]postgres.Option{postgres.Schema(schema)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// open opens a store in a fresh schema, dropped when t ends.
func open(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	return openSchema(t, pgtest.Schema(t, pgtest.DSN(t)), opts...)
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t) })
}

func TestStoreReopen(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schemas := map[string]string{}
	storetest.ExerciseReopen(t, func(t *testing.T, name string) store.Store {
		if schemas[name] == "" {
			schemas[name] = pgtest.Schema(t, dsn)
		}
		s, err := postgres.Open(t.Context(), dsn, postgres.Schema(schemas[name]))
		require.NoError(t, err)
		return s
	})
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	_, err := postgres.Open(ctx, dsn, postgres.SynchronousCommit("sometimes"))
	require.ErrorContains(t, err, "synchronous_commit")
	_, err = postgres.Open(ctx, "postgres://%zz")
	require.Error(t, err)

	s := open(t, postgres.MaxConns(2), postgres.SynchronousCommit("off"), postgres.TxAttempts(3))
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k", "v") }))
}

// TestMigrateConcurrently opens one schema from several servers at once:
// the advisory lock makes one migrate while the others wait, then find the
// schema up to date.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t, pgtest.DSN(t))
	const servers = 5
	stores := make([]*postgres.Store, servers)
	err := concurrently(servers, func(i int) error {
		var err error
		stores[i], err = postgres.Open(t.Context(), pgtest.DSN(t), postgres.Schema(schema))
		return err
	})
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { require.NoError(t, s.Close()) })
		}
	}
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, stores[0].Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k", "from 0") }))
	require.NoError(t, stores[servers-1].View(ctx, func(tx store.Tx) error {
		v, err := tx.KVGet(ctx, "k")
		require.Equal(t, "from 0", v)
		return err
	}))
}

// TestTxRetriesDeadlock makes two transactions lock two runs in opposite
// orders: PostgreSQL aborts one with a deadlock, Tx runs it again, and
// both commit.
func TestTxRetriesDeadlock(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "a", "b")

	var calls atomic.Int32
	var both sync.WaitGroup // both hold their first lock
	both.Add(2)
	bump := func(first, second string) error {
		tries := 0
		return s.Tx(ctx, func(tx store.Tx) error {
			calls.Add(1)
			tries++
			r, err := tx.RunGet(ctx, first)
			if err != nil {
				return err
			}
			if tries == 1 {
				both.Done()
				both.Wait()
			}
			if _, err := tx.RunGet(ctx, second); err != nil {
				return err
			}
			r.Seq++
			return tx.RunUpdate(ctx, r)
		})
	}
	require.NoError(t, concurrently(2, func(i int) error {
		if i == 0 {
			return bump("a", "b")
		}
		return bump("b", "a")
	}))
	// At least one of the two ran again. Under load PostgreSQL may abort
	// both sides of the deadlock (the second detector runs before the
	// first victim has released its locks), and the retries may collide
	// once more: what matters is that each ran to completion once.
	require.GreaterOrEqual(t, calls.Load(), int32(3), "one of the two ran again")
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		for _, id := range []string{"a", "b"} {
			r, err := tx.RunGet(ctx, id)
			require.NoError(t, err)
			require.Equal(t, int64(1), r.Seq, id)
		}
		return nil
	}))
}

// TestRunGetSerializesTransitions checks the lost update that READ
// COMMITTED would allow without the row lock: concurrent read-modify-write
// transactions on one run all count.
func TestRunGetSerializesTransitions(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r")
	const n = 20
	require.NoError(t, concurrently(n, func(int) error {
		return s.Tx(ctx, func(tx store.Tx) error {
			r, err := tx.RunGet(ctx, "r")
			if err != nil {
				return err
			}
			r.Seq++
			return tx.RunUpdate(ctx, r)
		})
	}))
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		r, err := tx.RunGet(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, int64(n), r.Seq)
		return nil
	}))
}

// TestVersionPutConcurrently applies different content to one workflow
// from many transactions at once: versions are numbered 1..n without a
// conflict.
func TestVersionPutConcurrently(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	const n = 10
	require.NoError(t, concurrently(n, func(i int) error {
		return s.Tx(ctx, func(tx store.Tx) error {
			_, _, err := tx.VersionPut(ctx, &store.WorkflowVersion{
				Namespace: "ns", Name: "wf", Hash: fmt.Sprint("h", i), Spec: []byte(`{}`),
			})
			return err
		})
	}))
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		vs, err := tx.VersionList(ctx, "ns", "wf")
		require.NoError(t, err)
		require.Len(t, vs, n)
		require.Equal(t, n, vs[0].Version)
		return nil
	}))
}

// TestUnstorableText stores what PostgreSQL text and jsonb refuse as is:
// NUL bytes and invalid UTF-8 from a task's output.
func TestUnstorableText(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	nasty := "a\x00b\xffc"
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		r := &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunFailed, Error: nasty,
			Outputs: map[string]any{"out": nasty, `k\u0000`: []any{"\x00"}}}
		if err := tx.RunInsert(ctx, r); err != nil {
			return err
		}
		if err := tx.LogAppend(ctx, []*store.LogLine{{RunID: "r", Task: "t", Index: -1, Line: nasty}}); err != nil {
			return err
		}
		return tx.EventAppend(ctx, []*store.Event{{RunID: "r", Type: "x", Data: []byte(`{"s":"\u0000\\u0000"}`)}})
	}))
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		r, err := tx.RunGet(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, "a\uFFFDb\uFFFDc", r.Error)
		require.Equal(t, map[string]any{"out": "a\uFFFDb\uFFFDc", `k\u0000`: []any{"\uFFFD"}}, r.Outputs)
		lines, err := tx.LogList(ctx, &store.LogListParams{RunID: "r", Index: -2})
		require.NoError(t, err)
		require.Equal(t, "a\uFFFDb\uFFFDc", lines[0].Line)
		evs, err := tx.EventList(ctx, "r", 0, 0)
		require.NoError(t, err)
		require.JSONEq(t, `{"s":"\ufffd\\u0000"}`, string(evs[0].Data))
		return nil
	}))
}

// A server of an earlier version updates runs without knowing their
// revision: the trigger of migration 0007 increments it all the same, so
// that no engine keeps a state across such an update.
func TestRunRevisionCountsUpdatesOfEarlierServers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	s := openSchema(t, schema)
	ctx := t.Context()
	insertRuns(t, s, "r1")

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close(context.Background())) })
	_, err = conn.Exec(ctx, `UPDATE `+pgx.Identifier{schema, "runs"}.Sanitize()+` SET seq = seq + 1 WHERE id = 'r1'`)
	require.NoError(t, err)

	var r *store.Run
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		var err error
		if r, err = tx.RunGet(ctx, "r1"); err != nil {
			return err
		}
		require.EqualValues(t, 1, r.Revision, "the update of the earlier server")
		return tx.RunUpdate(ctx, r)
	}))
	require.EqualValues(t, 2, r.Revision, "RunUpdate increments it once")
}
