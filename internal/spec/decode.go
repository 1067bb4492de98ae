package spec

import (
	"github.com/goccy/go-yaml/ast"
)

var (
	workflowFields  = []string{"name", "namespace", "description", "inputs", "triggers", "tasks", "outputs", "timeout", "concurrency", "sla", "notify"}
	inputFields     = []string{"type", "required", "default", "description"}
	triggerFields   = []string{"cron", "timezone", "event", "webhook", "filter", "inputs", "name", "catchup", "catchup_limit", "overlap", "auth", "secret", "token", "signature", "idempotency_key"}
	signatureFields = []string{"header", "algorithm", "prefix", "timestamp_header", "tolerance"}
	taskFields      = []string{"id", "type", "needs", "when", "with", "retry", "timeout", "on_failure", "continue_on_error", "compensate", "for_each", "max_parallel", "queue", "sla", "resource"}
	nestedFields    = []string{"type", "with", "retry", "timeout", "continue_on_error", "queue", "resource"}
	retryFields     = []string{"attempts", "backoff", "initial", "max", "factor", "jitter"}
)

func (d *decoder) workflow(n ast.Node) *Workflow {
	w := &Workflow{}
	for _, e := range d.mapping(d.resolve(n), "workflow", workflowFields, nil) {
		p := path{d.keyString(e.Key)}
		switch v := e.Value; p[0] {
		case "name":
			w.Name, _ = d.str(v, "name")
		case "namespace":
			w.Namespace, _ = d.str(v, "namespace")
		case "description":
			w.Description, _ = d.str(v, "description")
		case "inputs":
			w.Inputs = d.inputs(v)
		case "triggers":
			w.Triggers = d.triggers(v)
		case "tasks":
			w.Tasks = d.tasks(v)
		case "outputs":
			if m, ok := d.value(v, p).(map[string]any); ok {
				w.Outputs = m
			} else if d.resolve(v) != nil {
				d.errorf(v, "outputs must be a map of names to values, got %s", kindOf(d.resolve(v)))
			}
		case "timeout":
			w.Timeout, _ = d.duration(v, "timeout")
		case "concurrency":
			w.Concurrency = d.concurrency(v)
		case "sla":
			w.SLA = d.sla(v, p)
		case "notify":
			w.Notify = d.notify(v, p)
		}
	}
	return w
}

func (d *decoder) inputs(n ast.Node) []Input {
	var out []Input
	if _, ok := d.resolve(n).(*ast.NullNode); ok {
		return nil
	}
	for _, e := range d.mapping(d.resolve(n), "inputs", nil, path{"inputs"}) {
		in := Input{Name: d.keyString(e.Key)}
		p := path{"inputs", in.Name}
		v := d.resolve(e.Value)
		if s, ok := v.(*ast.StringNode); ok { // shorthand: `name: string`
			in.Type = s.Value
			d.record(p.with("type"), nil, s)
			out = append(out, in)
			continue
		}
		for _, f := range d.mapping(v, "input "+quote(in.Name), inputFields, p) {
			switch k := d.keyString(f.Key); k {
			case "type":
				in.Type, _ = d.str(f.Value, "type")
			case "required":
				in.Required, _ = d.boolean(f.Value, "required")
			case "default":
				in.Default = d.value(f.Value, p.with(k))
			case "description":
				in.Description, _ = d.str(f.Value, "description")
			}
		}
		out = append(out, in)
	}
	return out
}

func (d *decoder) triggers(n ast.Node) []Trigger {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "triggers must be a list, got %s", kindOf(d.resolve(n)))
		return nil
	}
	out := make([]Trigger, 0, len(seq.Values))
	for i, item := range seq.Values {
		p := path{"triggers", idx(i)}
		d.record(p, nil, item)
		var t Trigger
		for _, f := range d.mapping(d.resolve(item), "trigger", triggerFields, p) {
			switch k := d.keyString(f.Key); k {
			case "cron":
				t.Cron, _ = d.str(f.Value, "cron")
			case "timezone":
				t.Timezone, _ = d.str(f.Value, "timezone")
			case "name":
				t.Name, _ = d.str(f.Value, "name")
			case "catchup":
				t.Catchup, _ = d.str(f.Value, "catchup")
			case "catchup_limit":
				t.CatchupLimit, _ = d.integer(f.Value, "catchup_limit")
			case "overlap":
				t.Overlap, _ = d.str(f.Value, "overlap")
			case "event":
				t.Event, _ = d.str(f.Value, "event")
			case "webhook":
				t.Webhook, _ = d.str(f.Value, "webhook")
			case "filter":
				t.Filter, _ = d.condition(f.Value, "filter")
			case "inputs":
				if m, ok := d.value(f.Value, p.with(k)).(map[string]any); ok {
					t.Inputs = m
				} else {
					d.errorf(f.Value, "trigger inputs must be a map, got %s", kindOf(d.resolve(f.Value)))
				}
			case "auth":
				t.Auth, _ = d.str(f.Value, "auth")
			case "secret":
				t.Secret, _ = d.str(f.Value, "secret")
			case "token":
				t.Token, _ = d.str(f.Value, "token")
			case "idempotency_key":
				t.IdempotencyKey, _ = d.str(f.Value, "idempotency_key")
			case "signature":
				t.Signature = d.signature(f.Value, p.with(k))
			}
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) signature(n ast.Node, p path) *Signature {
	sig := &Signature{}
	for _, f := range d.mapping(d.resolve(n), "signature", signatureFields, p) {
		switch k := d.keyString(f.Key); k {
		case "header":
			sig.Header, _ = d.str(f.Value, "header")
		case "algorithm":
			sig.Algorithm, _ = d.str(f.Value, "algorithm")
		case "prefix":
			if s, ok := d.str(f.Value, "prefix"); ok {
				sig.Prefix = &s
			}
		case "timestamp_header":
			sig.TimestampHeader, _ = d.str(f.Value, "timestamp_header")
		case "tolerance":
			sig.Tolerance, _ = d.duration(f.Value, "tolerance")
		}
	}
	return sig
}

// condition reads a bare expression; true and false are taken as written.
func (d *decoder) condition(n ast.Node, what string) (string, bool) {
	if b, ok := d.resolve(n).(*ast.BoolNode); ok {
		if b.Value {
			return "true", true
		}
		return "false", true
	}
	return d.str(n, what)
}

func (d *decoder) concurrency(n ast.Node) *Concurrency {
	if _, ok := d.resolve(n).(*ast.IntegerNode); ok {
		limit, _ := d.integer(n, "concurrency")
		return &Concurrency{Limit: limit}
	}
	c := &Concurrency{}
	for _, f := range d.mapping(d.resolve(n), "concurrency", []string{"limit", "key"}, path{"concurrency"}) {
		switch d.keyString(f.Key) {
		case "limit":
			c.Limit, _ = d.integer(f.Value, "concurrency limit")
		case "key":
			c.Key, _ = d.str(f.Value, "concurrency key")
		}
	}
	return c
}

func (d *decoder) tasks(n ast.Node) []Task {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "tasks must be a list, got %s", kindOf(d.resolve(n)))
		return nil
	}
	out := make([]Task, 0, len(seq.Values))
	for i, item := range seq.Values {
		p := path{"tasks", idx(i)}
		d.record(p, nil, item)
		out = append(out, d.task(item, p, ""))
	}
	return out
}

// task decodes one task; parent is the id of the task a nested
// (on_failure, compensate) task belongs to, empty at the top level.
func (d *decoder) task(n ast.Node, p path, role string) Task {
	t := Task{Pos: d.pos(d.resolve(n))}
	what, valid := "task", taskFields
	if role != "" {
		what, valid = role, nil
	}
	for _, f := range d.mapping(d.resolve(n), what, valid, p) {
		k := d.keyString(f.Key)
		if role != "" && !contains(nestedFields, k) {
			if contains(taskFields, k) {
				d.errorf(f.Key, "%s may not set %q; it takes the place of its task", role, k)
			} else {
				d.errorf(f.Key, "unknown field %q in %s; %s", k, role, suggest(k, nestedFields))
			}
			continue
		}
		d.taskField(&t, k, f.Value, p)
	}
	return t
}

func (d *decoder) taskField(t *Task, k string, v ast.Node, p path) {
	switch k {
	case "id":
		t.ID, _ = d.str(v, "id")
	case "type":
		t.Type, _ = d.str(v, "type")
	case "needs":
		t.Needs = d.needs(v, p.with(k))
	case "when":
		t.When, _ = d.condition(v, "when")
	case "with":
		switch d.resolve(v).(type) {
		case *ast.NullNode, nil:
			return
		}
		if m, ok := d.value(v, p.with(k)).(map[string]any); ok {
			t.With = m
		} else {
			d.errorf(v, "with must be a map, got %s", kindOf(d.resolve(v)))
		}
	case "retry":
		t.Retry = d.retry(v, p.with(k))
	case "timeout":
		t.Timeout, _ = d.duration(v, "timeout")
	case "on_failure":
		sub := d.task(v, p.with(k), "on_failure")
		t.OnFailure = &sub
	case "compensate":
		sub := d.task(v, p.with(k), "compensate")
		t.Compensate = &sub
	case "continue_on_error":
		t.ContinueOnError, _ = d.boolean(v, "continue_on_error")
	case "for_each":
		switch x := d.value(v, p.with(k)).(type) {
		case string, []any:
			t.ForEach = x
		default:
			d.errorf(v, "for_each must be a ${{ }} expression or a list, got %s", kindOf(d.resolve(v)))
		}
	case "max_parallel":
		t.MaxParallel, _ = d.integer(v, "max_parallel")
	case "queue":
		t.Queue, _ = d.str(v, "queue")
	case "sla":
		t.SLA = d.sla(v, p.with(k))
	case "resource":
		t.Resource, _ = d.str(v, "resource")
	}
}

func (d *decoder) needs(n ast.Node, p path) []string {
	return d.strings(n, p, "needs must be a task id or a list of task ids", "a need")
}

// strings reads a string or a list of strings; msg starts the error for
// anything else, item names one element in errors.
func (d *decoder) strings(n ast.Node, p path, msg, item string) []string {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		return []string{v.Value}
	case *ast.SequenceNode:
		out := make([]string, 0, len(v.Values))
		for i, e := range v.Values {
			d.record(p.with(idx(i)), nil, e)
			if s, ok := d.str(e, item); ok {
				out = append(out, s)
			}
		}
		return out
	}
	d.errorf(n, "%s, got %s", msg, kindOf(d.resolve(n)))
	return nil
}

func (d *decoder) retry(n ast.Node, p path) *Retry {
	r := &Retry{}
	fields := d.mapping(d.resolve(n), "retry", retryFields, p)
	if fields == nil {
		if _, isMap := d.resolve(n).(*ast.MappingNode); !isMap {
			return nil
		}
	}
	for _, f := range fields {
		switch k := d.keyString(f.Key); k {
		case "attempts":
			r.Attempts, _ = d.integer(f.Value, "attempts")
		case "backoff":
			r.Backoff, _ = d.str(f.Value, "backoff")
		case "initial":
			r.Initial, _ = d.duration(f.Value, "initial")
		case "max":
			r.Max, _ = d.duration(f.Value, "max")
		case "factor":
			r.Factor, _ = d.number(f.Value, "factor")
		case "jitter":
			if j, ok := d.number(f.Value, "jitter"); ok {
				r.Jitter = &j
			}
		}
	}
	return r
}
