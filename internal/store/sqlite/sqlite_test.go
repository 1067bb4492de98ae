package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
	"github.com/legatohq/legato/internal/store/storetest"
)

// crashChildEnv makes the test binary a child that commits until killed.
const crashChildEnv = "LEGATO_SQLITE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	goleak.VerifyTestMain(m)
}

func openAt(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts...)
	require.NoError(t, err)
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		s := openAt(t, filepath.Join(t.TempDir(), "legato.db"))
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

func TestStoreReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storetest.ExerciseReopen(t, func(t *testing.T, name string) store.Store {
		return openAt(t, filepath.Join(dir, name+".db"))
	})
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "n.db"), sqlite.Synchronous("normal"), sqlite.BusyTimeout(time.Second), sqlite.ReadConns(2))
	require.NoError(t, s.Close())
	_, err := sqlite.Open(t.Context(), filepath.Join(dir, "bad.db"), sqlite.Synchronous("sometimes"))
	require.Error(t, err)
	// Opening twice migrates once.
	s = openAt(t, filepath.Join(dir, "n.db"))
	require.NoError(t, s.Close())
}

// TestCrashDurability kills a committing process with SIGKILL and checks
// that every commit it reported is in the database.
func TestCrashDurability(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	var committed []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		require.NoError(t, err)
		committed = append(committed, n)
		if len(committed) == 200 {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			break
		}
	}
	// Drain what was printed before the kill landed.
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			committed = append(committed, n)
		}
	}
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(committed), 200)

	s := openAt(t, path)
	defer func() { require.NoError(t, s.Close()) }()
	ctx := t.Context()
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		for _, n := range committed {
			if _, err := tx.KVGet(ctx, "k"+strconv.Itoa(n)); err != nil {
				return fmt.Errorf("commit %d reported but lost: %w", n, err)
			}
		}
		return nil
	}))
}

// crashChild commits one KV row per transaction forever, printing each
// number once its commit returned.
func crashChild(path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		err := s.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k"+strconv.Itoa(i), "v") })
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(w, i)
		w.Flush()
	}
}
