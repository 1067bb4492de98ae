package engine

import (
	"fmt"
	"testing"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// BenchmarkDecideForEach measures the pure decision core alone on a
// 1,000-item for_each followed by a join: one op is a whole run, from
// Start to the join's success, every item completing in order on one
// State (as the engine keeps it between transactions). ns/completion is
// the cost of one Decide of an item's completion.
func BenchmarkDecideForEach(b *testing.B) {
	const items = 1000
	for _, maxParallel := range []int{0, 10} {
		b.Run(fmt.Sprintf("max_parallel=%d", maxParallel), func(b *testing.B) {
			list := make([]any, items)
			for i := range list {
				list[i] = float64(i)
			}
			each := spec.Task{ID: "each", Type: "noop", ForEach: "${{ inputs.items }}", MaxParallel: maxParallel,
				With: map[string]any{"i": "${{ item }}"}}
			w := wf(each, task("join", "each"))
			completions := 0
			for b.Loop() {
				s := benchState(w, map[string]any{"items": list})
				queued := map[Key]int{}
				var order []Key
				enqueue := func(d Decision) {
					for _, c := range d.Commands {
						if e, ok := c.(Enqueue); ok {
							queued[Key{e.Task, e.Index}] = e.Attempt
							order = append(order, Key{e.Task, e.Index})
						}
					}
				}
				enqueue(Decide(s, Start{}))
				for len(order) > 0 {
					k := order[0]
					order = order[1:]
					enqueue(Decide(s, AttemptDone{Task: k.Task, Index: k.Index, Attempt: queued[k], Output: "ok"}))
					completions++
				}
				if s.Run.Status != store.RunSucceeded {
					b.Fatalf("run %s: %s", s.Run.Status, s.Run.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(completions), "ns/completion")
		})
	}
}

func benchState(w *spec.Workflow, inputs map[string]any) *State {
	return &State{
		Workflow: w,
		Run: &store.Run{ID: "run1", Namespace: w.Namespace, Workflow: w.Name, Version: 1, Status: store.RunQueued,
			Inputs: inputs, Attempt: 1, ParentIndex: -1, CreatedAt: t0},
		Tasks: map[Key]*store.TaskRun{},
		Now:   t0,
		NewID: func() string { return "child" },
	}
}
