// Package spec owns workflow files: their model, parsing from YAML or JSON,
// and validation with file:line:col positions.
//
// The model is what the engine executes. Every string that may hold an
// expression is kept as written; the expr package compiles it.
package spec

import (
	"encoding/json"
	"fmt"
	"time"
)

// DefaultNamespace is the namespace of a workflow whose file names none.
const DefaultNamespace = "default"

// Workflow is one parsed and validated workflow file.
type Workflow struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	Description string `json:"description,omitempty"`
	// Inputs are the declared inputs, in file order.
	Inputs []Input `json:"inputs,omitempty"`
	// Tasks are the nodes of the DAG, in file order.
	Tasks []Task `json:"tasks"`
	// Outputs maps an output name to a template evaluated when the run
	// succeeds (`${{ tasks.x.output.y }}`).
	Outputs map[string]any `json:"outputs,omitempty"`
	// Timeout bounds the whole run; zero means none.
	Timeout Duration `json:"timeout,omitempty"`
	// Concurrency bounds the runs of this workflow that may be running at
	// once; extra runs wait in status queued.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
	// Triggers are parsed and validated; the engine starts runs from them
	// only from the triggers issue on.
	Triggers []Trigger `json:"triggers,omitempty"`
	// SLA is the run's deadline from its start (alerts.go).
	SLA *SLA `json:"sla,omitempty"`
	// Notify routes the run's outcome and SLA breaches to channels.
	Notify *Notify `json:"notify,omitempty"`
}

// Concurrency is a workflow's limit on simultaneously running runs.
type Concurrency struct {
	Limit int `json:"limit"`
	// Key, when set, is a template over the inputs evaluated when a run is
	// created (`${{ inputs.customer }}`): the limit then applies to the
	// runs of each key value apart.
	Key string `json:"key,omitempty"`
}

// Trigger is one way runs of a workflow start besides the API.
type Trigger struct {
	// Cron is a crontab expression (five fields, an optional leading
	// seconds field, or a macro such as @hourly); see docs/triggers.md.
	Cron string `json:"cron,omitempty"`
	// Timezone is the IANA zone the cron expression reads in (UTC when
	// empty).
	Timezone string `json:"timezone,omitempty"`
	// Name names a cron trigger's schedule (API, CLI, schedule.name);
	// empty means cron-N, N its 1-based position among the cron triggers.
	Name string `json:"name,omitempty"`
	// Catchup is what a cron trigger does with the ticks it missed (more
	// than a minute late: no server ran): CatchupNone, CatchupLatest
	// (default) or CatchupAll.
	Catchup string `json:"catchup,omitempty"`
	// CatchupLimit bounds the missed ticks catchup: all starts (default
	// DefaultCatchupLimit, at most MaxCatchupLimit); the oldest are dropped.
	CatchupLimit int `json:"catchup_limit,omitempty"`
	// Overlap is what a tick does while the schedule's previous run is
	// still active: OverlapAllow (default), OverlapSkip, OverlapQueue or
	// OverlapCancelPrevious.
	Overlap string         `json:"overlap,omitempty"`
	Event   string         `json:"event,omitempty"`
	Filter  string         `json:"filter,omitempty"`
	Webhook string         `json:"webhook,omitempty"`
	Inputs  map[string]any `json:"inputs,omitempty"`

	// Webhook authentication: an HMAC signature of the body with Secret
	// (Auth "hmac", the default), or Auth "bearer" with Token. Secret and
	// Token are usually ${{ env.NAME }}, resolved by the server from its
	// allow-listed environment when a request arrives.
	Auth      string     `json:"auth,omitempty"`
	Secret    string     `json:"secret,omitempty"`
	Token     string     `json:"token,omitempty"`
	Signature *Signature `json:"signature,omitempty"`
	// IdempotencyKey is a template over request: deliveries with the same
	// key start one run (the Idempotency-Key header does the same).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Signature says where and how a webhook request carries its HMAC
// signature. The defaults are GitHub's: X-Hub-Signature-256:
// sha256=<hex of HMAC-SHA256(secret, body)>.
type Signature struct {
	// Header holds the signature (default X-Hub-Signature-256).
	Header string `json:"header,omitempty"`
	// Algorithm is sha256 (default), sha1 or sha512.
	Algorithm string `json:"algorithm,omitempty"`
	// Prefix precedes the hex digest (default "<algorithm>=").
	Prefix *string `json:"prefix,omitempty"`
	// TimestampHeader, when set, holds the request's unix time in
	// seconds; the signed payload is then "<timestamp>.<body>" and a
	// request older or newer than Tolerance is refused (a replay).
	TimestampHeader string `json:"timestamp_header,omitempty"`
	// Tolerance defaults to 5m.
	Tolerance Duration `json:"tolerance,omitempty"`
}

// Cron trigger policies.
const (
	CatchupNone   = "none"
	CatchupLatest = "latest"
	CatchupAll    = "all"

	OverlapAllow          = "allow"
	OverlapSkip           = "skip"
	OverlapQueue          = "queue"
	OverlapCancelPrevious = "cancel_previous"

	DefaultCatchupLimit = 10
	MaxCatchupLimit     = 1000
)

// CronName is the schedule name of the cron trigger at index i of
// w.Triggers ("" when it is not a cron trigger).
func (w *Workflow) CronName(i int) string {
	t := w.Triggers[i]
	if t.Cron == "" {
		return ""
	}
	if t.Name != "" {
		return t.Name
	}
	n := 0
	for _, u := range w.Triggers[:i+1] {
		if u.Cron != "" {
			n++
		}
	}
	return fmt.Sprintf("cron-%d", n)
}

// Input is one declared input of a workflow.
type Input struct {
	Name string `json:"name"`
	// Type is one of string, number, integer, boolean, object, array, any.
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// Task is one node of a workflow.
type Task struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Needs lists the ids of the tasks that must finish first.
	Needs []string `json:"needs,omitempty"`
	// When is a bare CEL expression; the task is skipped when it is false.
	When string `json:"when,omitempty"`
	// With is the task type's parameters; strings may hold ${{ }} templates
	// at any depth.
	With map[string]any `json:"with,omitempty"`
	// Retry is the policy for new attempts after a failed one; nil means a
	// single attempt.
	Retry *Retry `json:"retry,omitempty"`
	// Timeout bounds one attempt; zero means none.
	Timeout Duration `json:"timeout,omitempty"`
	// OnFailure runs when the task has failed for good; its success counts
	// as the task's success (its output becomes the task's output).
	OnFailure *Task `json:"on_failure,omitempty"`
	// ContinueOnError makes a failure of this task count as finished for its
	// dependents and for the run's status.
	ContinueOnError bool `json:"continue_on_error,omitempty"`
	// Compensate is run when the run fails after this task succeeded; the
	// compensations run in reverse order of completion.
	Compensate *Task `json:"compensate,omitempty"`
	// ForEach is an expression (usually `${{ … }}`) that evaluates to a list;
	// the task then has one task run per item.
	ForEach any `json:"for_each,omitempty"`
	// MaxParallel bounds the items of a for_each running at once; zero means
	// no bound.
	MaxParallel int `json:"max_parallel,omitempty"`
	// Queue is the worker queue the task's attempts go to; empty means
	// "default".
	Queue string `json:"queue,omitempty"`
	// SLA is the task's deadline from when it is ready.
	SLA *SLA `json:"sla,omitempty"`
	// Resource names the external system the task calls: its attempts
	// count against the server's limits for that resource (in flight and
	// rate).
	Resource string `json:"resource,omitempty"`

	// Pos is where the task starts in its file.
	Pos Pos `json:"-"`
}

// Retry is a task's retry policy.
type Retry struct {
	// Attempts is the total number of attempts, the first included.
	Attempts int `json:"attempts"`
	// Backoff is "exponential" (default) or "fixed".
	Backoff string `json:"backoff,omitempty"`
	// Initial is the delay before the second attempt (default 1s).
	Initial Duration `json:"initial,omitempty"`
	// Max caps the delay (default 5m).
	Max Duration `json:"max,omitempty"`
	// Factor multiplies the delay after each attempt (default 2).
	Factor float64 `json:"factor,omitempty"`
	// Jitter is the fraction of the delay drawn at random, 0 to 1
	// (default 0.2); set it to 0 explicitly with `jitter: 0`.
	Jitter *float64 `json:"jitter,omitempty"`
}

// Pos is a position in a workflow file; lines and columns start at 1.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Duration is a time.Duration written as "30s", "5m", "1h30m" or "2d" in
// files and as the same string in JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "1m30s" or "2d".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Task lookup by id.
func (w *Workflow) Task(id string) *Task {
	for i := range w.Tasks {
		if w.Tasks[i].ID == id {
			return &w.Tasks[i]
		}
	}
	return nil
}
