package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

func TestChainRunsInOrderAndPassesData(t *testing.T) {
	t.Parallel()
	b := task("b", "a")
	b.With = map[string]any{"from_a": "${{ tasks.a.output.n + 1 }}"}
	w := wf(task("a"), b, task("c", "b"))
	w.Outputs = map[string]any{"last": "${{ tasks.c.output }}", "sum": "n=${{ tasks.a.output.n }}"}
	h := newHarness(t, w, nil)

	h.start()
	require.Equal(t, store.RunRunning, h.st.Run.Status)
	h.requireQueued("a")
	h.ok("a", map[string]any{"n": int64(41)})
	h.requireQueued("b")
	require.Equal(t, map[string]any{"from_a": int64(42)}, h.queued[Key{"b", -1}].Params)
	h.ok("b", "B")
	h.requireQueued("c")
	h.ok("c", "C")
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
	require.Equal(t, map[string]any{"last": "C", "sum": "n=41"}, h.st.Run.Outputs)
	require.Equal(t, t0, h.st.Run.FinishedAt)
}

func TestParallelBranchesJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, wf(task("a"), task("b"), task("join", "a", "b")), nil)
	h.start()
	h.requireQueued("a", "b")
	h.ok("b", nil)
	h.requireQueued("a")
	h.ok("a", nil)
	h.requireQueued("join")
	h.ok("join", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestWhenFalseSkipsAndDependentsStillRun(t *testing.T) {
	t.Parallel()
	b := task("b", "a")
	b.When = "inputs.amount > 1000"
	h := newHarness(t, wf(task("a"), b, task("c", "b")), map[string]any{"amount": 10.0})
	h.start()
	h.ok("a", nil)
	require.Equal(t, store.TaskSkipped, h.status("b"))
	h.requireQueued("c")
	h.ok("c", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestWhenTrueRuns(t *testing.T) {
	t.Parallel()
	b := task("b")
	b.When = "inputs.amount > 1000"
	h := newHarness(t, wf(b), map[string]any{"amount": 1500.0})
	h.start()
	h.requireQueued("b")
}

func TestFailurePropagatesAsUpstreamFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, wf(task("a"), task("b", "a"), task("c", "b"), task("d")), nil)
	h.start()
	h.bad("a", "boom")
	require.Equal(t, store.TaskFailed, h.status("a"))
	require.Equal(t, store.TaskUpstreamFailed, h.status("b"))
	require.Equal(t, store.TaskUpstreamFailed, h.status("c"))
	require.Equal(t, "not run: need a failed", h.st.Tasks[Key{"b", -1}].Error)
	require.Equal(t, store.RunRunning, h.st.Run.Status, "d still runs")
	h.ok("d", nil)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Equal(t, "task a failed: boom", h.st.Run.Error)
}

func TestContinueOnError(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.ContinueOnError = true
	b := task("b", "a")
	b.With = map[string]any{"why": "${{ tasks.a.status }}: ${{ tasks.a.error }}"}
	h := newHarness(t, wf(a, b), nil)
	h.start()
	h.bad("a", "flaky")
	require.Equal(t, store.TaskFailed, h.status("a"))
	h.requireQueued("b")
	require.Equal(t, "failed: flaky", h.queued[Key{"b", -1}].Params["why"])
	h.ok("b", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestRetryWithBackoffThenFailure(t *testing.T) {
	t.Parallel()
	a := task("a")
	jitter := 0.0
	a.Retry = &spec.Retry{Attempts: 3, Initial: spec.Duration(time.Second), Max: spec.Duration(time.Minute), Jitter: &jitter}
	h := newHarness(t, wf(a), nil)
	h.start()
	h.bad("a", "e1")
	q := h.queued[Key{"a", -1}]
	require.Equal(t, 2, q.Attempt)
	require.Equal(t, t0.Add(time.Second), q.NotBefore)
	require.Equal(t, store.TaskQueued, h.status("a"))
	h.bad("a", "e2")
	q = h.queued[Key{"a", -1}]
	require.Equal(t, 3, q.Attempt)
	require.Equal(t, t0.Add(time.Second).Add(2*time.Second), q.NotBefore)
	h.bad("a", "e3")
	require.Equal(t, store.TaskFailed, h.status("a"))
	require.Equal(t, 3, h.st.Tasks[Key{"a", -1}].Attempts)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Equal(t, "task a failed: e3", h.st.Run.Error)
}

func TestRetrySucceedsOnSecondAttempt(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Retry = &spec.Retry{Attempts: 5}
	h := newHarness(t, wf(a, task("b", "a")), nil)
	h.start()
	h.bad("a", "e1")
	h.ok("a", "fine")
	require.Equal(t, store.TaskSucceeded, h.status("a"))
	require.Equal(t, 2, h.st.Tasks[Key{"a", -1}].Attempts)
	h.requireQueued("b")
}

func TestNonRetryableStopsRetries(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Retry = &spec.Retry{Attempts: 5}
	h := newHarness(t, wf(a), nil)
	h.start()
	q := h.queued[Key{"a", -1}]
	h.do(AttemptDone{Task: "a", Index: -1, Attempt: q.Attempt, Err: "bad request", NonRetryable: true})
	require.Equal(t, store.TaskFailed, h.status("a"))
	require.Equal(t, store.RunFailed, h.st.Run.Status)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	zero := 0.0
	half := 0.5
	tests := []struct {
		name     string
		r        spec.Retry
		attempt  int
		min, max time.Duration
	}{
		{"defaults first", spec.Retry{Jitter: &zero}, 1, time.Second, time.Second},
		{"defaults grow", spec.Retry{Jitter: &zero}, 4, 8 * time.Second, 8 * time.Second},
		{"capped", spec.Retry{Jitter: &zero, Max: spec.Duration(5 * time.Second)}, 10, 5 * time.Second, 5 * time.Second},
		{"fixed", spec.Retry{Jitter: &zero, Backoff: "fixed", Initial: spec.Duration(3 * time.Second)}, 5, 3 * time.Second, 3 * time.Second},
		{"factor", spec.Retry{Jitter: &zero, Factor: 3}, 3, 9 * time.Second, 9 * time.Second},
		{"jitter bounds", spec.Retry{Jitter: &half}, 2, time.Second, 2 * time.Second},
		{"default jitter", spec.Retry{}, 1, 800 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Backoff(&tt.r, tt.attempt, "run/x")
			require.GreaterOrEqual(t, d, tt.min)
			require.LessOrEqual(t, d, tt.max)
			require.Equal(t, d, Backoff(&tt.r, tt.attempt, "run/x"), "deterministic")
		})
	}
}

func TestOnFailureFallbackRecovers(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.OnFailure = &spec.Task{ID: "a.on_failure", Type: "noop", With: map[string]any{"note": "fallback for ${{ tasks.a.error }}"}}
	h := newHarness(t, wf(a, task("b", "a")), nil)
	h.start()
	h.bad("a", "primary down")
	require.Equal(t, store.TaskRunning, h.status("a"), "a waits for its fallback")
	h.requireQueued("a.on_failure")
	require.Equal(t, "fallback for primary down", h.queued[Key{"a.on_failure", -1}].Params["note"])
	h.ok("a.on_failure", "from fallback")
	require.Equal(t, store.TaskSucceeded, h.status("a"))
	require.Equal(t, "from fallback", h.st.Tasks[Key{"a", -1}].Output)
	require.Contains(t, h.st.Tasks[Key{"a", -1}].Error, "recovered by on_failure: primary down")
	h.requireQueued("b")
	h.ok("b", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestOnFailureFallbackFails(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.OnFailure = &spec.Task{ID: "a.on_failure", Type: "noop"}
	h := newHarness(t, wf(a, task("b", "a")), nil)
	h.start()
	h.bad("a", "primary down")
	h.bad("a.on_failure", "backup down")
	require.Equal(t, store.TaskFailed, h.status("a"))
	require.Equal(t, store.TaskFailed, h.status("a.on_failure"))
	require.Equal(t, store.TaskUpstreamFailed, h.status("b"))
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Contains(t, h.st.Run.Error, "backup down")
}

func TestCompensationsRunInReverseCompletionOrder(t *testing.T) {
	t.Parallel()
	comp := func(id string) spec.Task {
		x := task(id)
		x.Compensate = &spec.Task{ID: id + ".compensate", Type: "noop", With: map[string]any{"undo": "${{ tasks." + id + ".output }}"}}
		return x
	}
	h := newHarness(t, wf(comp("a"), comp("b"), task("c", "a", "b"), comp("d")), nil)
	h.start()
	h.requireQueued("a", "b", "d")
	h.ok("b", "B") // b completes first
	h.ok("a", "A")
	h.requireQueued("c", "d")
	h.bad("d", "nope") // d failed: it is not compensated
	// c does not depend on d: it still runs, and compensation waits for it.
	require.False(t, h.st.Run.Compensating)
	h.requireQueued("c")
	h.ok("c", "C")
	require.True(t, h.st.Run.Compensating)
	// Compensations run one at a time, latest completion first: a, then b.
	h.requireQueued("a.compensate")
	require.Equal(t, "A", h.queued[Key{"a.compensate", -1}].Params["undo"])
	h.ok("a.compensate", nil)
	h.requireQueued("b.compensate")
	require.Equal(t, store.RunRunning, h.st.Run.Status)
	h.ok("b.compensate", nil)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Equal(t, "task d failed: nope", h.st.Run.Error)
}

func TestFailedCompensationIsReportedAndOthersStillRun(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Compensate = &spec.Task{ID: "a.compensate", Type: "noop"}
	b := task("b", "a")
	b.Compensate = &spec.Task{ID: "b.compensate", Type: "noop"}
	h := newHarness(t, wf(a, b, task("c", "b")), nil)
	h.start()
	h.ok("a", nil)
	h.ok("b", nil)
	h.bad("c", "boom")
	h.bad("b.compensate", "cannot undo")
	h.ok("a.compensate", nil)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Equal(t, "task c failed: boom; compensation of b failed: cannot undo", h.st.Run.Error)
}

func TestForEachMaxParallelCollectsOutputs(t *testing.T) {
	t.Parallel()
	x := task("x")
	x.ForEach = "${{ inputs.items }}"
	x.MaxParallel = 2
	x.With = map[string]any{"v": "${{ item }}-${{ index }}"}
	w := wf(x, task("after", "x"))
	w.Outputs = map[string]any{"all": "${{ tasks.x.output }}"}
	h := newHarness(t, w, map[string]any{"items": []any{"a", "b", "c", "d", "e"}})
	h.start()
	require.Len(t, h.queued, 2)
	require.Equal(t, "a-0", h.queued[Key{"x", 0}].Params["v"])
	require.Equal(t, "b-1", h.queued[Key{"x", 1}].Params["v"])
	require.Equal(t, 5, h.st.Tasks[Key{"x", -1}].Items)
	h.finish("x", 1, "B", "")
	require.Len(t, h.queued, 2)
	require.Contains(t, h.queued, Key{"x", 2})
	for _, i := range []int{0, 2, 3, 4} {
		h.finish("x", i, string(rune('A'+i)), "")
		require.LessOrEqual(t, len(h.queued), 2)
	}
	require.Equal(t, store.TaskSucceeded, h.status("x"))
	require.Equal(t, []any{"A", "B", "C", "D", "E"}, h.st.Tasks[Key{"x", -1}].Output)
	h.requireQueued("after")
	h.ok("after", nil)
	require.Equal(t, []any{"A", "B", "C", "D", "E"}, h.st.Run.Outputs["all"])
}

func TestForEachEmptyAndLiteralAndItemFailure(t *testing.T) {
	t.Parallel()
	empty := task("empty")
	empty.ForEach = []any{}
	h := newHarness(t, wf(empty), nil)
	h.start()
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
	require.Equal(t, []any{}, h.st.Tasks[Key{"empty", -1}].Output)

	lit := task("lit")
	lit.ForEach = []any{"p", "q"}
	h = newHarness(t, wf(lit, task("next", "lit")), nil)
	h.start()
	h.finish("lit", 0, nil, "")
	h.finish("lit", 1, nil, "bad item")
	require.Equal(t, store.TaskFailed, h.status("lit"))
	require.Contains(t, h.st.Tasks[Key{"lit", -1}].Error, "item 1 failed: bad item")
	require.Equal(t, store.TaskUpstreamFailed, h.status("next"))
	require.Equal(t, store.RunFailed, h.st.Run.Status)
}

func TestForEachNotAListFails(t *testing.T) {
	t.Parallel()
	x := task("x")
	x.ForEach = "${{ inputs.n }}"
	h := newHarness(t, wf(x), map[string]any{"n": 3.0})
	h.start()
	require.Equal(t, store.TaskFailed, h.status("x"))
	require.Contains(t, h.st.Tasks[Key{"x", -1}].Error, "want a list")
}

func TestSleepIsADurableTimer(t *testing.T) {
	t.Parallel()
	s := spec.Task{ID: "nap", Type: "sleep", With: map[string]any{"duration": "1h"}}
	h := newHarness(t, wf(s, task("after", "nap")), nil)
	h.start()
	require.Equal(t, store.TaskWaiting, h.status("nap"))
	require.Equal(t, store.RunWaiting, h.st.Run.Status)
	require.Equal(t, SetTimer{Task: "nap", Index: -1, Kind: store.TimerSleep, At: t0.Add(time.Hour)}, h.timers[Key{"nap", -1}])
	require.Empty(t, h.queued, "no worker is held")
	h.st.Now = t0.Add(time.Hour)
	h.do(TimerFired{Task: "nap", Index: -1, Kind: store.TimerSleep})
	require.Equal(t, store.TaskSucceeded, h.status("nap"))
	h.requireQueued("after")
	// A second firing of the same timer changes nothing.
	d := h.do(TimerFired{Task: "nap", Index: -1, Kind: store.TimerSleep})
	require.Empty(t, d.Changed)
}

func TestSleepUntil(t *testing.T) {
	t.Parallel()
	s := spec.Task{ID: "nap", Type: "sleep", With: map[string]any{"until": "2026-12-01T00:00:00Z"}}
	h := newHarness(t, wf(s), nil)
	h.start()
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), h.timers[Key{"nap", -1}].At)
}

func TestChildWorkflowOutputsReachParent(t *testing.T) {
	t.Parallel()
	c := spec.Task{ID: "sub", Type: "workflow", With: map[string]any{"workflow": "child", "inputs": map[string]any{"n": "${{ inputs.n }}"}}}
	h := newHarness(t, wf(c, task("after", "sub")), map[string]any{"n": 2.0})
	h.start()
	sc := h.children[Key{"sub", -1}]
	require.Equal(t, StartChild{Task: "sub", Index: -1, RunID: "child1", Namespace: "default", Workflow: "child", Inputs: map[string]any{"n": 2.0}}, sc)
	require.Equal(t, store.TaskWaiting, h.status("sub"))
	require.Equal(t, store.RunWaiting, h.st.Run.Status)
	h.do(ChildDone{Task: "sub", Index: -1, ChildID: "other", Status: store.RunSucceeded})
	require.Equal(t, store.TaskWaiting, h.status("sub"), "a report from another child is ignored")
	h.do(ChildDone{Task: "sub", Index: -1, ChildID: "child1", Status: store.RunSucceeded, Outputs: map[string]any{"account": "u1"}})
	require.Equal(t, map[string]any{"account": "u1"}, h.st.Tasks[Key{"sub", -1}].Output)
	h.requireQueued("after")
}

func TestChildFailureFailsTask(t *testing.T) {
	t.Parallel()
	c := spec.Task{ID: "sub", Type: "workflow", With: map[string]any{"workflow": "child"}}
	h := newHarness(t, wf(c), nil)
	h.start()
	h.do(ChildDone{Task: "sub", Index: -1, ChildID: "child1", Status: store.RunFailed, Err: "task x failed: y"})
	require.Equal(t, store.TaskFailed, h.status("sub"))
	require.Equal(t, "child run child1 failed: task x failed: y", h.st.Tasks[Key{"sub", -1}].Error)
}

func TestChildTimeoutCancelsChild(t *testing.T) {
	t.Parallel()
	c := spec.Task{ID: "sub", Type: "workflow", Timeout: spec.Duration(time.Minute), With: map[string]any{"workflow": "child"}}
	h := newHarness(t, wf(c), nil)
	h.start()
	require.Equal(t, t0.Add(time.Minute), h.timers[Key{"sub", -1}].At)
	d := h.do(TimerFired{Task: "sub", Index: -1, Kind: store.TimerTaskTimeout})
	require.Contains(t, d.Commands, Command(CancelChild{RunID: "child1"}))
	require.Equal(t, store.TaskFailed, h.status("sub"))
	require.Equal(t, "timed out after 1m0s", h.st.Tasks[Key{"sub", -1}].Error)
}

func TestRunTimeoutCancelsTasksAndCompensates(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Compensate = &spec.Task{ID: "a.compensate", Type: "noop"}
	w := wf(a, task("b", "a"))
	w.Timeout = spec.Duration(10 * time.Minute)
	h := newHarness(t, w, nil)
	h.start()
	require.Equal(t, t0.Add(10*time.Minute), h.st.Run.Deadline)
	require.Equal(t, SetTimer{Index: -1, Kind: store.TimerRunTimeout, At: t0.Add(10 * time.Minute)}, h.timers[Key{"", -1}])
	h.ok("a", nil)
	h.st.Now = t0.Add(10 * time.Minute)
	h.do(TimerFired{Index: -1, Kind: store.TimerRunTimeout})
	require.Equal(t, store.TaskCanceled, h.status("b"))
	h.requireQueued("a.compensate")
	h.ok("a.compensate", nil)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	require.Equal(t, "run timed out after 10m0s", h.st.Run.Error)
}

func TestCancelStopsEverything(t *testing.T) {
	t.Parallel()
	s := spec.Task{ID: "nap", Type: "sleep", With: map[string]any{"duration": "1h"}}
	c := spec.Task{ID: "sub", Type: "workflow", With: map[string]any{"workflow": "child"}}
	h := newHarness(t, wf(task("a"), s, c, task("later", "a")), nil)
	h.start()
	q := h.queued[Key{"a", -1}]
	d := h.do(Cancel{Reason: "canceled by admin"})
	require.Equal(t, store.RunCanceled, h.st.Run.Status)
	require.Equal(t, "canceled by admin", h.st.Run.Error)
	for _, k := range []string{"a", "nap", "sub"} {
		require.Equal(t, store.TaskCanceled, h.status(k), k)
	}
	require.Equal(t, store.TaskStatus(""), h.status("later"), "pending tasks never start")
	require.Contains(t, d.Commands, Command(CancelAttempts{Index: -1}))
	require.Contains(t, d.Commands, Command(CancelChild{RunID: "child1"}))
	require.Contains(t, d.Commands, Command(DeleteRunTimers{}))
	// A late completion changes nothing.
	d = h.do(AttemptDone{Task: "a", Index: -1, Attempt: q.Attempt})
	require.Empty(t, d.Changed)
	require.Equal(t, store.RunCanceled, h.st.Run.Status)
}

func TestRetryRunRerunsOnlyFailedTasks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, wf(task("a"), task("b", "a"), task("c", "b"), task("d")), nil)
	h.start()
	h.ok("a", "A")
	h.ok("d", "D")
	h.bad("b", "boom")
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	h.do(Retry{})
	require.Equal(t, store.RunRunning, h.st.Run.Status)
	require.Equal(t, 2, h.st.Run.Attempt)
	require.Empty(t, h.st.Run.Error)
	h.requireQueued("b")
	require.Equal(t, "A", h.st.Tasks[Key{"a", -1}].Output, "completed tasks are not re-run")
	h.ok("b", nil)
	h.ok("c", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestRetryRunRedoesCompensatedTasks(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Compensate = &spec.Task{ID: "a.compensate", Type: "noop"}
	h := newHarness(t, wf(a, task("b", "a")), nil)
	h.start()
	h.ok("a", nil)
	h.bad("b", "boom")
	h.ok("a.compensate", nil)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	d := h.do(Retry{})
	require.Contains(t, d.Deleted, Key{"a.compensate", -1})
	h.requireQueued("a")
}

func TestStaleAndDuplicateReportsAreIgnored(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Retry = &spec.Retry{Attempts: 3}
	h := newHarness(t, wf(a), nil)
	h.start()
	h.bad("a", "e1")
	// Attempt 1 reports again (a duplicate): ignored.
	d := h.do(AttemptDone{Task: "a", Index: -1, Attempt: 1, Err: "late"})
	require.Empty(t, d.Changed)
	h.ok("a", nil)
	d = h.do(AttemptDone{Task: "a", Index: -1, Attempt: 2})
	require.Empty(t, d.Changed, "no task succeeds twice")
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestChildRunNotifiesParent(t *testing.T) {
	t.Parallel()
	w := wf(task("a"))
	w.Outputs = map[string]any{"x": "${{ tasks.a.output }}"}
	h := newHarness(t, w, nil)
	h.st.Run.ParentRunID, h.st.Run.ParentTask, h.st.Run.ParentIndex = "parent", "sub", 3
	h.start()
	d := h.ok("a", "X")
	require.Contains(t, d.Commands, Command(NotifyParent{ParentRunID: "parent", Task: "sub", Index: 3, Status: store.RunSucceeded, Outputs: map[string]any{"x": "X"}}))
}

func TestRenderErrorFailsTaskWithoutRetry(t *testing.T) {
	t.Parallel()
	a := task("a")
	a.Retry = &spec.Retry{Attempts: 3}
	a.With = map[string]any{"x": "${{ inputs.missing.deep }}"}
	h := newHarness(t, wf(a), map[string]any{})
	h.start()
	require.Equal(t, store.TaskFailed, h.status("a"))
	require.Contains(t, h.st.Tasks[Key{"a", -1}].Error, "with:")
	require.Equal(t, store.RunFailed, h.st.Run.Status)
}

func TestJournalRecordsTransitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, wf(task("a")), nil)
	h.start()
	h.ok("a", nil)
	var types []string
	for _, e := range h.journal {
		types = append(types, e.Type)
	}
	require.Equal(t, []string{"run.start", "task.queued", "run.running", "attempt.done", "task.succeeded", "run.succeeded"}, types)
}

func TestInterruptedAttemptIsRetriedWithoutPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, wf(task("a")), nil)
	h.start()
	q := h.queued[Key{"a", -1}]
	h.do(AttemptDone{Task: "a", Index: -1, Attempt: q.Attempt, Err: "interrupted", Interrupted: true})
	require.Equal(t, store.TaskQueued, h.status("a"))
	require.Equal(t, 2, h.queued[Key{"a", -1}].Attempt)
	h.ok("a", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

// A compensated for_each runs all its items again on retry, whatever the
// order the retry visits the task runs in (map order: repeated).
func TestRetryRunRerunsCompensatedForEachItems(t *testing.T) {
	t.Parallel()
	for range 20 {
		x := task("x")
		x.ForEach = []any{"p", "q", "r"}
		x.Compensate = &spec.Task{ID: "x.compensate", Type: "noop"}
		h := newHarness(t, wf(x, task("b", "x")), nil)
		h.start()
		for i := range 3 {
			h.finish("x", i, nil, "")
		}
		h.bad("b", "boom")
		h.ok("x.compensate", nil)
		require.Equal(t, store.RunFailed, h.st.Run.Status)
		h.do(Retry{})
		for i := range 3 {
			require.Contains(t, h.queued, Key{"x", i}, "item %d of a compensated for_each runs again", i)
		}
	}
}
