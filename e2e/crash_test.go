package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	crashKills       = 22              // server kills over the test (at least 20)
	crashMaxRuns     = 40              // runs started in all
	crashWaitFinal   = 3 * time.Minute // bound on waiting for every run to end
	crashMinKillWait = 100 * time.Millisecond
	crashMaxKillWait = 700 * time.Millisecond
)

// TestCrashRecovery is the acceptance test of "nothing is only in memory":
// runs of generated workflows of 5–50 shell tasks (chains, fan-outs and
// joins, a for_each, a random DAG) are started while the server is killed
// with SIGKILL at random moments and restarted on the same data directory.
// Each task appends "<idempotency key> <attempt>" to one file. In the end
// every run must have succeeded; its journal must hold exactly one
// task.succeeded per task run; every task run must have left its side
// effect, and only task runs with more than one attempt may have left it
// more than once, at most (kills × workers) times in all.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test takes minutes; skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>7))

	dir := t.TempDir()
	effects := filepath.Join(dir, "effects.log")
	wfDir := filepath.Join(dir, "workflows")
	require.NoError(t, os.Mkdir(wfDir, 0o755))
	workflows := generateCrashWorkflows(t, rng, wfDir, effects)

	s := newServer(t, wfDir)
	s.start()

	var (
		mu      sync.Mutex
		started []string // run ids the CLI printed
		failed  int      // `legato run` calls that failed (server killed under them)
	)
	startRun := func(wf string) {
		res := s.cli("run", wf)
		id := strings.TrimSpace(res.stdout)
		mu.Lock()
		defer mu.Unlock()
		if res.code == 0 && id != "" {
			started = append(started, id)
		} else {
			failed++
		}
	}
	nStarted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(started) + failed
	}

	// Two runs to begin with, so the first kill has work to interrupt.
	startRun(workflows[0])
	startRun(workflows[len(workflows)-1])

	begin := time.Now()
	for kill := 1; kill <= crashKills; kill++ {
		wait := crashMinKillWait + time.Duration(rng.Int64N(int64(crashMaxKillWait-crashMinKillWait)))
		// Start runs while the kill timer runs, so some CLI calls race the kill.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		toStart := 1 + rng.IntN(2)
		names := make([]string, toStart)
		for i := range names {
			names[i] = workflows[rng.IntN(len(workflows))]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, wf := range names {
				select {
				case <-stop:
					return
				default:
				}
				if nStarted() >= crashMaxRuns {
					return
				}
				startRun(wf)
			}
		}()
		time.Sleep(wait)
		if testing.Verbose() {
			n, _ := os.ReadFile(effects)
			rr := s.cli("runs", "list", "--status", "running", "-o", "json")
			t.Logf("kill %d after %s: %d effect lines, running: %d", kill, wait, strings.Count(string(n), "\n"), strings.Count(rr.stdout, `"id"`))
		}
		s.kill()
		close(stop)
		wg.Wait()
		s.start()
	}
	t.Logf("%d kills in %s; %d runs started, %d `legato run` calls failed", crashKills, time.Since(begin).Round(time.Millisecond), len(started), failed)
	// A few more runs on the last server, which is left alone.
	startRun(workflows[1])
	startRun(workflows[2])

	// Every run, including any whose `legato run` call lost its answer to a kill.
	var listed struct {
		Runs []Run `json:"runs"`
	}
	res := s.cli("runs", "list", "--limit", "1000", "-o", "json")
	require.Equal(t, 0, res.code, "%s", res)
	decodeJSON(t, res.stdout, &listed)
	ids := map[string]bool{}
	for _, r := range listed.Runs {
		ids[r.ID] = true
	}
	for _, id := range started {
		require.True(t, ids[id], "run %s printed by `legato run` is not in `legato runs list`", id)
	}
	require.GreaterOrEqual(t, len(ids), 10, "too few runs started to test anything")
	t.Logf("%d runs in all", len(ids))

	// Wait, bounded, for every run to end.
	runs := map[string]*Run{}
	deadline := time.Now().Add(crashWaitFinal)
	for len(runs) < len(ids) {
		for id := range ids {
			if runs[id] != nil {
				continue
			}
			if r := s.getRun(id); final(r.Status) {
				runs[id] = r
			}
		}
		if len(runs) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			var pending []string
			for id := range ids {
				if runs[id] == nil {
					r := s.getRun(id)
					pending = append(pending, fmt.Sprintf("%s %s %s:%s", id, r.Workflow, r.Status, taskSummary(r)))
				}
			}
			t.Fatalf("%d of %d runs still not final after %s:\n%s", len(pending), len(ids), crashWaitFinal, strings.Join(pending, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("all runs final %s after the last kill", time.Since(begin).Round(time.Millisecond))

	// The side effects, by idempotency key.
	lines := readEffects(t, effects)

	taskRuns, dupEffects, multiAttempt := 0, 0, 0
	for id, r := range runs {
		require.Equal(t, "succeeded", r.Status, "run %s (%s) error %q; tasks:%s", id, r.Workflow, r.Error, taskSummary(r))

		// Journal: exactly one task.succeeded per task run, none for others.
		succeeded := map[string]int{}
		for _, ev := range s.events(id) {
			if ev.Type == "task.succeeded" {
				succeeded[TaskRun{ID: ev.Task, Index: ev.Index}.Name()]++
			}
		}
		forEach := map[string]bool{}
		for _, tr := range r.Tasks {
			if tr.Index != nil {
				forEach[tr.ID] = true
			}
		}
		for _, tr := range r.Tasks {
			require.Equal(t, "succeeded", tr.Status, "run %s task run %s", id, tr.Name())
			require.Equal(t, 1, succeeded[tr.Name()], "run %s: task.succeeded events of %s", id, tr.Name())
			delete(succeeded, tr.Name())
		}
		require.Empty(t, succeeded, "run %s: task.succeeded events for task runs the run does not have", id)

		// Side effects: every executed task run left at least one; repeats
		// only where an attempt was interrupted (attempts > 1).
		for _, tr := range r.Tasks {
			if tr.Index == nil && forEach[tr.ID] {
				continue // a for_each aggregate executes nothing itself
			}
			taskRuns++
			key := effectKey{run: id, task: tr.ID, index: -1}
			if tr.Index != nil {
				key.index = *tr.Index
			}
			attempts := lines[key]
			require.NotEmpty(t, attempts, "run %s task run %s left no side effect", id, tr.Name())
			delete(lines, key)
			if tr.Attempts > 1 {
				multiAttempt++
			}
			if len(attempts) > 1 {
				require.Greater(t, tr.Attempts, 1, "run %s task run %s ran %d times (attempts %v) but reports %d attempt", id, tr.Name(), len(attempts), attempts, tr.Attempts)
				dupEffects += len(attempts) - 1
			}
			for _, a := range attempts {
				require.LessOrEqual(t, a, tr.Attempts, "run %s task run %s: a side effect of attempt %d, but the run reports %d attempts", id, tr.Name(), a, tr.Attempts)
			}
			sorted := slices.Clone(attempts)
			slices.Sort(sorted)
			require.Equal(t, slices.Compact(slices.Clone(sorted)), sorted, "run %s task run %s: an attempt number ran twice: %v", id, tr.Name(), attempts)
		}
	}
	require.Empty(t, lines, "side effects of task runs no run has")
	bound := crashKills * s.workers
	t.Logf("%d task runs; %d with more than one attempt; %d repeated side effects (bound %d)", taskRuns, multiAttempt, dupEffects, bound)
	require.Positive(t, multiAttempt, "no kill interrupted an attempt (seed %d): the recovery path was not exercised", seed)
	require.LessOrEqual(t, dupEffects, bound, "more repeated side effects than attempts that can have been in flight at the kills")
	s.stop()
}

// effectKey identifies a task run in the side-effect file; index is -1
// outside a for_each.
type effectKey struct {
	run, task string
	index     int
}

// readEffects parses the side-effect file: one "KEY ATTEMPT" per line,
// KEY being <run>/<task> or <run>/<task>/<index> (-1 outside a for_each).
func readEffects(t *testing.T, path string) map[effectKey][]int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[effectKey][]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		require.Len(t, fields, 2, "effects line %d: %q", n, sc.Text())
		attempt, err := strconv.Atoi(fields[1])
		require.NoError(t, err, "effects line %d: %q: LEGATO_ATTEMPT", n, sc.Text())
		parts := strings.Split(fields[0], "/")
		require.True(t, len(parts) == 2 || len(parts) == 3, "effects line %d: key %q is not <run>/<task>[/<index>]", n, fields[0])
		k := effectKey{run: parts[0], task: parts[1], index: -1}
		if len(parts) == 3 {
			k.index, err = strconv.Atoi(parts[2])
			require.NoError(t, err, "effects line %d: key %q", n, fields[0])
		}
		out[k] = append(out[k], attempt)
	}
	require.NoError(t, sc.Err())
	return out
}

// generateCrashWorkflows writes the crash test's workflows into dir and
// returns their names. Every task is a shell task that appends its key and
// attempt to effects and sleeps 20–120 ms.
func generateCrashWorkflows(t *testing.T, rng *rand.Rand, dir, effects string) []string {
	t.Helper()
	type task struct {
		id      string
		needs   []string
		forEach int // items, 0: not a for_each
	}
	write := func(name string, tasks []task) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\ndescription: generated by TestCrashRecovery\ntasks:\n", name)
		for _, tk := range tasks {
			fmt.Fprintf(&b, "  - id: %s\n    type: shell\n", tk.id)
			if len(tk.needs) > 0 {
				fmt.Fprintf(&b, "    needs: [%s]\n", strings.Join(tk.needs, ", "))
			}
			if tk.forEach > 0 {
				items := make([]string, tk.forEach)
				for i := range items {
					items[i] = strconv.Itoa(i)
				}
				fmt.Fprintf(&b, "    for_each: [%s]\n    max_parallel: 4\n", strings.Join(items, ", "))
			}
			// Long enough that runs outlive a kill interval, so kills
			// land while attempts run.
			ms := 20 + rng.IntN(100)
			fmt.Fprintf(&b, "    with:\n      run: 'echo \"$LEGATO_IDEMPOTENCY_KEY $LEGATO_ATTEMPT\" >> \"$EFFECTS\"; sleep 0.%03d'\n", ms)
			fmt.Fprintf(&b, "      env: {EFFECTS: %q}\n", effects)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(b.String()), 0o644))
		return name
	}
	id := func(i int) string { return fmt.Sprintf("t%02d", i) }

	var names []string
	// A chain of 12.
	var chain []task
	for i := range 12 {
		tk := task{id: id(i)}
		if i > 0 {
			tk.needs = []string{id(i - 1)}
		}
		chain = append(chain, tk)
	}
	names = append(names, write("crash-chain", chain))

	// A fan-out of 16 between a start and a join, then a tail.
	fan := []task{{id: "start"}}
	var mids []string
	for i := range 16 {
		fan = append(fan, task{id: id(i), needs: []string{"start"}})
		mids = append(mids, id(i))
	}
	fan = append(fan, task{id: "join", needs: mids}, task{id: "tail", needs: []string{"join"}})
	names = append(names, write("crash-fan", fan))

	// A for_each of 12 items between two tasks.
	names = append(names, write("crash-foreach", []task{
		{id: "prepare"},
		{id: "each", needs: []string{"prepare"}, forEach: 12},
		{id: "after", needs: []string{"each"}},
	}))

	// Small: a diamond and a tail (5 tasks).
	names = append(names, write("crash-small", []task{
		{id: "a"}, {id: "b", needs: []string{"a"}}, {id: "c", needs: []string{"a"}},
		{id: "d", needs: []string{"b", "c"}}, {id: "e", needs: []string{"d"}},
	}))

	// A random DAG of 50 tasks, each needing up to 3 earlier ones, with a
	// for_each in the middle.
	var dag []task
	for i := range 50 {
		tk := task{id: id(i)}
		for range rng.IntN(4) {
			if i > 0 {
				n := id(rng.IntN(i))
				if !slices.Contains(tk.needs, n) {
					tk.needs = append(tk.needs, n)
				}
			}
		}
		if i == 25 {
			tk.forEach = 6
		}
		dag = append(dag, tk)
	}
	names = append(names, write("crash-dag", dag))

	res := runCLI(t, time.Minute, "validate", dir)
	require.Equal(t, 0, res.code, "generated workflows are invalid:\n%s", res)
	return names
}
