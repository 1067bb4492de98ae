package tasks

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/spec"
)

// fieldCheck checks one present, non-template value and returns a message,
// or nil when the value is fine. It may return *FieldError for nested paths
// (relative to the field).
type fieldCheck func(v any) []error

// schema is the fields a type accepts.
type schema map[string]fieldCheck

// check reports unknown fields, missing required ones and values of the
// wrong type. A string holding a template is accepted for any field.
func (s schema) check(with map[string]any, required ...string) []error {
	var errs []error
	valid := slices.Sorted(maps.Keys(s))
	for _, k := range slices.Sorted(maps.Keys(with)) {
		c, ok := s[k]
		if !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("unknown field %q; valid: %s", k, strings.Join(valid, ", ")), k))
			continue
		}
		v := with[k]
		if isTemplate(v) || c == nil {
			continue
		}
		for _, e := range c(v) {
			if fe, ok := e.(*FieldError); ok {
				errs = append(errs, &FieldError{Path: append([]string{k}, fe.Path...), Msg: fe.Msg})
			} else {
				errs = append(errs, fieldErr(e.Error(), k))
			}
		}
	}
	for _, k := range required {
		if _, ok := with[k]; !ok {
			errs = append(errs, fieldErr("required", k))
		}
	}
	return errs
}

// exclusive reports when more than one of names is set, or, when needOne,
// none is.
func exclusive(with map[string]any, needOne bool, a, b string) []error {
	_, hasA := with[a]
	_, hasB := with[b]
	switch {
	case hasA && hasB:
		return []error{fieldErr(fmt.Sprintf("set either %s or %s, not both", a, b), b)}
	case needOne && !hasA && !hasB:
		return []error{fieldErr(fmt.Sprintf("one of %s or %s is required", a, b))}
	}
	return nil
}

func isTemplate(v any) bool {
	s, ok := v.(string)
	return ok && HasTemplate(s)
}

func errf(format string, args ...any) []error {
	return []error{fmt.Errorf(format, args...)}
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	if _, ok := asFloat(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// Field checks.

func isString(v any) []error {
	if _, ok := v.(string); !ok {
		return errf("must be a string, not %s", typeName(v))
	}
	return nil
}

func isNonEmptyString(v any) []error {
	s, ok := v.(string)
	if !ok {
		return errf("must be a string, not %s", typeName(v))
	}
	if strings.TrimSpace(s) == "" {
		return errf("must not be empty")
	}
	return nil
}

func isBool(v any) []error {
	if _, ok := v.(bool); !ok {
		return errf("must be true or false, not %s", typeName(v))
	}
	return nil
}

func isAny(any) []error { return nil }

func isDuration(v any) []error {
	s, ok := v.(string)
	if !ok {
		return errf("must be a duration string such as 30s or 5m, not %s", typeName(v))
	}
	if _, err := spec.ParseDuration(s); err != nil {
		return []error{err}
	}
	return nil
}

func isNonNegativeInt(v any) []error {
	n, ok := asInt(v)
	if !ok || n < 0 {
		return errf("must be a non-negative whole number")
	}
	return nil
}

// isScalar accepts what can be turned into a string: string, number, bool.
func isScalar(v any) bool {
	switch v.(type) {
	case string, bool:
		return true
	}
	_, ok := asFloat(v)
	return ok
}

// isScalarMap accepts a map whose values are strings, numbers or booleans
// (env, headers).
func isScalarMap(v any) []error {
	m, ok := v.(map[string]any)
	if !ok {
		return errf("must be a map, not %s", typeName(v))
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !isScalar(m[k]) {
			errs = append(errs, fieldErr(fmt.Sprintf("must be a string, number or boolean, not %s", typeName(m[k])), k))
		}
	}
	return errs
}

func isStringList(v any) []error {
	l, ok := v.([]any)
	if !ok {
		return errf("must be a list of strings, not %s", typeName(v))
	}
	var errs []error
	for i, x := range l {
		if _, ok := x.(string); !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("must be a string, not %s", typeName(x)), strconv.Itoa(i)))
		}
	}
	return errs
}

func oneOf(values ...string) fieldCheck {
	return func(v any) []error {
		s, ok := v.(string)
		if !ok || !slices.Contains(values, s) {
			return errf("must be one of %s", strings.Join(values, ", "))
		}
		return nil
	}
}

// Getters for executors; they assume Validate passed.

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint:
		return float64(n), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	}
	f, ok := asFloat(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func getString(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

func getBool(p map[string]any, k string, def bool) bool {
	if b, ok := p[k].(bool); ok {
		return b
	}
	return def
}

func getDuration(p map[string]any, k string) time.Duration {
	d, _ := spec.ParseDuration(getString(p, k))
	return d
}

// scalarString formats a string, number or boolean.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	if n, ok := asInt(v); ok {
		return strconv.FormatInt(n, 10)
	}
	if f, ok := asFloat(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func getStringMap(p map[string]any, k string) map[string]string {
	m, _ := p[k].(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = scalarString(v)
	}
	return out
}

func getStringList(p map[string]any, k string) []string {
	l, _ := p[k].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, scalarString(v))
	}
	return out
}

// validateParams runs t's Validate on rendered params and turns problems
// into one non-retryable error.
func validateParams(validate func(map[string]any) []error, params map[string]any) error {
	if params == nil {
		params = map[string]any{}
	}
	if errs := validate(params); len(errs) > 0 {
		return NonRetryable(fmt.Errorf("invalid parameters: %w", joinErrs(errs)))
	}
	return nil
}

type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, e := range j {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}
func (j joined) Unwrap() []error { return j }

func joinErrs(errs []error) error { return joined(errs) }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
