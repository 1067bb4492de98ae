package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// The for_each counts a State keeps (foreach.go) are checked two ways: a
// full recount of the items after every Decide (checkForEachCounts), and
// a twin State driven by the same events that forgets its counts before
// every Decide, so that it decides on a full scan like a freshly loaded
// State: both must decide the same.

// checkForEachCounts compares every kept for_each count with a recount of
// the task runs.
func checkForEachCounts(s *State) error {
	s.syncForEach()
	for task, c := range s.forEach {
		want := &forEachCount{items: c.items, seen: make([]itemClass, c.items)}
		for i := range want.seen {
			want.count(i, classOf(s.Tasks[Key{task, i}]))
		}
		if c.active != want.active || c.finished != want.finished || !slices.Equal(c.seen, want.seen) {
			return fmt.Errorf("%s: kept active %d finished %d seen %v; recount active %d finished %d seen %v",
				task, c.active, c.finished, c.seen, want.active, want.finished, want.seen)
		}
		for i := 0; i < c.next && i < c.items; i++ {
			if c.seen[i] == itemMissing {
				return fmt.Errorf("%s: item %d below the hint %d has no task run", task, i, c.next)
			}
		}
	}
	return nil
}

func (h *harness) requireCounts() {
	h.t.Helper()
	require.NoError(h.t, checkForEachCounts(h.st))
}

// activeItems returns the indexes of the unfinished items of task.
func (h *harness) activeItems(task string) []int {
	var out []int
	for k, tr := range h.st.Tasks {
		if k.Task == task && k.Index >= 0 && !tr.Status.Terminal() {
			out = append(out, k.Index)
		}
	}
	slices.Sort(out)
	return out
}

// claim does what claims do to a kept State between transactions: the
// queued task runs of keys become running task runs read from the store.
func (h *harness) claim(keys ...Key) {
	var running []*store.TaskRun
	for _, k := range keys {
		tr := h.st.Tasks[k]
		if tr == nil || tr.Status != store.TaskQueued {
			continue
		}
		c := *tr
		c.Status, c.StartedAt = store.TaskRunning, h.st.Now
		running = append(running, &c)
	}
	h.st.refresh(running)
}

// reload replaces the State by one loaded afresh from what was committed:
// copies of the run and of every task run, no kept counts.
func (h *harness) reload() {
	old := h.st
	run := *old.Run
	st := &State{Workflow: old.Workflow, Run: &run, Tasks: make(map[Key]*store.TaskRun, len(old.Tasks)), Now: old.Now, NewID: old.NewID}
	for k, tr := range old.Tasks {
		c := *tr
		st.Tasks[k] = &c
	}
	h.st = st
}

// itemsTask is a for_each task over inputs.items, each item's `with`
// {v: item}.
func itemsTask(id string, maxParallel int) spec.Task {
	t := task(id)
	t.ForEach = "${{ inputs.items }}"
	t.MaxParallel = maxParallel
	t.With = map[string]any{"v": "${{ item }}"}
	return t
}

func itemList(n int) []any {
	list := make([]any, n)
	for i := range list {
		list[i] = fmt.Sprintf("i%d", i)
	}
	return list
}

func TestForEachMaxParallelLaunchesInOrder(t *testing.T) {
	t.Parallel()
	x := itemsTask("x", 3)
	h := newHarness(t, wf(x, task("after", "x")), map[string]any{"items": itemList(10)})
	h.start()
	require.Equal(t, []int{0, 1, 2}, h.activeItems("x"))
	h.requireCounts()
	launched := 3
	// Finish the highest active item each time: the next launch is still
	// the lowest item never launched.
	for step := 0; step < 10; step++ {
		active := h.activeItems("x")
		require.LessOrEqual(t, len(active), 3)
		require.Equal(t, min(3, 10-step), len(active), "step %d: every slot is used", step)
		last := active[len(active)-1]
		h.finish("x", last, fmt.Sprintf("o%d", last), "")
		h.requireCounts()
		if launched < 10 {
			require.Contains(t, h.activeItems("x"), launched, "item %d launched next", launched)
			require.Equal(t, fmt.Sprintf("i%d", launched), h.queued[Key{"x", launched}].Params["v"])
			launched++
		}
		for i := launched; i < 10; i++ {
			require.Nil(t, h.st.Tasks[Key{"x", i}], "item %d launched out of order", i)
		}
	}
	require.Equal(t, store.TaskSucceeded, h.status("x"))
	out := h.st.Tasks[Key{"x", -1}].Output.([]any)
	require.Len(t, out, 10)
	for i, o := range out {
		require.Equal(t, fmt.Sprintf("o%d", i), o)
	}
	h.requireQueued("after")
}

func TestForEachFailingItems(t *testing.T) {
	t.Parallel()
	for _, continueOnError := range []bool{false, true} {
		t.Run(fmt.Sprintf("continue_on_error=%v", continueOnError), func(t *testing.T) {
			t.Parallel()
			x := itemsTask("x", 2)
			x.ContinueOnError = continueOnError
			zero := 0.0
			x.Retry = &spec.Retry{Attempts: 2, Jitter: &zero, Initial: spec.Duration(time.Millisecond)}
			h := newHarness(t, wf(x, task("after", "x")), map[string]any{"items": itemList(5)})
			h.start()
			require.Equal(t, []int{0, 1}, h.activeItems("x"))
			// A failure with a retry left keeps the item active: no new launch.
			h.finish("x", 1, nil, "flaky")
			require.Equal(t, []int{0, 1}, h.activeItems("x"))
			require.Equal(t, 2, h.queued[Key{"x", 1}].Attempt)
			h.requireCounts()
			// The last attempt's failure finishes the item: its slot goes to 2.
			h.finish("x", 1, nil, "broken")
			require.Equal(t, store.TaskFailed, h.statusAt("x", 1))
			require.Equal(t, []int{0, 2}, h.activeItems("x"))
			h.requireCounts()
			h.finish("x", 0, "A", "")
			h.finish("x", 2, "C", "")
			h.do(AttemptDone{Task: "x", Index: 3, Attempt: 1, Err: "fatal", NonRetryable: true})
			delete(h.queued, Key{"x", 3})
			require.Equal(t, store.TaskFailed, h.statusAt("x", 3))
			require.Equal(t, []int{4}, h.activeItems("x"))
			require.Equal(t, store.TaskRunning, h.status("x"), "an item is still running")
			h.requireCounts()
			h.finish("x", 4, "E", "")
			h.requireCounts()
			if continueOnError {
				require.Equal(t, store.TaskSucceeded, h.status("x"))
				require.Equal(t, []any{"A", nil, "C", nil, "E"}, h.st.Tasks[Key{"x", -1}].Output)
				h.requireQueued("after")
				return
			}
			require.Equal(t, store.TaskFailed, h.status("x"))
			require.Equal(t, "item 1 failed: broken", h.st.Tasks[Key{"x", -1}].Error)
			require.Equal(t, store.TaskUpstreamFailed, h.status("after"))
			require.Equal(t, store.RunFailed, h.st.Run.Status)
		})
	}
}

func TestForEachRetryRunKeepsSucceededItems(t *testing.T) {
	t.Parallel()
	x := itemsTask("x", 2)
	h := newHarness(t, wf(x, task("after", "x")), map[string]any{"items": itemList(6)})
	h.start()
	for i := range 6 {
		if i == 1 || i == 4 {
			h.finish("x", i, nil, "bad")
		} else {
			h.finish("x", i, fmt.Sprintf("o%d", i), "")
		}
		h.requireCounts()
	}
	require.Equal(t, store.RunFailed, h.st.Run.Status)

	d := h.do(Retry{})
	h.requireCounts()
	// x's aggregate and failed items were removed and started again at once.
	require.Equal(t, []Key{{"after", -1}}, d.Deleted)
	var changed []Key
	for _, tr := range d.Changed {
		changed = append(changed, Key{tr.Task, tr.Index})
	}
	require.Equal(t, []Key{{"x", -1}, {"x", 1}, {"x", 4}}, changed)
	// The failed items run again, in order, within max_parallel; the
	// succeeded ones keep their results and are not run again.
	require.Equal(t, []int{1, 4}, h.activeItems("x"))
	for _, i := range []int{0, 2, 3, 5} {
		require.Equal(t, store.TaskSucceeded, h.statusAt("x", i))
		require.NotContains(t, h.queued, Key{"x", i})
	}
	h.finish("x", 4, "O4", "")
	h.requireCounts()
	require.Equal(t, store.TaskRunning, h.status("x"))
	h.finish("x", 1, "O1", "")
	h.requireCounts()
	require.Equal(t, store.TaskSucceeded, h.status("x"))
	require.Equal(t, []any{"o0", "O1", "o2", "o3", "O4", "o5"}, h.st.Tasks[Key{"x", -1}].Output)
	h.ok("after", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

// A retry may give a for_each other items: a task it needs runs again.
// The items launched after the retry are the new ones, not those a count
// kept from before the retry had evaluated.
func TestForEachRetryRunEvaluatesItemsAgain(t *testing.T) {
	t.Parallel()
	src := task("src")
	src.ContinueOnError = true
	x := task("x", "src")
	x.ForEach = "${{ tasks.src.output }}"
	x.With = map[string]any{"v": "${{ item }}"}
	h := newHarness(t, wf(src, x), nil)
	h.start()
	// src fails but is let through, with an output.
	h.do(AttemptDone{Task: "src", Index: -1, Attempt: 1, Output: []any{"p", "q"}, Err: "partial"})
	delete(h.queued, Key{"src", -1})
	require.Equal(t, "p", h.queued[Key{"x", 0}].Params["v"])
	h.finish("x", 0, "P", "")
	// Canceled while an item runs: the for_each's count is still kept.
	h.do(Cancel{})
	require.Equal(t, store.RunCanceled, h.st.Run.Status)

	h.do(Retry{})
	h.ok("src", []any{"r", "s"})
	h.requireCounts()
	require.Equal(t, []int{1}, h.activeItems("x"), "the succeeded item is kept")
	require.Equal(t, "s", h.queued[Key{"x", 1}].Params["v"], "the item is the new list's")
	h.finish("x", 1, "S", "")
	require.Equal(t, []any{"P", "S"}, h.st.Tasks[Key{"x", -1}].Output)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

// A State kept between transactions sees claims as running task runs that
// replace its queued ones (refresh): the counts, kept on the first State,
// must follow completions of the replaced task runs, and decide as a State
// loaded afresh at any point would.
func TestForEachKeptStateAcrossRefresh(t *testing.T) {
	t.Parallel()
	x := itemsTask("x", 4)
	w := wf(x, task("after", "x"))
	inputs := map[string]any{"items": itemList(12)}
	kept, fresh := newHarness(t, w, inputs), newHarness(t, w, inputs)
	both := func(f func(h *harness) Decision) {
		dk := f(kept)
		fresh.reload()
		df := f(fresh)
		require.Equal(t, df, dk)
		kept.requireCounts()
	}
	both((*harness).start)
	require.NotNil(t, kept.st.forEach["x"], "the kept State counts")
	for step := 0; kept.st.Run.Status == store.RunRunning; step++ {
		active := kept.activeItems("x")
		if len(active) == 0 {
			break
		}
		// Claim every active item, then complete the lowest: the
		// completion is applied to the task run refresh put in place.
		for _, h := range []*harness{kept, fresh} {
			var keys []Key
			for _, i := range active {
				keys = append(keys, Key{"x", i})
			}
			h.claim(keys...)
		}
		require.Equal(t, store.TaskRunning, kept.statusAt("x", active[0]))
		both(func(h *harness) Decision { return h.finish("x", active[0], active[0], "") })
		require.LessOrEqual(t, len(kept.activeItems("x")), 4)
	}
	require.Equal(t, store.TaskSucceeded, kept.status("x"))
	require.Nil(t, kept.st.forEach["x"], "the count is dropped once every item finished")
	kept.requireQueued("after")
}

// refresh lists every item it replaces, whatever the status it brings:
// the counts follow the task runs read from the store.
func TestForEachRefreshCountsWhatItReplaces(t *testing.T) {
	t.Parallel()
	x := task("x")
	x.ForEach = []any{"p", "q", "r"}
	h := newHarness(t, wf(x), nil)
	h.start()
	require.Equal(t, 3, h.st.forEach["x"].active)
	done := *h.st.Tasks[Key{"x", 1}]
	done.Status = store.TaskSucceeded
	h.st.refresh([]*store.TaskRun{&done})
	h.requireCounts()
	require.Equal(t, 2, h.st.forEach["x"].active)
	require.Equal(t, 1, h.st.forEach["x"].finished)
}

// TestPropertyForEachCounts drives random for_each workflows through
// random completions, failures, interruptions, claims (refresh), reloads,
// cancels and run retries, and checks after every Decide that the kept
// counts match a recount and that a twin State deciding on full scans
// (counts forgotten before every Decide) decides the same.
func TestPropertyForEachCounts(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		w := genForEachWorkflow(rt)
		inputs := map[string]any{
			"a": itemList(rapid.IntRange(0, 12).Draw(rt, "a")),
			"b": itemList(rapid.IntRange(0, 6).Draw(rt, "b")),
		}
		inc, scan := newHarness(rt, w, inputs), newHarness(rt, w, inputs)
		step := func(ev func(h *harness) Decision) {
			di := ev(inc)
			scan.st.dropForEach("")
			ds := ev(scan)
			require.Equal(rt, ds, di)
			if err := checkForEachCounts(inc.st); err != nil {
				rt.Fatalf("%v", err)
			}
			for _, t := range w.Tasks {
				if n := len(inc.activeItems(t.ID)); t.MaxParallel > 0 && n > t.MaxParallel {
					rt.Fatalf("%s: %d items active, max_parallel %d", t.ID, n, t.MaxParallel)
				}
			}
		}
		step((*harness).start)
		retries := 0
		for n := 0; ; n++ {
			if n > 3000 {
				rt.Fatalf("run did not terminate: %v", inc.st.Run.Status)
			}
			if inc.st.Run.Status.Terminal() {
				if inc.st.Run.Status == store.RunSucceeded || retries >= 2 || !rapid.Bool().Draw(rt, "retry") {
					break
				}
				retries++
				step(func(h *harness) Decision { return h.do(Retry{}) })
				continue
			}
			keys := inc.queuedKeys()
			if len(keys) == 0 {
				rt.Fatalf("run %s is stuck with nothing queued", inc.st.Run.Status)
			}
			k := keys[rapid.IntRange(0, len(keys)-1).Draw(rt, "pick")]
			switch rapid.IntRange(0, 19).Draw(rt, "event") {
			case 0:
				step(func(h *harness) Decision { return h.do(Cancel{}) })
			case 1, 2:
				// Claims between transactions: refresh, no Decide.
				picked := rapid.SliceOfDistinct(rapid.SampledFrom(keys), func(k Key) Key { return k }).Draw(rt, "claim")
				inc.claim(picked...)
				scan.claim(picked...)
			case 3:
				inc.reload()
			case 4:
				step(func(h *harness) Decision {
					q := h.queued[k]
					delete(h.queued, k)
					return h.do(AttemptDone{Task: k.Task, Index: k.Index, Attempt: q.Attempt, Err: "lost", Interrupted: true})
				})
			case 5, 6, 7, 8:
				step(func(h *harness) Decision { return h.finish(k.Task, k.Index, nil, "failed") })
			default:
				step(func(h *harness) Decision { return h.finish(k.Task, k.Index, fmt.Sprint(k), "") })
			}
		}
	})
}

func genForEachWorkflow(rt *rapid.T) *spec.Workflow {
	zero := 0.0
	forEach := func(id, list string, needs ...string) spec.Task {
		t := task(id, needs...)
		t.ForEach = "${{ inputs." + list + " }}"
		t.With = map[string]any{"v": "${{ item }}"}
		t.MaxParallel = rapid.IntRange(0, 3).Draw(rt, id+".max_parallel")
		t.ContinueOnError = rapid.Bool().Draw(rt, id+".continue_on_error")
		if rapid.Bool().Draw(rt, id+".retry") {
			t.Retry = &spec.Retry{Attempts: rapid.IntRange(1, 3).Draw(rt, id+".attempts"), Jitter: &zero, Initial: spec.Duration(time.Millisecond)}
		}
		if rapid.IntRange(0, 3).Draw(rt, id+".compensate") == 0 {
			t.Compensate = &spec.Task{ID: id + ".compensate", Type: "noop"}
		}
		return t
	}
	tasks := []spec.Task{forEach("a", "a"), task("plain")}
	if rapid.Bool().Draw(rt, "second") {
		tasks = append(tasks, forEach("b", "b", "plain"), task("join", "a", "b"))
	} else {
		tasks = append(tasks, task("join", "a"))
	}
	return wf(tasks...)
}
