package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// TestDSN connects to the test database, and checks that the throwaway
// cluster is the one in use when no DSN is given.
func TestDSN(t *testing.T) {
	dsn := DSN(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var fsync string
	require.NoError(t, conn.QueryRow(t.Context(), "SHOW fsync").Scan(&fsync))
	if os.Getenv(EnvDSN) == "" {
		require.Equal(t, "off", fsync, "the throwaway cluster")
		require.NotNil(t, current)
		require.DirExists(t, current.dir)
	}

	exists := func(schema string) bool {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
		return n == 1
	}
	name := Schema(t, dsn)
	_, err = conn.Exec(t.Context(), "CREATE SCHEMA "+name)
	require.NoError(t, err)
	var sub string
	t.Run("Schema", func(t *testing.T) {
		sub = Schema(t, dsn)
		_, err := conn.Exec(t.Context(), "CREATE SCHEMA "+sub)
		require.NoError(t, err)
	})
	require.False(t, exists(sub), "a test's schema is dropped when it ends")
	require.True(t, exists(name))
}

// TestNoBinaries: without binaries, start says loudly why the tests skip.
func TestNoBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvBin, "")
	saved := binGlobs
	binGlobs = nil
	t.Cleanup(func() { binGlobs = saved })
	c, skip, err := start(false)
	require.NoError(t, err)
	require.Nil(t, c)
	require.Contains(t, skip, "SKIPPING PostgreSQL tests")
	require.Contains(t, skip, EnvDSN)
}

func TestVersionOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, 15, versionOf("/usr/lib/postgresql/15/bin"))
	require.Equal(t, 16, versionOf("/usr/pgsql-16/bin"))
	require.Zero(t, versionOf("/opt/pg/bin"))
}

// TestClusterRestart: a private cluster survives a crash-like restart with
// its data, on the same DSN.
func TestClusterRestart(t *testing.T) {
	cl := NewCluster(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, cl.DSN())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	require.NoError(t, err)
	require.NoError(t, cl.Restart(100*time.Millisecond))
	_, err = conn.Exec(ctx, "SELECT 1")
	require.Error(t, err, "the old connection died with the server")
	conn.Close(context.Background())

	conn, err = pgx.Connect(ctx, cl.DSN())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, 42, v)
}

func TestWithSearchPath(t *testing.T) {
	require.Equal(t, "postgres://u@h/db?search_path=s", WithSearchPath("postgres://u@h/db", "s"))
	require.Equal(t, "postgres://u@h/db?sslmode=disable&search_path=s", WithSearchPath("postgres://u@h/db?sslmode=disable", "s"))
	require.Equal(t, "host=/tmp port=5 search_path=s", WithSearchPath("host=/tmp port=5", "s"))
}
