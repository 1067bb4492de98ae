package spec

import (
	"errors"

	"github.com/legatohq/legato/internal/expr"
)

func (v *validator) tasks() {
	for i := range v.w.Tasks {
		t := &v.w.Tasks[i]
		p := path{"tasks", idx(i)}
		v.taskID(t, i, p)
		v.taskBody(t, p, "task")
		if t.OnFailure != nil {
			t.OnFailure.ID = t.ID + ".on_failure"
			v.nested(t.OnFailure, p.with("on_failure"), "on_failure")
		}
		if t.Compensate != nil {
			t.Compensate.ID = t.ID + ".compensate"
			v.nested(t.Compensate, p.with("compensate"), "compensate")
		}
		v.forEach(t, p)
	}
}

func (v *validator) taskID(t *Task, i int, p path) {
	switch {
	case t.ID == "":
		if !v.present(p.with("id")) {
			v.errorf(p, false, "task %d is missing required field \"id\"", i+1)
		}
		return
	case !idPattern.MatchString(t.ID):
		v.errorf(p.with("id"), false, "invalid task id %q: use letters, digits, '_' and '-', starting with a letter or '_'", t.ID)
	}
	if first, dup := v.index[t.ID]; dup {
		v.errorf(p.with("id"), false, "duplicate task id %q (first used by task %d at %s)", t.ID, first+1, v.at(path{"tasks", idx(first), "id"}, false))
		return
	}
	v.index[t.ID] = i
}

// taskBody checks what top-level and nested tasks share.
func (v *validator) taskBody(t *Task, p path, what string) {
	if t.Type == "" {
		if !v.present(p.with("type")) {
			v.errorf(p, false, "%s %s is missing required field \"type\"", what, quoteID(t.ID))
		}
	} else if c := typeChecker(); c != nil {
		for _, err := range c(t.Type, t.With) {
			var fe *FieldError
			if errors.As(err, &fe) && len(fe.Path) > 0 {
				v.errorf(p.with("with").with(fe.Path...), false, "%s", fe.Msg)
				continue
			}
			if errors.As(err, &fe) {
				v.errorf(p.with("with"), true, "%s", fe.Msg)
				continue
			}
			v.errorf(p.with("type"), false, "%v", err)
		}
	}
	if t.Timeout < 0 {
		v.errorf(p.with("timeout"), false, "timeout must not be negative")
	}
	if t.Queue != "" && !namePattern.MatchString(t.Queue) {
		v.errorf(p.with("queue"), false, "invalid queue %q: use lowercase letters, digits, '.', '_' and '-'", t.Queue)
	}
	if t.Resource != "" && !namePattern.MatchString(t.Resource) {
		v.errorf(p.with("resource"), false, "invalid resource %q: use lowercase letters, digits, '.', '_' and '-'", t.Resource)
	}
	if r := t.Retry; r != nil {
		v.retry(r, p.with("retry"))
	}
}

func quoteID(id string) string {
	if id == "" {
		return "(without id)"
	}
	return quote(id)
}

func (v *validator) retry(r *Retry, p path) {
	if r.Attempts < 1 {
		if v.present(p.with("attempts")) || v.places == nil {
			v.errorf(p.with("attempts"), false, "attempts must be at least 1 (the first attempt counts), got %d", r.Attempts)
		} else {
			v.errorf(p, true, "retry is missing required field \"attempts\"")
		}
	}
	if r.Backoff != "" && r.Backoff != "exponential" && r.Backoff != "fixed" {
		v.errorf(p.with("backoff"), false, "invalid backoff %q: use exponential or fixed", r.Backoff)
	}
	if r.Factor != 0 && r.Factor < 1 {
		v.errorf(p.with("factor"), false, "factor must be at least 1, got %v", r.Factor)
	}
	if r.Jitter != nil && (*r.Jitter < 0 || *r.Jitter > 1) {
		v.errorf(p.with("jitter"), false, "jitter must be between 0 and 1, got %v", *r.Jitter)
	}
	if r.Initial > 0 && r.Max > 0 && r.Max < r.Initial {
		v.errorf(p.with("max"), false, "max (%s) is shorter than initial (%s)", r.Max.D(), r.Initial.D())
	}
}

// nested checks an on_failure or compensate task. From the API (no
// positions) the fields a nested task may not set are checked here; in a
// file the decoder has refused them already.
func (v *validator) nested(t *Task, p path, role string) {
	v.taskBody(t, p, role)
	if v.places != nil {
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"needs", len(t.Needs) > 0}, {"when", t.When != ""}, {"on_failure", t.OnFailure != nil},
		{"compensate", t.Compensate != nil}, {"for_each", t.ForEach != nil}, {"max_parallel", t.MaxParallel != 0},
	} {
		if f.set {
			v.errorf(p.with(f.name), true, "%s may not set %q; it takes the place of its task", role, f.name)
		}
	}
}

func (v *validator) forEach(t *Task, p path) {
	if t.MaxParallel < 0 {
		v.errorf(p.with("max_parallel"), false, "max_parallel must not be negative")
	}
	if t.ForEach == nil {
		if t.MaxParallel != 0 {
			v.errorf(p.with("max_parallel"), true, "max_parallel is only for for_each tasks")
		}
		return
	}
	switch fe := t.ForEach.(type) {
	case string:
		if !expr.HasTemplate(fe) {
			v.errorf(p.with("for_each"), false, "for_each must be a ${{ }} expression giving a list, or a list; got the plain string %q", fe)
		}
	case []any:
	default:
		v.errorf(p.with("for_each"), false, "for_each must be a ${{ }} expression or a list, got %s", jsonKind(fe))
	}
}
