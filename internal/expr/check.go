package expr

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/types"
)

// CheckTemplate parses and type-checks every ${{ }} expression in the
// strings inside v (a string, map[string]any, []any or scalar) against d.
// Each error is an *Error; its Path names the string inside v and its
// Offset is relative to that string.
func CheckTemplate(v any, d Decls) []error {
	var errs []error
	walkStrings(v, nil, func(path []string, s string) {
		for _, e := range checkTemplateString(s, d) {
			e.Path = path
			errs = append(errs, e)
		}
	})
	return errs
}

func walkStrings(v any, path []string, fn func([]string, string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(x[k], append(path[:len(path):len(path)], k), fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, append(path[:len(path):len(path)], strconv.Itoa(i)), fn)
		}
	}
}

func checkTemplateString(s string, d Decls) []*Error {
	if !HasTemplate(s) {
		return nil
	}
	segs, err := splitTemplate(s)
	if err != nil {
		return []*Error{err.(*Error)}
	}
	var errs []*Error
	for _, sg := range segs {
		if !sg.isExpr {
			continue
		}
		for _, e := range checkExpr(sg.text, d, false) {
			if e.Offset >= 0 {
				e.Offset += sg.off
			}
			errs = append(errs, e)
		}
	}
	return errs
}

// CheckBool parses and type-checks a bare expression that must give a bool.
func CheckBool(src string, d Decls) []error {
	var errs []error
	for _, e := range checkExpr(src, d, true) {
		errs = append(errs, e)
	}
	return errs
}

func checkExpr(src string, d Decls, wantBool bool) []*Error {
	if strings.TrimSpace(src) == "" {
		return []*Error{{Offset: 0, Msg: "empty expression"}}
	}
	if len(src) > MaxSourceLen {
		return []*Error{{Offset: 0, Msg: fmt.Sprintf("expression longer than %d bytes", MaxSourceLen)}}
	}
	env, err := declEnv(d)
	if err != nil {
		return []*Error{{Offset: -1, Msg: err.Error()}}
	}
	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return issueErrors(src, iss.Errors())
	}
	r := &refChecker{d: d, src: src, info: parsed.NativeRep().SourceInfo()}
	r.walk(parsed.NativeRep().Expr(), nil)
	if len(r.errs) > 0 {
		return r.errs
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return issueErrors(src, iss.Errors())
	}
	if wantBool {
		t := checked.OutputType()
		if !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			return []*Error{{Offset: 0, Msg: fmt.Sprintf("condition gives %s, want bool", t)}}
		}
	}
	return nil
}

func issueErrors(src string, errs []*common.Error) []*Error {
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		msg := e.Message
		if i := strings.Index(msg, "\n"); i >= 0 {
			msg = msg[:i]
		}
		// The parser lists every token it would have taken; the position
		// says more.
		if i := strings.Index(msg, " expecting {"); i >= 0 {
			msg = msg[:i]
		}
		msg = strings.ReplaceAll(msg, "mismatched input '<EOF>'", "unexpected end of expression")
		msg = strings.ReplaceAll(msg, "'<EOF>'", "end of expression")
		out = append(out, &Error{Offset: offsetOf(src, e.Location), Msg: msg})
	}
	return out
}

// offsetOf turns a CEL location (1-based line, 0-based column in runes)
// into a byte offset in src, or -1.
func offsetOf(src string, loc common.Location) int {
	if loc == nil || loc.Line() < 1 || loc.Column() < 0 {
		return -1
	}
	off := 0
	for line := 1; line < loc.Line(); line++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	for col := 0; col < loc.Column() && off < len(src); col++ {
		_, n := utf8.DecodeRuneInString(src[off:])
		off += n
	}
	return off
}

// envs caches checking environments by decl shape; validating one
// workflow needs a handful. It is dropped when it grows past maxEnvs.
var (
	envsMu sync.Mutex
	envs   = map[string]*cel.Env{}
)

const maxEnvs = 512

var checkBase = func() *cel.Env {
	env, err := cel.NewCustomEnv(baseOptions()...)
	if err != nil {
		panic("expr: check environment: " + err.Error())
	}
	return env
}()

// declEnv returns the (cached) checking environment for d.
func declEnv(d Decls) (*cel.Env, error) {
	key := declKey(d)
	envsMu.Lock()
	env, ok := envs[key]
	envsMu.Unlock()
	if ok {
		return env, nil
	}
	env, err := checkBase.Extend(declOptions(d)...)
	if err != nil {
		return nil, err
	}
	envsMu.Lock()
	if len(envs) >= maxEnvs {
		clear(envs)
	}
	envs[key] = env
	envsMu.Unlock()
	return env, nil
}

func declKey(d Decls) string {
	var b strings.Builder
	names := make([]string, 0, len(d.Inputs))
	for n := range d.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%q:%q,", n, d.Inputs[n])
	}
	b.WriteString("|")
	tasks := append([]string(nil), d.Tasks...)
	sort.Strings(tasks)
	for _, t := range tasks {
		fmt.Fprintf(&b, "%q,", t)
	}
	fmt.Fprintf(&b, "|%t%t%t%t%t", d.Item, d.Event, d.Secrets, d.Request, d.Schedule)
	return b.String()
}
