package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/legatohq/legato/internal/expr"
)

// SLA is a service-level deadline: on a workflow, the run must finish
// within Deadline of its start; on a task, the task must finish within
// Deadline of becoming ready. Missing it is recorded and notified (a
// breach); it does not stop anything (that is what timeout does).
type SLA struct {
	Deadline Duration `json:"deadline"`
}

// Notify says which of the server's notification channels hear about a
// run's outcome and its SLA breaches.
type Notify struct {
	OnFailure   *NotifyRule `json:"on_failure,omitempty"`
	OnSLABreach *NotifyRule `json:"on_sla_breach,omitempty"`
	OnSuccess   *NotifyRule `json:"on_success,omitempty"`
}

// NotifyRule lists channels and an optional message template (`${{ }}`
// over inputs, run and tasks); without one the message is a standard
// sentence about the run.
type NotifyRule struct {
	Channels []string `json:"channels"`
	Message  string   `json:"message,omitempty"`

	// ChannelPos is where each channel is named in its file (for a
	// server's check of the names against its configuration).
	ChannelPos []Pos `json:"-"`
}

// Rules returns the notify rules by event name ("failure", "sla_breach",
// "success"); absent rules are left out.
func (n *Notify) Rules() map[string]*NotifyRule {
	out := map[string]*NotifyRule{}
	for _, r := range n.rules() {
		out[r.event] = r.rule
	}
	return out
}

type namedRule struct {
	key, event string
	rule       *NotifyRule
}

// rules lists the rules present, in file-reference order.
func (n *Notify) rules() []namedRule {
	if n == nil {
		return nil
	}
	var out []namedRule
	for _, r := range []namedRule{{"on_failure", "failure", n.OnFailure}, {"on_sla_breach", "sla_breach", n.OnSLABreach}, {"on_success", "success", n.OnSuccess}} {
		if r.rule != nil {
			out = append(out, r)
		}
	}
	return out
}

var (
	slaFields        = []string{"deadline"}
	notifyFields     = []string{"on_failure", "on_sla_breach", "on_success"}
	notifyRuleFields = []string{"channels", "message"}
	channelPattern   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
)

// sla reads `sla: {deadline: 10m}` or its shorthand `sla: 10m`.
func (d *decoder) sla(n ast.Node, p path) *SLA {
	if _, ok := d.resolve(n).(*ast.StringNode); ok {
		dl, _ := d.duration(n, "sla")
		return &SLA{Deadline: dl}
	}
	s := &SLA{}
	for _, f := range d.mapping(d.resolve(n), "sla", slaFields, p) {
		s.Deadline, _ = d.duration(f.Value, "sla deadline")
	}
	return s
}

func (d *decoder) notify(n ast.Node, p path) *Notify {
	out := &Notify{}
	for _, f := range d.mapping(d.resolve(n), "notify", notifyFields, p) {
		k := d.keyString(f.Key)
		r := d.notifyRule(f.Value, p.with(k), k)
		switch k {
		case "on_failure":
			out.OnFailure = r
		case "on_sla_breach":
			out.OnSLABreach = r
		case "on_success":
			out.OnSuccess = r
		}
	}
	return out
}

// notifyRule reads a channel name, a list of them, or {channels, message}.
func (d *decoder) notifyRule(n ast.Node, p path, what string) *NotifyRule {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode, *ast.SequenceNode:
		return &NotifyRule{Channels: d.names(v, p.with("channels"), what)}
	case *ast.MappingNode, *ast.MappingValueNode:
		r := &NotifyRule{}
		for _, f := range d.mapping(v, what, notifyRuleFields, p) {
			switch k := d.keyString(f.Key); k {
			case "channels":
				r.Channels = d.names(f.Value, p.with(k), what+" channels")
			case "message":
				r.Message, _ = d.str(f.Value, "message")
			}
		}
		return r
	}
	d.errorf(n, "%s must be a channel name, a list of them, or a map with channels and message, got %s", what, kindOf(d.resolve(n)))
	return nil
}

// names reads a channel name or a list of them.
func (d *decoder) names(n ast.Node, p path, what string) []string {
	return d.strings(n, p, what+" must be a channel name or a list of them", "a channel name")
}

// alerts checks the workflow's and its tasks' SLAs and its notify rules.
func (v *validator) alerts() {
	v.slaDeadline(v.w.SLA, path{"sla", "deadline"})
	for i := range v.w.Tasks {
		v.slaDeadline(v.w.Tasks[i].SLA, path{"tasks", idx(i), "sla", "deadline"})
	}
	all := make([]string, 0, len(v.index))
	for id := range v.index {
		all = append(all, id)
	}
	for _, e := range v.w.Notify.rules() {
		r, p := e.rule, path{"notify", e.key}
		if len(r.Channels) == 0 {
			v.errorf(p, false, "%s lists no channels: name at least one channel of the server's notification configuration", e.key)
		}
		r.ChannelPos = r.ChannelPos[:0]
		for i, c := range r.Channels {
			r.ChannelPos = append(r.ChannelPos, v.at(p.with("channels", idx(i)), false))
			if !channelPattern.MatchString(c) {
				v.errorf(p.with("channels", idx(i)), false, "invalid channel name %q: use letters, digits, '.', '_' and '-'", c)
			}
		}
		if r.Message != "" {
			v.exprErrors(p.with("message"), "", expr.CheckTemplate(r.Message, expr.Decls{Inputs: v.inputDecls(), Tasks: all}))
		}
	}
}

// UnknownChannels lists, at their positions, the channels the notify rules
// name that are not among known (a server checks a workflow against its
// notification configuration when it is applied).
func (w *Workflow) UnknownChannels(known []string) ErrorList {
	var errs ErrorList
	for _, e := range w.Notify.rules() {
		for i, c := range e.rule.Channels {
			if slices.Contains(known, c) {
				continue
			}
			var pos Pos
			if i < len(e.rule.ChannelPos) {
				pos = e.rule.ChannelPos[i]
			}
			defined := "defines no channels"
			if len(known) > 0 {
				defined = "defines " + strings.Join(known, ", ")
			}
			errs = append(errs, &Error{Pos: pos, Msg: fmt.Sprintf("notify.%s: unknown channel %q; the server's notification configuration %s", e.key, c, defined)})
		}
	}
	return errs
}

func (v *validator) slaDeadline(s *SLA, p path) {
	if s != nil && s.Deadline <= 0 {
		v.errorf(p, false, "sla deadline must be a positive duration such as \"10m\"")
	}
}
