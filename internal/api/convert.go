package api

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// WorkflowVersion is one version of a workflow as the API shows it.
type WorkflowVersion struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     int       `json:"version" minimum:"1"`
	Hash        string    `json:"hash" doc:"SHA-256 of the canonical spec JSON"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	// Spec and Source are only in GET /workflows/{namespace}/{name}.
	Spec   json.RawMessage `json:"spec,omitempty" doc:"The validated workflow model as JSON"`
	Source string          `json:"source,omitempty" doc:"The file as it was applied"`
}

// Run is one execution of a workflow version.
type Run struct {
	ID          string         `json:"id"`
	Namespace   string         `json:"namespace"`
	Workflow    string         `json:"workflow"`
	Version     int            `json:"version"`
	Status      string         `json:"status" enum:"queued,running,waiting,succeeded,failed,canceled"`
	Inputs      map[string]any `json:"inputs"`
	Outputs     map[string]any `json:"outputs"`
	Error       string         `json:"error"`
	Attempt     int            `json:"attempt" doc:"1, plus one per retry of the run"`
	ParentRunID string         `json:"parent_run_id,omitempty" doc:"The run that started this one (type: workflow)"`
	CreatedAt   time.Time      `json:"created_at"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	FinishedAt  time.Time      `json:"finished_at,omitzero"`
	CreatedBy   string         `json:"created_by"`
	// Trigger is in a single run's answers, for runs a webhook or an event started.
	Trigger *RunTrigger `json:"trigger,omitempty" doc:"What started the run, when a webhook or an event did"`
	// SLABreachedAt is when the run missed its SLA deadline.
	SLABreachedAt time.Time `json:"sla_breached_at,omitzero" doc:"When the run missed its SLA deadline (absent: it has not)"`
	// Notifications are present in a single run's answers.
	Notifications []Notification `json:"notifications,omitzero" doc:"The run's notifications (failure, success, SLA breaches) and their delivery"`
	Priority      int            `json:"priority" doc:"Higher-priority queued runs and attempts go first"`
	// ConcurrencyKey is the run's value of the workflow's concurrency key.
	ConcurrencyKey string `json:"concurrency_key,omitempty" doc:"The run's value of the workflow's concurrency key: the limit applies per value"`
	// Tasks are present in a single run's answers, absent from lists.
	Tasks []TaskRun `json:"tasks,omitzero" doc:"Ordered as the workflow file orders its tasks; items by index after their aggregate; fallbacks and compensations after their task"`
}

// RunTrigger is what started a run besides the API.
type RunTrigger struct {
	Kind        string    `json:"kind" enum:"webhook,event"`
	Name        string    `json:"name" doc:"The event type or the webhook trigger's name"`
	EventSource string    `json:"event_source,omitempty"`
	EventID     string    `json:"event_id,omitempty"`
	ReceivedAt  time.Time `json:"received_at" doc:"When the request or the event arrived"`
	// StartLatencyMS is absent until a task of the run started.
	StartLatencyMS *float64 `json:"start_latency_ms,omitempty" doc:"Milliseconds from received_at to the start of the run's first task"`
}

func toRunTrigger(rt *store.RunTrigger, trs []*store.TaskRun) *RunTrigger {
	out := &RunTrigger{Kind: rt.Kind, Name: rt.Name, EventSource: rt.EventSource, EventID: rt.EventID, ReceivedAt: rt.ReceivedAt}
	if first := engine.FirstTaskStart(trs); !first.IsZero() {
		ms := float64(first.Sub(rt.ReceivedAt).Microseconds()) / 1000
		out.StartLatencyMS = &ms
	}
	return out
}

// TaskRun is one execution of a task inside a run.
type TaskRun struct {
	ID         string    `json:"id" doc:"The task id; fallbacks are <id>.on_failure, compensations <id>.compensate"`
	Index      *int      `json:"index,omitempty" doc:"The item's index, only for the items of a for_each task"`
	Kind       string    `json:"kind" enum:"task,item,fallback,compensation"`
	Status     string    `json:"status" enum:"pending,queued,running,waiting,succeeded,failed,skipped,upstream_failed,canceled"`
	Attempts   int       `json:"attempts"`
	Output     any       `json:"output"`
	Error      string    `json:"error"`
	Items      int       `json:"items,omitempty" doc:"The number of items (for_each aggregate only)"`
	ChildRunID string    `json:"child_run_id,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// LogLine is one line of a task's log.
type LogLine struct {
	Seq     int64     `json:"seq"`
	Task    string    `json:"task"`
	Index   *int      `json:"index,omitempty"`
	Attempt int       `json:"attempt"`
	Stream  string    `json:"stream" enum:"stdout,stderr,system"`
	Line    string    `json:"line"`
	At      time.Time `json:"at"`
}

// Event is one entry of a run's journal.
type Event struct {
	Seq   int64           `json:"seq"`
	Type  string          `json:"type"`
	Task  string          `json:"task,omitempty"`
	Index *int            `json:"index,omitempty"`
	Data  json.RawMessage `json:"data"`
	Actor string          `json:"actor"`
	At    time.Time       `json:"at"`
}

// utc returns t in UTC, keeping the zero time zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func itemIndex(i int) *int {
	if i < 0 {
		return nil
	}
	return &i
}

func emptyIfNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func toVersion(v *store.WorkflowVersion, full bool) WorkflowVersion {
	out := WorkflowVersion{
		Namespace: v.Namespace, Name: v.Name, Version: v.Version, Hash: v.Hash,
		Description: v.Description, CreatedAt: utc(v.CreatedAt), CreatedBy: v.CreatedBy,
	}
	if full {
		out.Spec, out.Source = v.Spec, v.Source
	}
	return out
}

func toVersions(vs []*store.WorkflowVersion) []WorkflowVersion {
	out := make([]WorkflowVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVersion(v, false))
	}
	return out
}

func toRun(r *store.Run) Run {
	return Run{
		ID: r.ID, Namespace: r.Namespace, Workflow: r.Workflow, Version: r.Version, Status: string(r.Status),
		Inputs: emptyIfNil(r.Inputs), Outputs: emptyIfNil(r.Outputs), Error: r.Error, Attempt: r.Attempt,
		ParentRunID: r.ParentRunID, CreatedAt: utc(r.CreatedAt), StartedAt: utc(r.StartedAt),
		FinishedAt: utc(r.FinishedAt), CreatedBy: r.CreatedBy, SLABreachedAt: utc(r.SLABreachedAt),
		Priority: r.Priority, ConcurrencyKey: r.ConcurrencyKey,
	}
}

// Suffixes of the task runs that belong to another task.
const (
	fallbackSuffix     = ".on_failure"
	compensationSuffix = ".compensate"
)

// taskKind returns the task a task run belongs to, its kind, and its rank
// among the task runs of that task (task and items, then fallback, then
// compensation).
func taskKind(tr *store.TaskRun) (base, kind string, rank int) {
	switch {
	case strings.HasSuffix(tr.Task, fallbackSuffix):
		return strings.TrimSuffix(tr.Task, fallbackSuffix), "fallback", 1
	case strings.HasSuffix(tr.Task, compensationSuffix):
		return strings.TrimSuffix(tr.Task, compensationSuffix), "compensation", 2
	case tr.Index >= 0:
		return tr.Task, "item", 0
	}
	return tr.Task, "task", 0
}

// toTaskRuns converts and orders a run's task runs: by the file order of
// their task (order lists the task ids as the file does; unknown ids go
// last, by name), then the task itself, its items by index, its fallback,
// its compensation.
func toTaskRuns(trs []*store.TaskRun, order []string) []TaskRun {
	pos := make(map[string]int, len(order))
	for i, id := range order {
		if _, dup := pos[id]; !dup {
			pos[id] = i
		}
	}
	type keyed struct {
		pos       int
		base      string
		rank, idx int
		tr        TaskRun
	}
	rows := make([]keyed, 0, len(trs))
	for _, tr := range trs {
		base, kind, rank := taskKind(tr)
		p, ok := pos[base]
		if !ok {
			p = len(order)
		}
		rows = append(rows, keyed{pos: p, base: base, rank: rank, idx: tr.Index, tr: TaskRun{
			ID: tr.Task, Index: itemIndex(tr.Index), Kind: kind, Status: string(tr.Status), Attempts: tr.Attempts,
			Output: tr.Output, Error: tr.Error, Items: tr.Items, ChildRunID: tr.ChildRunID,
			StartedAt: utc(tr.StartedAt), FinishedAt: utc(tr.FinishedAt),
		}})
	}
	slices.SortStableFunc(rows, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), strings.Compare(a.base, b.base), cmp.Compare(a.rank, b.rank), cmp.Compare(a.idx, b.idx))
	})
	out := make([]TaskRun, len(rows))
	for i, r := range rows {
		out[i] = r.tr
	}
	return out
}

func toLogLines(ls []*store.LogLine) []LogLine {
	out := make([]LogLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, LogLine{Seq: l.Seq, Task: l.Task, Index: itemIndex(l.Index), Attempt: l.Attempt, Stream: l.Stream, Line: l.Line, At: utc(l.At)})
	}
	return out
}

func toEvents(evs []*store.Event) []Event {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		out = append(out, Event{Seq: e.Seq, Type: e.Type, Task: e.Task, Index: itemIndex(e.Index), Data: data, Actor: e.Actor, At: utc(e.At)})
	}
	return out
}
