package engine

import (
	"fmt"
	"math"
	"sort"

	"github.com/legatohq/legato/internal/spec"
)

// BindInputs checks given inputs against a workflow's declarations and
// fills in defaults. Unknown names, missing required inputs and values of
// the wrong type are all reported at once in an *InputError.
func BindInputs(w *spec.Workflow, given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(w.Inputs))
	var problems []string
	declared := make(map[string]bool, len(w.Inputs))
	for _, in := range w.Inputs {
		declared[in.Name] = true
		v, ok := given[in.Name]
		if !ok || v == nil {
			switch {
			case in.Default != nil:
				out[in.Name] = in.Default
			case in.Required:
				problems = append(problems, fmt.Sprintf("input %q is required", in.Name))
			default:
				out[in.Name] = nil
			}
			continue
		}
		cv, err := coerce(in.Type, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("input %q: %v", in.Name, err))
			continue
		}
		out[in.Name] = cv
	}
	var unknown []string
	for name := range given {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		problems = append(problems, fmt.Sprintf("unknown input %q", name))
	}
	if len(problems) > 0 {
		return nil, &InputError{Problems: problems}
	}
	return out, nil
}

// coerce checks v against a declared input type. Numbers arrive from JSON
// as float64; integers must be whole.
func coerce(typ string, v any) (any, error) {
	switch typ {
	case "", "any":
		return v, nil
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "number":
		if f, ok := toFloat(v); ok {
			return f, nil
		}
	case "integer":
		if f, ok := toFloat(v); ok && f == math.Trunc(f) {
			return f, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "object":
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	case "array":
		if l, ok := v.([]any); ok {
			return l, nil
		}
	default:
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	return nil, fmt.Errorf("want %s, got %s", typ, jsonType(v))
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
