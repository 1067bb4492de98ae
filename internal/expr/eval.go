package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// programs caches compiled programs by source. The runtime environment is
// fixed, so the source is the whole key. Failed compilations are cached
// too: a bad expression fails fast on every evaluation.
var programs sync.Map // string -> *compiled

type compiled struct {
	prg cel.Program
	err error
}

// maxCached bounds the cache; past it, programs are compiled on each call
// rather than growing memory without bound (a server only ever sees the
// expressions of its workflows, so this is a safety net).
const maxCached = 10_000

var cacheMu sync.Mutex
var cacheN int

func program(src string) (cel.Program, error) {
	if c, ok := programs.Load(src); ok {
		c := c.(*compiled)
		return c.prg, c.err
	}
	c := compile(src)
	cacheMu.Lock()
	if cacheN < maxCached {
		if _, loaded := programs.LoadOrStore(src, c); !loaded {
			cacheN++
		}
	}
	cacheMu.Unlock()
	return c.prg, c.err
}

func compile(src string) *compiled {
	if len(src) > MaxSourceLen {
		return &compiled{err: fmt.Errorf("longer than %d bytes", MaxSourceLen)}
	}
	ast, iss := runtimeEnv.Compile(src)
	if iss.Err() != nil {
		return &compiled{err: errors.New(strings.TrimSpace(iss.Err().Error()))}
	}
	prg, err := runtimeEnv.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return &compiled{err: err}
	}
	return &compiled{prg: prg}
}

// eval compiles (or reuses) and evaluates one expression.
func eval(src string, vars Vars) (ref.Val, error) {
	prg, err := program(src)
	if err != nil {
		return nil, &EvalError{Expr: src, Err: err}
	}
	act := make(map[string]any, len(vars))
	for k, v := range vars {
		act[k] = v
	}
	out, _, err := prg.Eval(act)
	if err != nil {
		return nil, &EvalError{Expr: src, Err: explain(err)}
	}
	return out, nil
}

// explain rewords cel-go's terse runtime errors.
func explain(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "no such attribute"):
		return fmt.Errorf("%s (a name that is not defined here: item and index exist only inside for_each, event only in triggers, schedule only in cron trigger inputs, secrets only in task parameters)", msg)
	case strings.HasPrefix(msg, "no such key"):
		return fmt.Errorf("%s (use has(x.key) or x.?key.orValue(default) when a key may be missing)", msg)
	case strings.Contains(msg, "cost limit exceeded"):
		return fmt.Errorf("too expensive: %s", msg)
	}
	return err
}

// EvalBool evaluates a bare CEL expression (a `when:`) to a bool. It is an
// error when the result is not a bool.
func EvalBool(src string, vars Vars) (bool, error) {
	out, err := eval(src, vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Expr: src, Err: fmt.Errorf("evaluated to %s, want a bool", typeName(out))}
	}
	return bool(b), nil
}

// Render walks v (string, map[string]any, []any, or scalar) and evaluates
// every ${{ }} template in strings. A string that is exactly one
// `${{ expr }}` (surrounding white space allowed) keeps the expression's
// type (number, bool, list, map, null); otherwise pieces are interpolated
// as strings (maps and lists as JSON). Map keys are not rendered.
//
// The result is made of plain Go JSON-like values: string, int64 (CEL
// ints), float64 (CEL doubles), bool, nil, []any and map[string]any.
// Other values in v are returned as they are.
func Render(v any, vars Vars) (any, error) {
	switch x := v.(type) {
	case string:
		return renderString(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := Render(e, vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Render(e, vars)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func renderString(s string, vars Vars) (any, error) {
	if !HasTemplate(s) {
		return s, nil
	}
	segs, err := splitTemplate(s)
	if err != nil {
		return nil, templateError(s, err)
	}
	if sg, ok := single(segs); ok {
		out, err := eval(sg.text, vars)
		if err != nil {
			return nil, err
		}
		return native(out)
	}
	var b strings.Builder
	for _, sg := range segs {
		if !sg.isExpr {
			b.WriteString(sg.text)
			continue
		}
		out, err := eval(sg.text, vars)
		if err != nil {
			return nil, err
		}
		str, err := stringify(out)
		if err != nil {
			return nil, &EvalError{Expr: sg.text, Err: err}
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

// stringify is how a value is interpolated into a string.
func stringify(v ref.Val) (string, error) {
	n, err := native(v)
	if err != nil {
		return "", err
	}
	switch x := n.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// native converts a CEL value to plain Go JSON-like values.
func native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), nil
		}
		return float64(x), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("evaluated to %v, which is not a JSON number", f)
		}
		return f, nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return string(x), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.String(), nil
	case *types.Optional:
		if !x.HasValue() {
			return nil, nil
		}
		return native(x.GetValue())
	case *types.Err:
		return nil, x
	}
	if l, ok := v.(traits.Lister); ok {
		return nativeList(l)
	}
	if m, ok := v.(traits.Mapper); ok {
		return nativeMap(m)
	}
	if t, ok := v.(ref.Type); ok {
		return t.TypeName(), nil
	}
	return nil, fmt.Errorf("evaluated to a %s, which has no JSON form", typeName(v))
}

func nativeList(l traits.Lister) (any, error) {
	n, ok := l.Size().(types.Int)
	if !ok {
		return nil, errors.New("list without a size")
	}
	out := make([]any, 0, int(n))
	for it := l.Iterator(); it.HasNext() == types.True; {
		e, err := native(it.Next())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func nativeMap(m traits.Mapper) (any, error) {
	out := map[string]any{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		key, err := native(k)
		if err != nil {
			return nil, err
		}
		ks, ok := key.(string)
		if !ok {
			ks, err = stringify(k)
			if err != nil {
				return nil, err
			}
		}
		e, err := native(m.Get(k))
		if err != nil {
			return nil, err
		}
		out[ks] = e
	}
	return out, nil
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}
