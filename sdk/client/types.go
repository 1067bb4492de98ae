package client

import (
	"encoding/json"
	"strconv"
	"time"
)

// DefaultNamespace is the namespace used when a request names none.
const DefaultNamespace = "default"

// Run statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusWaiting   = "waiting"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
)

// Task run statuses that runs do not have.
const (
	TaskPending        = "pending"
	TaskSkipped        = "skipped"
	TaskUpstreamFailed = "upstream_failed"
)

// WorkflowVersion is one immutable revision of a workflow. Spec and Source
// are only filled by Client.Workflow.
type WorkflowVersion struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Hash        string    `json:"hash"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	// Spec is the parsed workflow model as JSON.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Source is the workflow file's text as it was applied.
	Source string `json:"source,omitempty"`
}

// Run is one execution of one workflow version. Tasks is only filled by
// the calls that return a single run (Run, StartRun, CancelRun, RetryRun).
type Run struct {
	ID          string    `json:"id"`
	Namespace   string    `json:"namespace"`
	Workflow    string    `json:"workflow"`
	Version     int       `json:"version"`
	Status      string    `json:"status"`
	Inputs      any       `json:"inputs"`
	Outputs     any       `json:"outputs"`
	Error       string    `json:"error"`
	Attempt     int       `json:"attempt"`
	ParentRunID string    `json:"parent_run_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	CreatedBy   string    `json:"created_by"`
	// Trigger is set, in single-run answers, for a run a webhook or an
	// event started.
	Trigger *RunTrigger `json:"trigger,omitempty"`
	// SLABreachedAt is when the run missed its SLA deadline (zero: it has
	// not).
	SLABreachedAt time.Time `json:"sla_breached_at,omitzero"`
	// Notifications are the run's notifications and their delivery (single
	// run calls only).
	Notifications []Notification `json:"notifications,omitempty"`
	// Priority orders queued runs and attempts: higher first.
	Priority int `json:"priority,omitempty"`
	// ConcurrencyKey is the run's value of its workflow's concurrency key.
	ConcurrencyKey string    `json:"concurrency_key,omitempty"`
	Tasks          []TaskRun `json:"tasks,omitempty"`
}

// RunTrigger is what started a run besides the API.
type RunTrigger struct {
	// Kind is "webhook" or "event"; Name the webhook trigger's name or the
	// event type.
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	EventSource string    `json:"event_source,omitempty"`
	EventID     string    `json:"event_id,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	// StartLatencyMS is the time from ReceivedAt to the start of the
	// run's first task; nil until one started.
	StartLatencyMS *float64 `json:"start_latency_ms,omitempty"`
}

// Notification is one message of a run to one of the server's
// notification channels (docs/alerts.md).
type Notification struct {
	ID int64 `json:"id"`
	// Event is "failure", "success" or "sla_breach".
	Event string `json:"event"`
	// Task names the task of a task's SLA breach.
	Task    string `json:"task,omitempty"`
	Channel string `json:"channel"`
	// Status is "pending", "delivered" or "failed" (given up).
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	NextAt     time.Time `json:"next_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Message    string    `json:"message"`
}

// Final reports whether the run has reached a final status (succeeded,
// failed or canceled). A nil run is not final.
func (r *Run) Final() bool {
	if r == nil {
		return false
	}
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// TaskRun is one execution of a task inside a run.
type TaskRun struct {
	// ID is the task id; fallbacks are "x.on_failure", compensations
	// "x.compensate".
	ID string `json:"id"`
	// Index is set for the items of a for_each task only.
	Index *int `json:"index,omitempty"`
	// Kind is "task", "item", "fallback" or "compensation".
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	Output     any       `json:"output"`
	Error      string    `json:"error"`
	Items      any       `json:"items,omitempty"`
	ChildRunID string    `json:"child_run_id,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Name is the task run's display name: the task id, followed by "[i]" for
// a for_each item.
func (t TaskRun) Name() string {
	if t.Index == nil {
		return t.ID
	}
	return t.ID + "[" + strconv.Itoa(*t.Index) + "]"
}

// LogLine is one line a task run wrote.
type LogLine struct {
	Seq     int64  `json:"seq"`
	Task    string `json:"task"`
	Index   *int   `json:"index,omitempty"`
	Attempt int    `json:"attempt"`
	// Stream is "stdout", "stderr" or "system".
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
	At     time.Time `json:"at"`
}

// Event is one entry of a run's journal.
type Event struct {
	Seq   int64     `json:"seq"`
	Type  string    `json:"type"`
	Task  string    `json:"task,omitempty"`
	Index *int      `json:"index,omitempty"`
	Data  any       `json:"data"`
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
}

// StartRunRequest names the workflow to start and its inputs. Version 0
// means the latest version; an empty Namespace means DefaultNamespace.
type StartRunRequest struct {
	Namespace string         `json:"namespace"`
	Workflow  string         `json:"workflow"`
	Version   int            `json:"version"`
	Inputs    map[string]any `json:"inputs,omitempty"`
	// Priority orders the run among queued runs and its attempts among
	// queued attempts: higher first (default 0).
	Priority int `json:"priority,omitempty"`
}

// RunsQuery filters Client.Runs. Zero fields are not sent: the server's
// defaults apply (every namespace the token can read, limit 50, newest
// first). Before pages backwards: pass the CreatedAt of the last run seen.
type RunsQuery struct {
	Namespace string
	Workflow  string
	Status    string
	Limit     int
	Before    time.Time
}

// LogsQuery filters Client.Logs. After is the seq of the last line already
// read (0 for the start); Index selects one for_each item.
type LogsQuery struct {
	Task  string
	Index *int
	After int64
	Limit int
}
