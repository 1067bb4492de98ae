package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

const (
	haRuns        = 500             // runs started in all
	haStarters    = 8               // concurrent API clients starting them
	haWaitFinal   = 5 * time.Minute // bound on waiting for every run to end
	haLeaderLimit = 10 * time.Second
)

// haWorkflow is a DAG of 8 tasks: shell tasks that append their
// idempotency key and attempt to the effects file, a fan-out and join, and
// a durable sleep (a timer the leader fires). Retries absorb the attempts
// lost with a stalled worker's expired leases.
func haWorkflow(effects string) string {
	var b strings.Builder
	b.WriteString("name: ha\ntasks:\n")
	shell := func(id, needs, sleep string) {
		fmt.Fprintf(&b, "  - id: %s\n", id)
		if needs != "" {
			fmt.Fprintf(&b, "    needs: [%s]\n", needs)
		}
		fmt.Fprintf(&b, "    type: shell\n    retry: {attempts: 6, initial: 100ms, max: 1s}\n")
		fmt.Fprintf(&b, "    with: {run: 'echo \"$LEGATO_IDEMPOTENCY_KEY $LEGATO_ATTEMPT\" >> \"$EFFECTS\"; sleep %s', env: {EFFECTS: %q}}\n", sleep, effects)
	}
	shell("start", "", "0.02")
	shell("a", "start", "0.05")
	shell("b", "start", "0.03")
	shell("c", "start", "0.04")
	b.WriteString("  - id: nap\n    needs: [a]\n    type: sleep\n    with: {duration: 200ms}\n")
	shell("join", "nap, b, c", "0")
	b.WriteString("  - id: check\n    needs: [join]\n    type: noop\n")
	shell("end", "check", "0")
	return b.String()
}

// TestHighAvailability is the fault test of the scale-out issue: two
// servers on one PostgreSQL database, no in-process workers, two remote
// `legato worker`s, and 500 runs started through both servers while
//   - the leader server is killed with SIGKILL (the other takes its duties
//     within 10s) and restarted,
//   - a worker is killed with SIGKILL (another replaces it),
//   - PostgreSQL itself is crashed and restarted,
//   - a worker is stopped with SIGSTOP past its leases, then continued
//     (its late completions are refused).
//
// Every run must succeed; every task run's success is in its journal once;
// every timer fired once; side effects repeat only for task runs that had
// more than one attempt.
func TestHighAvailability(t *testing.T) {
	if testing.Short() {
		t.Skip("the high-availability test takes a minute or more; skipped with -short")
	}
	db := pgtest.NewCluster(t) // our own server: the test restarts it
	dsn := db.DSN()

	dir := t.TempDir()
	effects := filepath.Join(dir, "effects.log")
	wfDir := filepath.Join(dir, "workflows")
	require.NoError(t, os.Mkdir(wfDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(wfDir, "ha.yaml"), []byte(haWorkflow(effects)), 0o644))

	node := func(id string, apply ...string) *server {
		s := newServer(t, apply...)
		s.workers = 0
		s.args = []string{"--store", "postgres", "--dsn", dsn, "--node-id", id}
		return s
	}
	s1 := node("s1", wfDir)
	s1.start()
	s2 := node("s2")
	// The second server joins with a copy of the first's admin token.
	require.NoError(t, os.MkdirAll(s2.dataDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s2.dataDir, "admin.token"), []byte(s1.token()+"\n"), 0o600))
	s2.start()
	requireLeader(t, s2, "s1", haLeaderLimit)

	w1 := s1.startWorker("w1", "--concurrency", "6")
	w2 := s2.startWorker("w2", "--concurrency", "6")

	// Starters: haRuns runs through whichever server is up, retrying a
	// start that failed (a server or the database went away under it).
	var (
		started  atomic.Int64
		startErr atomic.Int64
		mu       sync.Mutex
		alive    = map[*server]bool{s1: true, s2: true}
	)
	pick := func(i int) *server {
		mu.Lock()
		defer mu.Unlock()
		if i%2 == 0 && alive[s1] {
			return s1
		}
		if alive[s2] {
			return s2
		}
		return s1
	}
	setAlive := func(s *server, up bool) {
		mu.Lock()
		alive[s] = up
		mu.Unlock()
	}
	var starters sync.WaitGroup
	next := atomic.Int64{}
	for range haStarters {
		starters.Go(func() {
			for {
				i := next.Add(1)
				if i > haRuns {
					return
				}
				for try := 0; ; try++ {
					s := pick(int(i))
					// One key per logical start: a retried start whose first
					// answer was lost returns the run it made.
					code, _ := s.tryAPI(http.MethodPost, "/api/v1/runs", map[string]any{"workflow": "ha"}, "Idempotency-Key", fmt.Sprintf("ha-%d", i))
					if code == http.StatusCreated || code == http.StatusOK {
						started.Add(1)
						break
					}
					startErr.Add(1)
					require.Less(t, try, 200, "run %d could not be started", i)
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	waitStarted := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for started.Load() < n {
			require.True(t, time.Now().Before(deadline), "only %d runs started", started.Load())
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 1. The leader dies: the other server takes its duties.
	waitStarted(60)
	setAlive(s1, false)
	s1.kill()
	killed := time.Now()
	requireLeader(t, s2, "s2", haLeaderLimit)
	t.Logf("leader s1 killed: s2 took the scheduler duty after %s", time.Since(killed).Round(10*time.Millisecond))

	// 2. A worker dies; another replaces it (on the surviving server).
	w1.kill()
	w3 := s2.startWorker("w3", "--concurrency", "6")
	s1.start()
	setAlive(s1, true)

	// 3. The database crashes and comes back.
	waitStarted(150)
	require.NoError(t, db.Restart(time.Second))
	t.Logf("PostgreSQL restarted")

	// 4. A worker stalls past its leases (3s), then wakes up: its late
	// completions are refused.
	waitStarted(250)
	require.NoError(t, w2.cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(6 * time.Second)
	require.NoError(t, w2.cmd.Process.Signal(syscall.SIGCONT))
	refused := 0
	for deadline := time.Now().Add(30 * time.Second); refused == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile(w2.logPath)
		require.NoError(t, err)
		refused = strings.Count(string(b), "the lease is no longer held")
	}
	require.Positive(t, refused, "the stalled worker reported no refused completion; its log:\n%s", tail(w2.logPath, 40))
	t.Logf("the stalled worker had %d late reports refused", refused)

	starters.Wait()
	t.Logf("%d runs started (%d start calls failed and were retried)", started.Load(), startErr.Load())

	// Every run, including any whose start answer was lost.
	ids := allRunIDs(t, s2)
	require.Len(t, ids, haRuns, "idempotency keys make each start one run, even retried")
	runs := waitAllFinal(t, s2, ids, haWaitFinal)

	lines := readEffects(t, effects)
	taskRuns, multi, dups := 0, 0, 0
	for id, r := range runs {
		require.Equal(t, "succeeded", r.Status, "run %s: %s; tasks:%s", id, r.Error, taskSummary(r))
		succeeded, fired := map[string]int{}, 0
		for _, ev := range s2.events(id) {
			switch ev.Type {
			case "task.succeeded":
				succeeded[ev.Task]++
			case "timer.fired":
				fired++
			}
		}
		require.Equal(t, 1, fired, "run %s: the sleep's timer fired %d times", id, fired)
		for _, tr := range r.Tasks {
			require.Equal(t, 1, succeeded[tr.ID], "run %s: task.succeeded events of %s", id, tr.ID)
			if tr.ID == "nap" || tr.ID == "check" {
				continue // no side effect
			}
			taskRuns++
			key := effectKey{run: id, task: tr.ID, index: -1}
			attempts := lines[key]
			require.NotEmpty(t, attempts, "run %s task %s left no side effect", id, tr.ID)
			delete(lines, key)
			if tr.Attempts > 1 {
				multi++
			}
			if len(attempts) > 1 {
				require.Greater(t, tr.Attempts, 1, "run %s task %s ran %d times with one attempt", id, tr.ID, len(attempts))
				dups += len(attempts) - 1
			}
		}
	}
	require.Empty(t, lines, "side effects of task runs no run has")
	t.Logf("%d runs, %d task runs with side effects; %d with more than one attempt; %d repeated side effects", len(runs), taskRuns, multi, dups)

	// Both servers and the replacement worker stop cleanly.
	w2.stop()
	w3.stop()
	s1.stop()
	s2.stop()
}

// requireLeader waits until s reports `want` as the cluster's leader.
func requireLeader(t *testing.T, s *server, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		var c struct {
			Nodes []struct {
				ID     string `json:"id"`
				Leader bool   `json:"leader"`
			} `json:"nodes"`
		}
		if code, raw := s.tryAPI(http.MethodGet, "/api/v1/cluster", nil); code == http.StatusOK {
			decodeJSON(t, string(raw), &c)
			last = string(raw)
			for _, n := range c.Nodes {
				if n.ID == want && n.Leader {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s is not the leader after %s; last /cluster: %s", want, within, last)
}

// tryAPI is api without failing the test when the server cannot be
// reached: the code is 0 then.
func (s *server) tryAPI(method, path string, body any, header ...string) (int, []byte) {
	s.t.Helper()
	rd := strings.NewReader("")
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = strings.NewReader(string(js))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.token())
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// allRunIDs lists every run id the server knows.
func allRunIDs(t *testing.T, s *server) []string {
	t.Helper()
	var ids []string
	before := ""
	for {
		var page struct {
			Runs []struct {
				ID        string `json:"id"`
				CreatedAt string `json:"created_at"`
			} `json:"runs"`
		}
		path := "/api/v1/runs?limit=1000"
		if before != "" {
			path += "&before=" + before
		}
		code, raw := s.api(http.MethodGet, path, nil, &page)
		require.Equal(t, http.StatusOK, code, "%s", raw)
		for _, r := range page.Runs {
			ids = append(ids, r.ID)
		}
		if len(page.Runs) < 1000 {
			return ids
		}
		before = page.Runs[len(page.Runs)-1].CreatedAt
	}
}

// waitAllFinal waits, bounded, until every run is final and returns them.
func waitAllFinal(t *testing.T, s *server, ids []string, within time.Duration) map[string]*Run {
	t.Helper()
	runs := map[string]*Run{}
	deadline := time.Now().Add(within)
	for {
		for _, id := range ids {
			if runs[id] != nil {
				continue
			}
			var r Run
			if code, _ := s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &r); code == http.StatusOK && final(r.Status) {
				runs[id] = &r
			}
		}
		if len(runs) == len(ids) {
			return runs
		}
		if time.Now().After(deadline) {
			var pending []string
			for _, id := range ids {
				if runs[id] == nil {
					var r Run
					s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &r)
					pending = append(pending, fmt.Sprintf("%s %s:%s", id, r.Status, taskSummary(&r)))
				}
			}
			t.Fatalf("%d of %d runs still not final after %s:\n%s", len(pending), len(ids), within, strings.Join(pending[:min(len(pending), 20)], "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// kill sends SIGKILL to the worker and waits for it to be gone.
func (w *workerProc) kill() {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		w.t.Fatalf("legato worker %s did not die 10s after SIGKILL", w.id)
	}
}
