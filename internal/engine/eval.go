package engine

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
)

// Retry policy defaults.
const (
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 5 * time.Minute
	DefaultRetryFactor  = 2.0
	DefaultRetryJitter  = 0.2
)

// Backoff is the delay before the attempt after `attempt` (1-based): the
// initial delay times factor^(attempt-1), capped at max, minus a jitter
// fraction drawn from seed so the same task run always gets the same delays
// (the decision core stays deterministic).
func Backoff(r *spec.Retry, attempt int, seed string) time.Duration {
	initial, maxDelay, factor, jitter := r.Initial.D(), r.Max.D(), r.Factor, DefaultRetryJitter
	if initial <= 0 {
		initial = DefaultRetryInitial
	}
	if maxDelay <= 0 {
		maxDelay = DefaultRetryMax
	}
	if factor <= 0 {
		factor = DefaultRetryFactor
	}
	if r.Backoff == "fixed" {
		factor = 1
	}
	if r.Jitter != nil {
		jitter = math.Min(math.Max(*r.Jitter, 0), 1)
	}
	delay := float64(initial) * math.Pow(factor, float64(attempt-1))
	if delay > float64(maxDelay) {
		delay = float64(maxDelay)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", seed, attempt)
	u := float64(h.Sum64()>>11) / float64(1<<53)
	return time.Duration(delay * (1 - jitter*u))
}

// vars builds what expressions see for the task run k.
func (s *State) vars(k Key, item any) expr.Vars {
	// The workflow's tasks, not every task run: a for_each's items would
	// make each rendering cost O(items).
	tasks := make(map[string]any, len(s.Workflow.Tasks))
	for i := range s.Workflow.Tasks {
		id := s.Workflow.Tasks[i].ID
		if tr := s.Tasks[Key{id, -1}]; tr != nil {
			tasks[id] = map[string]any{"output": tr.Output, "status": string(tr.Status), "error": tr.Error}
		}
	}
	inputs := s.Run.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	v := expr.Vars{
		"inputs": inputs,
		"tasks":  tasks,
		"env":    envVar(s.Env),
		"run": map[string]any{
			"id": s.Run.ID, "workflow": s.Run.Workflow, "namespace": s.Run.Namespace,
			"attempt": int64(s.Run.Attempt), "started_at": s.Run.StartedAt.UTC().Format(timeLayout),
		},
	}
	if k.Index >= 0 {
		v["item"] = item
		v["index"] = int64(k.Index)
	}
	return v
}

func evalWhen(src string, vars expr.Vars) (bool, error) {
	return expr.EvalBool(src, vars)
}

// render evaluates a task's `with` block.
func (s *State) render(k Key, def *spec.Task, item any) (map[string]any, error) {
	if len(def.With) == 0 {
		return map[string]any{}, nil
	}
	v, err := expr.Render(def.With, s.vars(k, item))
	if err != nil {
		return nil, fmt.Errorf("with: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("with: rendered to %T, not a map", v)
	}
	return m, nil
}

// items evaluates a for_each task's list.
func (s *State) items(t *spec.Task) ([]any, error) {
	v, err := expr.Render(t.ForEach, s.vars(Key{t.ID, -1}, nil))
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("evaluated to %T, want a list", v)
	}
	return list, nil
}

// outputs evaluates the workflow's outputs after every task finished.
func (s *State) outputs() (map[string]any, error) {
	if len(s.Workflow.Outputs) == 0 {
		return map[string]any{}, nil
	}
	v, err := expr.Render(map[string]any(s.Workflow.Outputs), s.vars(Key{Index: -1}, nil))
	if err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("outputs: rendered to %T, not a map", v)
	}
	return m, nil
}

// wakeTime reads a sleep task's `duration` or `until`.
func wakeTime(params map[string]any, now time.Time) (time.Time, error) {
	if s, ok := params["until"].(string); ok && s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("sleep: until %q is not an RFC 3339 time", s)
		}
		return t, nil
	}
	switch d := params["duration"].(type) {
	case string:
		v, err := spec.ParseDuration(d)
		if err != nil {
			return time.Time{}, fmt.Errorf("sleep: %w", err)
		}
		return now.Add(v), nil
	case float64:
		return now.Add(time.Duration(d * float64(time.Second))), nil
	case int64:
		return now.Add(time.Duration(d) * time.Second), nil
	}
	return time.Time{}, fmt.Errorf("sleep: needs duration or until")
}
