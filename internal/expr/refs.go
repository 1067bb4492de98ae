package expr

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// refChecker finds references to names that do not exist at a place of a
// workflow (inputs.x, tasks.x, run.x, item, event, secrets) and says what
// does, before the type checker gives its terser "undeclared reference".
type refChecker struct {
	d    Decls
	src  string
	info *ast.SourceInfo
	errs []*Error
}

// walk visits e; local holds the comprehension variables in scope, which
// shadow the workflow's names.
func (r *refChecker) walk(e ast.Expr, local []string) {
	switch e.Kind() {
	case ast.IdentKind:
		r.ident(e, local)
	case ast.SelectKind:
		sel := e.AsSelect()
		if r.selectRef(e, sel.Operand(), sel.FieldName(), local) {
			return
		}
		r.walk(sel.Operand(), local)
	case ast.CallKind:
		call := e.AsCall()
		if fn := call.FunctionName(); (fn == operators.Index || fn == operators.OptIndex) && len(call.Args()) == 2 {
			if key, ok := stringLit(call.Args()[1]); ok && r.selectRef(e, call.Args()[0], key, local) {
				return
			}
		}
		if call.IsMemberFunction() {
			r.walk(call.Target(), local)
		}
		for _, a := range call.Args() {
			r.walk(a, local)
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			r.walk(x, local)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			r.walk(me.Key(), local)
			r.walk(me.Value(), local)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			r.walk(f.AsStructField().Value(), local)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		r.walk(c.IterRange(), local)
		r.walk(c.AccuInit(), local)
		inner := append(local[:len(local):len(local)], c.IterVar(), c.AccuVar())
		if c.HasIterVar2() {
			inner = append(inner, c.IterVar2())
		}
		r.walk(c.LoopCondition(), inner)
		r.walk(c.LoopStep(), inner)
		r.walk(c.Result(), append(local[:len(local):len(local)], c.AccuVar()))
	}
}

func (r *refChecker) ident(e ast.Expr, local []string) {
	name := e.AsIdent()
	if slices.Contains(local, name) {
		return
	}
	switch {
	case (name == "item" || name == "index") && !r.d.Item:
		r.errorf(e, "%s is only defined inside a for_each task's parameters", name)
	case name == "event" && !r.d.Event:
		r.errorf(e, "event is only defined in trigger filters and inputs")
	case name == "request" && !r.d.Request:
		r.errorf(e, "request is only defined in webhook trigger filters, inputs and idempotency_key")
	case name == "schedule" && !r.d.Schedule:
		r.errorf(e, "schedule is only defined in cron trigger inputs")
	case name == "secrets" && !r.d.Secrets:
		r.errorf(e, "secrets may only be read in task parameters (with), never in conditions or outputs")
	}
}

// selectRef checks base.field (or base["field"]) when base is one of the
// workflow's maps. It reports whether it handled the whole expression.
func (r *refChecker) selectRef(e, base ast.Expr, field string, local []string) bool {
	if base.Kind() == ast.IdentKind && !slices.Contains(local, base.AsIdent()) {
		switch base.AsIdent() {
		case "inputs":
			if _, ok := r.d.Inputs[field]; !ok {
				r.errorf(base, "undeclared input %q; %s", field, listOr("declared", keys(r.d.Inputs), "no inputs are declared"))
			}
			return true
		case "tasks":
			if !slices.Contains(r.d.Tasks, field) {
				msg := fmt.Sprintf("unknown task %q in tasks.%s; %s", field, field, listOr("visible here", r.d.Tasks, "no tasks are visible here"))
				if hint := dashHint(field, r.d.Tasks); hint != "" {
					msg += "; " + hint
				}
				r.errs = append(r.errs, &Error{Offset: r.offset(base), Msg: msg, Task: field})
			}
			return true
		case "run":
			if !slices.Contains(RunFields, field) {
				r.errorf(base, "run has no field %q; fields: %s", field, strings.Join(RunFields, ", "))
			}
			return true
		case "schedule":
			if !r.d.Schedule {
				return false
			}
			if !slices.Contains(ScheduleFields, field) {
				r.errorf(base, "schedule has no field %q; fields: %s", field, strings.Join(ScheduleFields, ", "))
			}
			return true
		}
		return false
	}
	// tasks.<id>.<field>
	id, ok := taskRef(base, local)
	if !ok {
		return false
	}
	if !slices.Contains(r.d.Tasks, id) {
		r.walk(base, local)
		return true
	}
	if !slices.Contains(TaskFields, field) {
		r.errorf(root(base), "tasks.%s has no field %q; fields: %s", id, field, strings.Join(TaskFields, ", "))
	}
	return true
}

// taskRef recognizes tasks.<id> and tasks["<id>"].
func taskRef(e ast.Expr, local []string) (string, bool) {
	var base ast.Expr
	var id string
	switch e.Kind() {
	case ast.SelectKind:
		base, id = e.AsSelect().Operand(), e.AsSelect().FieldName()
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
			return "", false
		}
		key, ok := stringLit(call.Args()[1])
		if !ok {
			return "", false
		}
		base, id = call.Args()[0], key
	default:
		return "", false
	}
	if base.Kind() != ast.IdentKind || base.AsIdent() != "tasks" || slices.Contains(local, "tasks") {
		return "", false
	}
	return id, true
}

// root is the identifier a chain of selections and indexes starts from.
func root(e ast.Expr) ast.Expr {
	for {
		switch e.Kind() {
		case ast.SelectKind:
			e = e.AsSelect().Operand()
		case ast.CallKind:
			if len(e.AsCall().Args()) == 0 {
				return e
			}
			e = e.AsCall().Args()[0]
		default:
			return e
		}
	}
}

func stringLit(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// dashHint helps with tasks.my-id, which CEL reads as tasks.my - id.
func dashHint(field string, ids []string) string {
	for _, id := range ids {
		if strings.HasPrefix(id, field+"-") {
			return fmt.Sprintf("write tasks[%q] for an id with a dash", id)
		}
	}
	return ""
}

func (r *refChecker) errorf(e ast.Expr, format string, args ...any) {
	r.errs = append(r.errs, &Error{Offset: r.offset(e), Msg: fmt.Sprintf(format, args...)})
}

func (r *refChecker) offset(e ast.Expr) int {
	return offsetOf(r.src, r.info.GetStartLocation(e.ID()))
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func listOr(label string, names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return label + ": " + strings.Join(s, ", ")
}
