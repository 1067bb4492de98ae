package engine

import (
	"fmt"

	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Notification events: what a workflow's notify rules react to.
const (
	NotifyFailure   = "failure"
	NotifySuccess   = "success"
	NotifySLABreach = "sla_breach"
)

// Notify writes one outbox notification per channel, delivered after the
// commit by the scheduler duty's holder (deliver.go).
type Notify struct {
	Event    string
	Task     string
	Index    int
	Channels []string
	// Payload is the message: the run's fields and a sentence.
	Payload map[string]any
}

func (Notify) commandName() string { return "notify" }

// armRunSLA sets the run's SLA timer: deadline after now (the run's start,
// or its retry), unless the run already breached its SLA.
func (s *State) armRunSLA(d *Decision) {
	sla := s.Workflow.SLA
	if sla == nil || sla.Deadline <= 0 || !s.Run.SLABreachedAt.IsZero() {
		return
	}
	d.Commands = append(d.Commands, SetTimer{Index: -1, Kind: store.TimerRunSLA, At: s.Now.Add(sla.Deadline.D())})
}

// armTaskSLA sets a task's SLA timer as it becomes ready.
func (s *State) armTaskSLA(d *Decision, t *spec.Task) {
	if t.SLA == nil || t.SLA.Deadline <= 0 {
		return
	}
	d.Commands = append(d.Commands, SetTimer{Task: t.ID, Index: -1, Kind: store.TimerTaskSLA, At: s.Now.Add(t.SLA.Deadline.D())})
}

// disarmTaskSLAs deletes the SLA timers of the tasks this decision
// finished: they made it in time. It looks at the workflow's tasks, not
// at every task run, so a large for_each costs nothing more.
func (s *State) disarmTaskSLAs(d *Decision) {
	for i := range s.Workflow.Tasks {
		t := &s.Workflow.Tasks[i]
		k := Key{t.ID, -1}
		if t.SLA != nil && s.changed[k] && s.Tasks[k] != nil && s.Tasks[k].Status.Terminal() {
			d.Commands = append(d.Commands, DeleteTimer{Task: t.ID, Index: -1, Kind: store.TimerTaskSLA})
		}
	}
}

// finishAlerts runs as the run reaches a final status: the SLA timer goes,
// and the notify rule of the outcome (failure or success) is queued.
func (s *State) finishAlerts(d *Decision, status store.RunStatus) {
	if s.Workflow.SLA != nil {
		d.Commands = append(d.Commands, DeleteTimer{Index: -1, Kind: store.TimerRunSLA})
	}
	switch status {
	case store.RunFailed:
		s.notify(d, NotifyFailure, "", fmt.Sprintf("%s failed: %s", s.runName(), s.Run.Error), nil)
	case store.RunSucceeded:
		s.notify(d, NotifySuccess, "", s.runName()+" succeeded", nil)
	}
}

// onSLATimer records a breach: of the run (once per run) or of a task
// that has not finished (its timer fires once).
func (s *State) onSLATimer(d *Decision, ev TimerFired) {
	if s.Run.Status.Terminal() {
		return
	}
	if ev.Kind == store.TimerRunSLA {
		if !s.Run.SLABreachedAt.IsZero() || s.Workflow.SLA == nil {
			return
		}
		s.Run.SLABreachedAt = s.Now
		deadline := s.Workflow.SLA.Deadline.D()
		s.breach(d, "", fmt.Sprintf("%s missed its SLA: not finished %s after it started", s.runName(), deadline), deadline)
		return
	}
	t := s.Workflow.Task(ev.Task)
	tr := s.Tasks[Key{ev.Task, -1}]
	if t == nil || t.SLA == nil || tr == nil || tr.Status.Terminal() {
		return
	}
	deadline := t.SLA.Deadline.D()
	s.breach(d, t.ID, fmt.Sprintf("%s: task %s missed its SLA: not finished %s after it was ready", s.runName(), t.ID, deadline), deadline)
}

// breach journals an SLA breach and queues its notifications.
func (s *State) breach(d *Decision, task, msg string, deadline fmt.Stringer) {
	typ := "run.sla_breached"
	if task != "" {
		typ = "task.sla_breached"
	}
	d.Journal = append(d.Journal, &store.Event{
		RunID: s.Run.ID, Type: typ, Task: task, Index: -1, At: s.Now,
		Data: mustJSON(map[string]any{"deadline": deadline.String()}),
	})
	s.notify(d, NotifySLABreach, task, msg, map[string]any{"deadline": deadline.String()})
}

// notify queues the notifications of the workflow's rule for event, if it
// has one. The message is the rule's template, or msg.
func (s *State) notify(d *Decision, event, task, msg string, extra map[string]any) {
	rule := s.Workflow.Notify.Rules()[event]
	if rule == nil || len(rule.Channels) == 0 {
		return
	}
	if rule.Message != "" {
		v, err := expr.Render(rule.Message, s.vars(Key{Index: -1}, nil))
		if err != nil {
			msg += fmt.Sprintf(" (the notify message template failed: %v)", err)
		} else {
			msg = fmt.Sprint(v)
		}
	}
	p := map[string]any{
		"event": event, "message": msg, "run_id": s.Run.ID, "namespace": s.Run.Namespace,
		"workflow": s.Run.Workflow, "version": s.Run.Version, "status": string(s.Run.Status),
		"attempt": s.Run.Attempt, "at": s.Now.UTC().Format(timeLayout),
	}
	if !s.Run.StartedAt.IsZero() {
		p["started_at"] = s.Run.StartedAt.UTC().Format(timeLayout)
	}
	if !s.Run.FinishedAt.IsZero() {
		p["finished_at"] = s.Run.FinishedAt.UTC().Format(timeLayout)
	}
	if s.Run.Error != "" {
		p["error"] = s.Run.Error
	}
	if task != "" {
		p["task"] = task
	}
	for k, v := range extra {
		p[k] = v
	}
	d.Commands = append(d.Commands, Notify{Event: event, Task: task, Index: -1, Channels: rule.Channels, Payload: p})
}

func (s *State) runName() string {
	return fmt.Sprintf("run %s of %s/%s", s.Run.ID, s.Run.Namespace, s.Run.Workflow)
}
