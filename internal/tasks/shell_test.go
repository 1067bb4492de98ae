package tasks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) log(stream, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, stream+": "+line)
}

func (r *logRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func runShell(ctx context.Context, with map[string]any, log LogFunc) (map[string]any, error) {
	req := &Request{RunID: "r1", TaskID: "t1", Index: -1, Attempt: 2, IdempotencyKey: "r1/t1/-1", Type: "shell", Params: with, Log: log}
	out, err := executeShell(ctx, req)
	m, _ := out.(map[string]any)
	return m, err
}

func TestShellRun(t *testing.T) {
	t.Parallel()
	out, err := runShell(t.Context(), map[string]any{"run": "echo hello; echo oops >&2"}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"stdout": "hello", "stderr": "oops", "exit_code": 0}, out)
}

func TestShellExitCode(t *testing.T) {
	t.Parallel()
	out, err := runShell(t.Context(), map[string]any{"run": "echo partial; exit 3"}, nil)
	require.EqualError(t, err, "exit status 3")
	require.False(t, IsNonRetryable(err))
	require.Equal(t, 3, out["exit_code"])
	require.Equal(t, "partial", out["stdout"])
}

func TestShellArgv(t *testing.T) {
	t.Parallel()
	out, err := runShell(t.Context(), map[string]any{"argv": []any{"printf", "%s|", "a b", "$HOME"}}, nil)
	require.NoError(t, err)
	require.Equal(t, "a b|$HOME|", out["stdout"])

	_, err = runShell(t.Context(), map[string]any{"argv": []any{"no-such-program-legato"}}, nil)
	require.True(t, IsNonRetryable(err))
}

func TestShellEnv(t *testing.T) {
	t.Setenv("LEGATO_TEST_SECRET", "leak")
	out, err := runShell(t.Context(), map[string]any{
		"run": `echo "$LEGATO_TEST_SECRET|$FOO|$N|$LEGATO_IDEMPOTENCY_KEY|$LEGATO_RUN_ID|$LEGATO_TASK_ID|$LEGATO_ATTEMPT|$LEGATO_INDEX"; test -n "$PATH"`,
		"env": map[string]any{"FOO": "bar", "N": 8080.0},
	}, nil)
	require.NoError(t, err)
	require.Equal(t, "|bar|8080|r1/t1/-1|r1|t1|2|-1", out["stdout"])
}

func TestShellDirStdinInterpreter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := runShell(t.Context(), map[string]any{"run": "pwd; cat", "dir": dir, "stdin": "from stdin\n"}, nil)
	require.NoError(t, err)
	real, _ := filepath.EvalSymlinks(dir)
	require.Equal(t, real+"\nfrom stdin", out["stdout"])

	out, err = runShell(t.Context(), map[string]any{"run": "echo $0", "shell": "sh -e"}, nil)
	require.NoError(t, err)
	require.Equal(t, "sh", out["stdout"])
}

func TestShellJSONOutput(t *testing.T) {
	t.Parallel()
	out, err := runShell(t.Context(), map[string]any{"run": `echo '{"a": [1, "x"]}'`, "output": "json"}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": []any{1.0, "x"}}, out["json"])

	out, err = runShell(t.Context(), map[string]any{"run": `echo not json`, "output": "json"}, nil)
	require.True(t, IsNonRetryable(err))
	require.ErrorContains(t, err, "not JSON")
	require.Equal(t, "not json", out["stdout"])
}

func TestShellLogStreaming(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "go")
	rec := &logRecorder{}
	var opened sync.Once
	log := func(stream, line string) {
		rec.log(stream, line)
		if line == "waiting" {
			// The command is still running: it only goes on once we saw this line.
			opened.Do(func() { require.NoError(t, os.WriteFile(gate, nil, 0o600)) })
		}
	}
	_, err := runShell(t.Context(), map[string]any{
		"run": "echo one; echo; echo waiting; while [ ! -e " + gate + " ]; do sleep 0.02; done; echo two; printf tail",
	}, log)
	require.NoError(t, err)
	require.Equal(t, []string{"stdout: one", "stdout: ", "stdout: waiting", "stdout: two", "stdout: tail"}, rec.get())
}

func TestShellTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := runShell(ctx, map[string]any{
		// The background child keeps stdout open and ignores nothing: it must die with the group.
		"run": "sleep 100 & echo $! > " + pidFile + "; wait",
	}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrCanceled)
	require.Less(t, time.Since(start), 3*time.Second)
	requireGone(t, pidFile)
}

func TestShellCancelEscalatesToKill(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	// A child that ignores SIGTERM, detached from the pipes, gets SIGKILL
	// after the grace.
	_, err := runShell(ctx, map[string]any{
		"run": "(trap '' TERM; exec sleep 100) >/dev/null 2>&1 & echo $! > " + pidFile + "; wait",
	}, nil)
	require.ErrorIs(t, err, context.Canceled)
	requireGone(t, pidFile)
}

// requireGone checks that the process whose pid is in file is dead (or a
// zombie waiting for a reaper).
func requireGone(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	}, 2*time.Second, 20*time.Millisecond)
}

func TestShellOutputCap(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{}
	out, err := runShell(t.Context(), map[string]any{"run": "head -c 1100000 /dev/zero | tr '\\0' a"}, rec.log)
	require.NoError(t, err)
	require.Len(t, out["stdout"], outputCap)
	require.Contains(t, rec.get()[len(rec.get())-1], "system: stdout was longer")
}
