package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// workerProc is one `legato worker` process.
type workerProc struct {
	t       testing.TB
	id      string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// startWorker starts `legato worker` for the server, with the admin token
// from its data directory.
func (s *server) startWorker(id string, args ...string) *workerProc {
	s.t.Helper()
	logPath := filepath.Join(filepath.Dir(s.logPath), "worker-"+id+".log")
	logf, err := os.Create(logPath)
	require.NoError(s.t, err)
	args = append([]string{"worker", "--server", s.url, "--data", s.dataDir, "--id", id, "--lease", "3s"}, args...)
	cmd := exec.Command(legatoBin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(s.t, cmd.Start())
	w := &workerProc{t: s.t, id: id, cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(w.exited)
	}()
	s.t.Cleanup(func() {
		select {
		case <-w.exited:
		default:
			_ = cmd.Process.Kill()
			<-w.exited
		}
		if s.t.Failed() {
			s.t.Logf("worker %s log:\n%s", id, tail(logPath, 60))
		}
	})
	return w
}

// stop sends SIGTERM and checks that the worker exits with status 0 soon.
func (w *workerProc) stop() {
	w.t.Helper()
	start := time.Now()
	require.NoError(w.t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.exited:
		require.True(w.t, w.cmd.ProcessState.Success(), "legato worker after SIGTERM: %v; log:\n%s", w.cmd.ProcessState, tail(w.logPath, 20))
		require.Less(w.t, time.Since(start), 10*time.Second)
	case <-time.After(15 * time.Second):
		w.t.Fatalf("legato worker %s did not exit 15s after SIGTERM; log:\n%s", w.id, tail(w.logPath, 20))
	}
}

// remoteWorkflow uses the three built-in types a remote worker runs; with
// mode=slow its first attempt hangs until the worker stops.
const remoteWorkflow = `name: remote
inputs:
  mode: {type: string, default: quick}
tasks:
  - id: greet
    type: shell
    with:
      run: |
        if [ "${{ inputs.mode }}" = slow ] && [ "$LEGATO_ATTEMPT" = 1 ]; then echo started; sleep 60; fi
        echo "hello from attempt $LEGATO_ATTEMPT"
  - id: check
    needs: [greet]
    type: http
    with: {url: "%s/ping"}
  - id: done
    needs: [check]
    type: noop
outputs:
  greeting: "${{ tasks.greet.output.stdout }}"
  status: "${{ tasks.check.output.status }}"
`

// TestRemoteWorker runs a server without in-process workers and a
// `legato worker` process: runs succeed through the remote worker, and a
// worker stopped with SIGTERM gives its attempt back to run again at once
// on another worker.
func TestRemoteWorker(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		fmt.Fprintln(w, "pong")
	}))
	defer target.Close()

	dir := t.TempDir()
	wf := filepath.Join(dir, "remote.yaml")
	require.NoError(t, os.WriteFile(wf, []byte(fmt.Sprintf(remoteWorkflow, target.URL)), 0o644))
	s := newServer(t, wf)
	s.workers = 0
	s.start()
	t.Cleanup(s.stop)

	first := s.startWorker("e2e-1")
	res := s.cli("run", "remote", "--wait", "-o", "json")
	require.Equal(t, 0, res.code, "%s", res)
	r := decodeRun(t, res.stdout)
	require.Equal(t, "succeeded", r.Status, r.Error)
	require.Equal(t, "hello from attempt 1", r.Outputs["greeting"])
	require.EqualValues(t, 200, r.Outputs["status"])
	mu.Lock()
	require.Equal(t, []string{r.ID + "/check"}, keys, "the http task sends its idempotency key")
	mu.Unlock()
	for _, e := range s.events(r.ID) {
		if e.Type == "attempt.done" {
			require.Equal(t, "worker:e2e-1", e.Actor)
		}
	}

	// A run whose task hangs until the worker stops.
	res = s.cli("run", "remote", "-i", "mode=slow")
	require.Equal(t, 0, res.code, "%s", res)
	id := strings.TrimSpace(res.stdout)
	require.Eventually(t, func() bool {
		logs := s.cli("logs", id, "greet")
		return strings.Contains(logs.stdout, "started")
	}, 30*time.Second, 100*time.Millisecond, "the slow attempt never started")
	first.stop()

	second := s.startWorker("e2e-2")
	var last *Run
	require.Eventually(t, func() bool {
		last = s.getRun(id)
		return final(last.Status)
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, "succeeded", last.Status, last.Error)
	greet := requireTask(t, last, "greet", "succeeded")
	// Attempt 2 runs at once: an interruption is not a failure and waits
	// for no retry delay. (Attempt 3 when the stopping worker's last long
	// poll took attempt 2 as it went away: the server gives it back.)
	require.Contains(t, []int{2, 3}, greet.Attempts)
	require.Equal(t, fmt.Sprintf("hello from attempt %d", greet.Attempts), last.Outputs["greeting"])
	var interrupted bool
	for _, e := range s.events(id) {
		if e.Type == "attempt.done" && e.Actor == "worker:e2e-1" {
			interrupted = interrupted || strings.Contains(string(e.Data), "interrupted")
		}
	}
	require.True(t, interrupted, "the first worker gave its attempt back")
	second.stop()
}
