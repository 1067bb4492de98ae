package engine

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// TestPropertyRandomDAGs drives random workflows with random outcomes and
// checks the engine's invariants: every run terminates, no task is queued
// before its needs finished, no task run succeeds twice, and a succeeded
// run has every task finished without a blocking failure.
func TestPropertyRandomDAGs(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		w := genWorkflow(rt)
		h := newHarness(rt, w, map[string]any{"items": []any{"x", "y", "z"}})
		h.start()
		succeeded := map[Key]int{}
		checkNeeds := func(d Decision) {
			for _, c := range d.Commands {
				e, ok := c.(Enqueue)
				if !ok {
					continue
				}
				base, r := splitRole(e.Task)
				if r != roleMain {
					continue
				}
				for _, n := range w.Task(base).Needs {
					if tr := h.st.Tasks[Key{n, -1}]; tr == nil || !tr.Status.Terminal() {
						rt.Fatalf("%s queued before its need %s finished", e.Task, n)
					}
				}
			}
			for _, tr := range d.Changed {
				if tr.Status == store.TaskSucceeded {
					k := Key{tr.Task, tr.Index}
					succeeded[k]++
					if succeeded[k] > 1 {
						rt.Fatalf("%v succeeded twice", k)
					}
				}
			}
		}
		for step := 0; !h.st.Run.Status.Terminal(); step++ {
			if step > 2000 {
				rt.Fatalf("run did not terminate: %v, queued %v", h.st.Run.Status, h.queuedKeys())
			}
			keys := h.queuedKeys()
			if len(keys) == 0 {
				if len(h.timers) == 0 && len(h.children) == 0 {
					rt.Fatalf("run %s is stuck with nothing queued", h.st.Run.Status)
				}
				if rapid.Bool().Draw(rt, "cancel") {
					checkNeeds(h.do(Cancel{}))
				}
				continue
			}
			k := keys[rapid.IntRange(0, len(keys)-1).Draw(rt, "pick")]
			outcome := rapid.IntRange(0, 9).Draw(rt, "outcome")
			switch {
			case outcome == 0:
				checkNeeds(h.do(Cancel{}))
			case outcome <= 3:
				checkNeeds(h.finish(k.Task, k.Index, nil, "failed"))
			default:
				checkNeeds(h.finish(k.Task, k.Index, "ok", ""))
			}
		}
		if h.st.Run.Status == store.RunSucceeded {
			for _, t := range w.Tasks {
				tr := h.st.Tasks[Key{t.ID, -1}]
				if tr == nil || !tr.Status.Terminal() || blocks(&t, tr) {
					rt.Fatalf("run succeeded but task %s is %v", t.ID, tr)
				}
			}
		}
		if h.st.Run.Status == store.RunFailed && h.st.Run.Error == "" {
			rt.Fatalf("failed run without an error")
		}
	})
}

func genWorkflow(rt *rapid.T) *spec.Workflow {
	n := rapid.IntRange(1, 12).Draw(rt, "tasks")
	w := &spec.Workflow{Name: "prop", Namespace: "default"}
	for i := 0; i < n; i++ {
		t := spec.Task{ID: fmt.Sprintf("t%d", i), Type: "noop"}
		for j := 0; j < i; j++ {
			if rapid.IntRange(0, 3).Draw(rt, "edge") == 0 {
				t.Needs = append(t.Needs, fmt.Sprintf("t%d", j))
			}
		}
		switch rapid.IntRange(0, 9).Draw(rt, "feature") {
		case 0:
			zero := 0.0
			t.Retry = &spec.Retry{Attempts: rapid.IntRange(1, 3).Draw(rt, "attempts"), Jitter: &zero, Initial: spec.Duration(time.Millisecond)}
		case 1:
			t.OnFailure = &spec.Task{ID: t.ID + ".on_failure", Type: "noop"}
		case 2:
			t.Compensate = &spec.Task{ID: t.ID + ".compensate", Type: "noop"}
		case 3:
			t.ContinueOnError = true
		case 4:
			t.When = rapid.SampledFrom([]string{"true", "false"}).Draw(rt, "when")
		case 5:
			t.ForEach = "${{ inputs.items }}"
			t.MaxParallel = rapid.IntRange(0, 2).Draw(rt, "max_parallel")
		}
		w.Tasks = append(w.Tasks, t)
	}
	return w
}
