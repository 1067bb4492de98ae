package spec

import (
	"errors"
	"fmt"

	"github.com/legatohq/legato/internal/expr"
)

// expressions parses and type-checks every expression against what is
// visible where it stands: a task sees the tasks it transitively needs
// (and a nested task also sees its own task); outputs see every task.
func (v *validator) expressions() {
	inputs := v.inputDecls()
	for i := range v.w.Tasks {
		t := &v.w.Tasks[i]
		p := path{"tasks", idx(i)}
		base := expr.Decls{Inputs: inputs, Tasks: v.upstream(i)}
		if t.When != "" {
			v.exprErrors(p.with("when"), t.ID, expr.CheckBool(t.When, base))
		}
		if t.ForEach != nil {
			v.exprErrors(p.with("for_each"), t.ID, expr.CheckTemplate(t.ForEach, base))
		}
		params := base
		params.Item = t.ForEach != nil
		params.Secrets = true
		v.exprErrors(p.with("with"), t.ID, expr.CheckTemplate(t.With, params))
		if m, ok := t.With["match"].(string); ok && t.Type == "wait_event" && !expr.HasTemplate(m) {
			match := base
			match.Item = t.ForEach != nil
			match.Event = true
			v.exprErrors(p.with("with", "match"), t.ID, expr.CheckBool(m, match))
		}
		params.Tasks = append(params.Tasks[:len(params.Tasks):len(params.Tasks)], t.ID)
		if t.OnFailure != nil {
			v.exprErrors(p.with("on_failure", "with"), t.ID, expr.CheckTemplate(t.OnFailure.With, params))
		}
		if t.Compensate != nil {
			v.exprErrors(p.with("compensate", "with"), t.ID, expr.CheckTemplate(t.Compensate.With, params))
		}
	}
	all := make([]string, 0, len(v.index))
	for id := range v.index {
		all = append(all, id)
	}
	v.exprErrors(path{"outputs"}, "", expr.CheckTemplate(v.w.Outputs, expr.Decls{Inputs: inputs, Tasks: all}))
	if c := v.w.Concurrency; c != nil && c.Key != "" {
		v.exprErrors(path{"concurrency", "key"}, "", expr.CheckTemplate(c.Key, expr.Decls{Inputs: inputs}))
	}
	for i, t := range v.w.Triggers {
		if v.badTriggers[i] {
			continue
		}
		p := path{"triggers", idx(i)}
		d := expr.Decls{Event: t.Event != "", Request: t.Webhook != "", Schedule: t.Cron != ""}
		if t.Filter != "" {
			v.exprErrors(p.with("filter"), "", expr.CheckBool(t.Filter, d))
		}
		v.exprErrors(p.with("inputs"), "", expr.CheckTemplate(t.Inputs, d))
		if t.IdempotencyKey != "" {
			v.exprErrors(p.with("idempotency_key"), "", expr.CheckTemplate(t.IdempotencyKey, d))
		}
		// A secret and a token see only env.
		if t.Secret != "" {
			v.exprErrors(p.with("secret"), "", expr.CheckTemplate(t.Secret, expr.Decls{}))
		}
		if t.Token != "" {
			v.exprErrors(p.with("token"), "", expr.CheckTemplate(t.Token, expr.Decls{}))
		}
	}
}

// exprErrors places expression errors found under p; owner is the task the
// expression belongs to, if any.
func (v *validator) exprErrors(p path, owner string, errs []error) {
	for _, err := range errs {
		var e *expr.Error
		if !errors.As(err, &e) {
			v.errorf(p, false, "%v", err)
			continue
		}
		at := p.with(e.Path...)
		msg := v.refMessage(owner, e)
		if v.places == nil {
			msg = label(at) + ": " + msg
		}
		v.errs = append(v.errs, &Error{Pos: v.atOffset(at, e.Offset), Msg: msg})
	}
}

// refMessage explains a reference to a task that exists but is not
// visible: it is not upstream of the owner.
func (v *validator) refMessage(owner string, e *expr.Error) string {
	if e.Task == "" {
		return e.Msg
	}
	if _, exists := v.index[e.Task]; !exists {
		return e.Msg
	}
	switch {
	case owner == "":
		return e.Msg
	case e.Task == owner:
		return fmt.Sprintf("task %s reads its own tasks.%s before it has run (only on_failure and compensate may)", quote(owner), e.Task)
	}
	return fmt.Sprintf("task %s reads tasks.%s but does not need it; add %q to its needs", quote(owner), e.Task, e.Task)
}
