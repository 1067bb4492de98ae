package pgtest

import (
	"context"
	"os"
	"testing"

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
	c, skip, err := start()
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
