// Package pgtest gives tests a PostgreSQL database: the one named by
// LEGATO_TEST_POSTGRES_DSN when it is set, else a throwaway cluster that it
// creates with the machine's PostgreSQL binaries (initdb, postgres) in a
// temporary directory, once per test binary. The cluster listens on a Unix
// socket in that directory only, trusts every local connection, and runs
// with fsync off: it is for tests, not for measuring durability.
//
// The server runs as a child of the test binary that the kernel stops when
// the binary dies, however it dies; TestMain should still call Main (or
// wrap m with Runner) so that the server is shut down and its directory
// removed. Without binaries, DSN skips the test, saying so loudly.
//
// Each test should use a schema of its own (Schema), so that tests run in
// parallel on one database without seeing each other.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the DSN of an existing
// database to test against (for instance
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
const EnvDSN = "LEGATO_TEST_POSTGRES_DSN"

// EnvBin names an environment variable that may hold the directory of the
// PostgreSQL binaries, when they are neither on PATH nor in a usual place.
const EnvBin = "LEGATO_TEST_POSTGRES_BIN"

var (
	once    sync.Once
	current *cluster
	// skip is why there is no cluster when there are no binaries; startErr
	// why the cluster failed otherwise.
	skip     string
	startErr error
)

// DSN returns the DSN of the test database: LEGATO_TEST_POSTGRES_DSN when
// set, else that of the throwaway cluster, started at the first call. It
// skips t when there is neither, and fails it when the cluster does not
// start.
func DSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	once.Do(func() { current, skip, startErr = start(false) })
	switch {
	case skip != "":
		t.Skip(skip)
	case startErr != nil:
		t.Fatalf("pgtest: start a throwaway PostgreSQL: %v", startErr)
	}
	return current.dsn
}

// Main runs the tests of m, stops the throwaway cluster if one started,
// and exits with the tests' code: call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Runner(m).Run())
}

// Runner wraps m so that its Run also stops the throwaway cluster after
// the tests, for a TestMain that hands m to something else, such as
// goleak.VerifyTestMain(pgtest.Runner(m)).
func Runner(m *testing.M) interface{ Run() int } {
	return runner(func() int {
		defer Stop()
		return m.Run()
	})
}

type runner func() int

func (r runner) Run() int { return r() }

// Stop shuts the throwaway cluster down and removes its directory; later
// calls to DSN fail.
func Stop() {
	once.Do(func() { startErr = errors.New("stopped") })
	if current != nil {
		current.stop()
		current = nil
		startErr = errors.New("stopped")
	}
}

// Schema returns the name of a new schema for t (the store creates it) and
// drops it with everything in it when t ends, after the cleanups registered
// later (closing the store) have run.
func Schema(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "legato_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return name
}

// cluster is a running throwaway server.
type cluster struct {
	dir  string
	bin  string
	cred *syscall.Credential
	port int
	// private: the cluster of one test (NewCluster), which it may crash.
	private bool
	dsn     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// start creates and starts a cluster; with no binaries it returns why the
// tests are skipped.
func start(private bool) (*cluster, string, error) {
	bin, err := findBin()
	if err != nil {
		return nil, "pgtest: SKIPPING PostgreSQL tests: " + EnvDSN + " is unset and " + err.Error() +
			"; install PostgreSQL's server package or set " + EnvDSN + "=postgres://user@host:port/db", nil
	}
	cred, err := credential()
	if err != nil {
		return nil, "", err
	}
	// A short base: a Unix socket path must fit in about 100 bytes.
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "legato-pg-")
	if err != nil {
		return nil, "", err
	}
	c, err := startIn(dir, bin, cred, private)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	return c, "", nil
}

func startIn(dir, bin string, cred *syscall.Credential, private bool) (*cluster, error) {
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, bin: bin, cred: cred, port: port, private: private,
		dsn: fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port)}
	if err := c.launch(); err != nil {
		return nil, err
	}
	return c, nil
}

// launch starts the server on the cluster's data directory and port and
// waits until it accepts connections.
func (c *cluster) launch() error {
	logPath := filepath.Join(c.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// The server itself, not pg_ctl: as a child of this process it gets
	// SIGQUIT (immediate shutdown) when the test binary dies, so that a
	// killed or crashed test run leaves no server behind.
	// fsync off survives the crash of the server process (the kernel
	// keeps what it was given); synchronous_commit off would not (the WAL
	// not yet written is lost with the process): a private cluster, which
	// tests crash, keeps it on.
	syncCommit := "off"
	if c.private {
		syncCommit = "on"
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", filepath.Join(c.dir, "data"), "-k", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit="+syncCommit,
		"-c", "full_page_writes=off", "-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	exited := c.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := c.waitReady(30 * time.Second); err != nil {
		c.halt()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// waitReady waits until the server accepts connections.
func (c *cluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.dsn)
		if err == nil {
			err = conn.Close(ctx)
			cancel()
			return err
		}
		cancel()
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %v: %w", limit, err)
		}
	}
}

// stop halts the server and removes the cluster's directory.
func (c *cluster) stop() {
	c.halt()
	_ = os.RemoveAll(c.dir)
}

// halt asks for a fast shutdown and kills the server if it lingers.
func (c *cluster) halt() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// Cluster is a throwaway PostgreSQL server of one test's own, for tests
// that stop and restart the database under load.
type Cluster struct{ c *cluster }

// NewCluster starts a cluster for t (whatever LEGATO_TEST_POSTGRES_DSN
// says: a shared server cannot be restarted by a test) and removes it when
// t ends. Without binaries it skips t, saying so.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, why, err := start(true)
	if why != "" {
		t.Skip(why)
	}
	if err != nil {
		t.Fatalf("pgtest: start a cluster: %v", err)
	}
	t.Cleanup(c.stop)
	return &Cluster{c: c}
}

// DSN returns the cluster's connection string (database postgres).
func (cl *Cluster) DSN() string { return cl.c.dsn }

// Restart stops the server as a crash would (SIGQUIT: no shutdown
// checkpoint, every connection dropped), waits down for `down`, and starts
// it again on the same data and port.
func (cl *Cluster) Restart(down time.Duration) error {
	c := cl.c
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	time.Sleep(down)
	return c.launch()
}

// binGlobs are where PostgreSQL packages put the server binaries.
var binGlobs = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// findBin returns the directory of initdb and postgres: EnvBin, else that
// of initdb on PATH, else the newest /usr/lib/postgresql/*/bin (Debian's
// layout) or /usr/pgsql-*/bin (the PGDG RPMs').
func findBin() (string, error) {
	var dirs []string
	if d := os.Getenv(EnvBin); d != "" {
		dirs = append(dirs, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, pattern := range binGlobs {
		found, _ := filepath.Glob(pattern)
		slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) })
		dirs = append(dirs, found...)
	}
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb and postgres) were found on PATH, in " +
		EnvBin + ", under /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin")
}

// versionOf reads the major version out of a binary directory's path.
func versionOf(dir string) int {
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		if n, err := strconv.Atoi(strings.TrimPrefix(part, "pgsql-")); err == nil {
			return n
		}
	}
	return 0
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// credential is whom to run the server as: nil (this process's user),
// unless this process is root, which initdb and postgres refuse: then the
// postgres user, else nobody.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, err)
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and no user to run PostgreSQL as: %w", errors.Join(errs...))
}

// freePort returns a TCP port nobody listens on. The server listens on a
// Unix socket only, whose name carries the port: any free one will do.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WithSearchPath returns dsn with schema as its search path, in either
// DSN form (a postgres:// URL or key=value pairs).
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	}
	return dsn + " search_path=" + schema
}
