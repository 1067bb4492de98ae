package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	// legatoBin is the binary TestMain builds from ./cmd/legato.
	legatoBin string
	// repoRoot is the module's root directory.
	repoRoot string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	// LEGATO_E2E_BIN tests a binary built elsewhere (a release build, a
	// -race build) instead of building one.
	if bin := os.Getenv("LEGATO_E2E_BIN"); bin != "" {
		legatoBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "legato-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	legatoBin = filepath.Join(dir, "legato")
	build := exec.Command("go", "build", "-o", legatoBin, "./cmd/legato")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		if testing.Short() {
			fmt.Fprintf(os.Stderr, "\n"+
				"**********************************************************************\n"+
				"e2e: SKIPPING every end-to-end test: `go build ./cmd/legato` failed\n"+
				"(tolerated only with -short; without it this is a failure):\n%s\n%v\n"+
				"**********************************************************************\n\n", out, err)
			return 0
		}
		fmt.Fprintf(os.Stderr, "e2e: FAIL: go build ./cmd/legato: %v\n%s\n", err, out)
		return 1
	}
	return m.Run()
}

// server is one `legato server` process, restartable on the same data
// directory and address.
type server struct {
	t       testing.TB
	dataDir string
	addr    string
	url     string
	apply   []string
	workers int
	logPath string
	// args are more flags for every start (a store, a node id).
	args []string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	starts int
}

// newServer prepares a server with a fresh data directory and a free port,
// applying the given workflow paths at every start; start it with start.
func newServer(t testing.TB, apply ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{
		t:       t,
		dataDir: filepath.Join(dir, "data"),
		addr:    freeAddr(t),
		apply:   apply,
		workers: 8,
		logPath: filepath.Join(dir, "server.log"),
	}
	s.url = "http://" + s.addr
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
		if t.Failed() {
			t.Logf("server log (%s), last lines:\n%s", s.logPath, tail(s.logPath, 80))
		}
	})
	return s
}

// startServer is newServer followed by start.
func startServer(t testing.TB, apply ...string) *server {
	s := newServer(t, apply...)
	s.start()
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func (s *server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start starts the process and waits until /healthz answers 200.
func (s *server) start() {
	s.t.Helper()
	require.False(s.t, s.running(), "server already running")
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(s.t, err)
	s.starts++
	fmt.Fprintf(logf, "\n===== e2e: start #%d at %s =====\n", s.starts, time.Now().Format(time.RFC3339Nano))
	args := []string{"server", "--data", s.dataDir, "--addr", s.addr, "--workers", fmt.Sprint(s.workers)}
	for _, a := range s.apply {
		args = append(args, "--apply", a)
	}
	args = append(args, s.args...)
	cmd := exec.Command(legatoBin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	require.NoError(s.t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			s.t.Fatalf("legato server exited before it was healthy (%v); log:\n%s", cmd.ProcessState, tail(s.logPath, 40))
		default:
		}
		resp, err := client.Get(s.url + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.kill()
			s.t.Fatalf("legato server not healthy at %s/healthz after 30s (last error %v); log:\n%s", s.url, err, tail(s.logPath, 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("legato server did not die 10s after SIGKILL")
	}
}

// stop sends SIGTERM and waits up to 15s for the process to exit (then
// kills it); it fails the test unless the server exited with status 0.
func (s *server) stop() {
	s.t.Helper()
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		require.True(s.t, s.cmd.ProcessState.Success(), "legato server after SIGTERM: %v; log:\n%s", s.cmd.ProcessState, tail(s.logPath, 20))
	case <-time.After(15 * time.Second):
		s.kill()
		s.t.Fatalf("legato server did not exit 15s after SIGTERM")
	}
}

// cleanEnv is the environment without LEGATO_* variables, so a developer's
// settings cannot steer the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LEGATO_") {
			env = append(env, kv)
		}
	}
	return env
}

// cliResult is what one CLI invocation did.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("legato %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// cli runs the binary with args and the server's --server and --data (so it
// finds the admin token), bounded by 2 minutes.
func (s *server) cli(args ...string) cliResult {
	s.t.Helper()
	return runCLI(s.t, 2*time.Minute, append(args, "--server", s.url, "--data", s.dataDir)...)
}

// runCLI runs the binary with exactly args.
func runCLI(t testing.TB, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, legatoBin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("legato %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("legato %s: still running after %s\n%s", strings.Join(args, " "), timeout, res)
	}
	return res
}

// token reads the admin token the server wrote.
func (s *server) token() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
	require.NoError(s.t, err)
	return strings.TrimSpace(string(b))
}

// api calls the HTTP API with the admin token; out (when not nil) receives
// the decoded body. It returns the status code and the raw body.
func (s *server) api(method, path string, body, out any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.token())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(s.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(s.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode, raw
}

// getRun reads a run with `legato runs get ID -o json`.
func (s *server) getRun(id string) *Run {
	s.t.Helper()
	res := s.cli("runs", "get", id, "-o", "json")
	require.Equal(s.t, 0, res.code, "%s", res)
	return decodeRun(s.t, res.stdout)
}

// events reads a run's whole journal, page by page.
func (s *server) events(id string) []Event {
	s.t.Helper()
	var all []Event
	after := int64(0)
	for page := 0; page < 1000; page++ {
		var body struct {
			Events []Event `json:"events"`
			Next   int64   `json:"next"`
		}
		code, raw := s.api("GET", fmt.Sprintf("/api/v1/runs/%s/events?after=%d&limit=1000", id, after), nil, &body)
		require.Equal(s.t, http.StatusOK, code, "%s", raw)
		all = append(all, body.Events...)
		if len(body.Events) == 0 || body.Next <= after {
			return all
		}
		after = body.Next
	}
	s.t.Fatalf("run %s: more than 1000 pages of events", id)
	return nil
}

// Run is the API's Run.
type Run struct {
	ID          string         `json:"id"`
	Namespace   string         `json:"namespace"`
	Workflow    string         `json:"workflow"`
	Version     int            `json:"version"`
	Status      string         `json:"status"`
	Inputs      map[string]any `json:"inputs"`
	Outputs     map[string]any `json:"outputs"`
	Error       string         `json:"error"`
	Attempt     int            `json:"attempt"`
	ParentRunID string         `json:"parent_run_id"`
	Tasks       []TaskRun      `json:"tasks"`
}

// TaskRun is the API's TaskRun.
type TaskRun struct {
	ID         string    `json:"id"`
	Index      *int      `json:"index"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	Output     any       `json:"output"`
	Error      string    `json:"error"`
	ChildRunID string    `json:"child_run_id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// Name is the task run's id with its index: "access[2]".
func (tr TaskRun) Name() string {
	if tr.Index != nil {
		return fmt.Sprintf("%s[%d]", tr.ID, *tr.Index)
	}
	return tr.ID
}

// Event is one entry of a run's journal.
type Event struct {
	Seq   int64           `json:"seq"`
	Type  string          `json:"type"`
	Task  string          `json:"task"`
	Index *int            `json:"index"`
	Data  json.RawMessage `json:"data"`
	Actor string          `json:"actor"`
}

func decodeRun(t testing.TB, s string) *Run {
	t.Helper()
	var r Run
	require.NoError(t, json.Unmarshal([]byte(s), &r), "not a Run: %q", s)
	require.NotEmpty(t, r.ID, "no run id in %q", s)
	return &r
}

// final reports whether a run status is final.
func final(status string) bool {
	return status == "succeeded" || status == "failed" || status == "canceled"
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func decodeJSON(t testing.TB, s string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(s), v), "not JSON: %q", s)
}
