package spec

import (
	"slices"
	"strings"
)

// graph checks needs: unknown ids, repeats and cycles.
func (v *validator) graph() {
	for i, t := range v.w.Tasks {
		seen := map[string]bool{}
		for j, n := range t.Needs {
			p := path{"tasks", idx(i), "needs", idx(j)}
			if len(t.Needs) == 1 && v.places != nil && !v.present(p) {
				p = p[:len(p)-1]
			}
			switch _, known := v.index[n]; {
			case seen[n]:
				v.errorf(p, false, "task %s needs %q twice", quoteID(t.ID), n)
			case !known:
				v.errorf(p, false, "task %s needs unknown task %q; %s", quoteID(t.ID), n, v.taskList())
			}
			seen[n] = true
		}
	}
	v.cycles()
}

func (v *validator) taskList() string {
	ids := make([]string, 0, len(v.w.Tasks))
	for _, t := range v.w.Tasks {
		if t.ID != "" {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 {
		return "no task has an id"
	}
	return "tasks: " + strings.Join(ids, ", ")
}

// cycles reports each cycle in needs once, naming it from the task that
// comes first in the file: "cycle: a -> b -> a" reads "a needs b needs a".
func (v *validator) cycles() {
	const (
		unvisited = iota
		active
		done
	)
	state := make([]int, len(v.w.Tasks))
	var stack []int
	reported := map[string]bool{}
	var visit func(i int)
	visit = func(i int) {
		state[i] = active
		stack = append(stack, i)
		for _, n := range v.w.Tasks[i].Needs {
			j, ok := v.index[n]
			if !ok {
				continue
			}
			switch state[j] {
			case unvisited:
				visit(j)
			case active:
				start := slices.Index(stack, j)
				v.reportCycle(stack[start:], reported)
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range v.w.Tasks {
		if state[i] == unvisited && v.index[v.w.Tasks[i].ID] == i {
			visit(i)
		}
	}
}

func (v *validator) reportCycle(cycle []int, reported map[string]bool) {
	first := slices.Index(cycle, slices.Min(cycle))
	cycle = append(cycle[first:len(cycle):len(cycle)], cycle[:first]...)
	names := make([]string, 0, len(cycle)+1)
	for _, i := range cycle {
		names = append(names, v.w.Tasks[i].ID)
	}
	names = append(names, names[0])
	key := strings.Join(names, "\x00")
	if reported[key] {
		return
	}
	reported[key] = true
	head := v.w.Tasks[cycle[0]]
	p := path{"tasks", idx(cycle[0]), "needs"}
	if j := slices.Index(head.Needs, names[1]); j >= 0 && (v.places == nil || v.present(p.with(idx(j)))) {
		p = p.with(idx(j))
	}
	v.errorf(p, false, "cycle in needs: %s", strings.Join(names, " -> "))
}

// upstream returns the ids task i transitively needs, in file order.
func (v *validator) upstream(i int) []string {
	seen := make([]bool, len(v.w.Tasks))
	var walk func(int)
	walk = func(k int) {
		for _, n := range v.w.Tasks[k].Needs {
			if j, ok := v.index[n]; ok && !seen[j] {
				seen[j] = true
				walk(j)
			}
		}
	}
	walk(i)
	var out []string
	for j, ok := range seen {
		if ok && j != i {
			out = append(out, v.w.Tasks[j].ID)
		}
	}
	return out
}
