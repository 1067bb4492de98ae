package store

import (
	"encoding/json"
	"time"
)

// RunStatus is the status of a run.
type RunStatus string

// Run statuses. queued: waiting for a concurrency slot; running: some task is
// queued or running; waiting: only durable waits (sleep, child run) remain.
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunWaiting   RunStatus = "waiting"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCanceled  RunStatus = "canceled"
)

// Terminal reports whether s is a final status.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCanceled
}

// TaskStatus is the status of a task run.
type TaskStatus string

// Task run statuses.
const (
	TaskPending        TaskStatus = "pending"         // created, not yet started (for_each items over max_parallel)
	TaskQueued         TaskStatus = "queued"          // an attempt waits for a worker
	TaskRunning        TaskStatus = "running"         // an attempt is leased by a worker, or the fallback runs
	TaskWaiting        TaskStatus = "waiting"         // a durable wait: sleep timer or child run
	TaskSucceeded      TaskStatus = "succeeded"       // done
	TaskFailed         TaskStatus = "failed"          // failed for good
	TaskSkipped        TaskStatus = "skipped"         // its when was false
	TaskUpstreamFailed TaskStatus = "upstream_failed" // not run because a need failed
	TaskCanceled       TaskStatus = "canceled"        // the run was canceled or timed out first
)

// Terminal reports whether s is a final status.
func (s TaskStatus) Terminal() bool {
	switch s {
	case TaskSucceeded, TaskFailed, TaskSkipped, TaskUpstreamFailed, TaskCanceled:
		return true
	}
	return false
}

// WorkflowVersion is one immutable revision of a workflow.
type WorkflowVersion struct {
	Namespace string
	Name      string
	Version   int
	// Hash is the SHA-256 of the canonical spec JSON; applying content with
	// the same hash makes no new version.
	Hash string
	// Spec is the validated workflow as JSON (spec.Workflow).
	Spec json.RawMessage
	// Source is the file as written, for display.
	Source      string
	Description string
	CreatedAt   time.Time
	CreatedBy   string
}

// RunRevision is a run's Revision and workflow Version (RunRevisions).
type RunRevision struct {
	ID       string
	Revision int64
	Version  int
}

// Run is one execution of one workflow version.
type Run struct {
	ID        string
	Namespace string
	Workflow  string
	Version   int
	Status    RunStatus
	Inputs    map[string]any
	Outputs   map[string]any
	Error     string
	// Attempt counts run retries, starting at 1.
	Attempt int
	// Compensating is true once the run failed and its compensations run.
	Compensating bool
	// ParentRunID, ParentTask and ParentIndex name the task run of a parent
	// run that started this one (type: workflow).
	ParentRunID string
	ParentTask  string
	ParentIndex int
	// Seq orders task completions within the run (for compensation order).
	Seq        int64
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// Deadline is when the run times out; zero means none.
	Deadline  time.Time
	CreatedBy string
	UpdatedAt time.Time
	// SLABreachedAt is when the run missed its SLA deadline; zero means
	// it has not (a run breaches at most once).
	SLABreachedAt time.Time
	// ConcurrencyKey is the value of the workflow's concurrency key for
	// this run ("" without one): the limit applies per key.
	ConcurrencyKey string
	// Priority orders queued runs (higher first) and the run's attempts
	// in claims.
	Priority int
	// Revision counts the updates of the run (RunUpdate increments it):
	// every transition updates its run, so an unchanged revision means no
	// transition wrote the run or its task runs since it was read. Claims
	// (which mark task runs running) do not change it.
	Revision int64
}

// TaskRun is one execution of a task inside a run: Index is -1 except for
// the items of a for_each task. Fallbacks and compensations are task runs of
// their own, with Task "<id>.on_failure" and "<id>.compensate".
type TaskRun struct {
	RunID    string
	Task     string
	Index    int
	Status   TaskStatus
	Attempts int
	Output   any
	Error    string
	// Items is the number of items of a for_each task (its aggregate row).
	Items int
	// Seq is the run's completion counter when this task run succeeded.
	Seq        int64
	ChildRunID string
	WakeAt     time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// AttemptStatus is the status of an attempt.
type AttemptStatus string

// Attempt statuses.
const (
	AttemptQueued    AttemptStatus = "queued"
	AttemptRunning   AttemptStatus = "running"
	AttemptSucceeded AttemptStatus = "succeeded"
	AttemptFailed    AttemptStatus = "failed"
	AttemptCanceled  AttemptStatus = "canceled"
)

// Attempt is one try of a task run; queued attempts are the work queue.
type Attempt struct {
	ID        int64
	RunID     string
	Task      string
	Index     int
	Number    int
	Namespace string
	Workflow  string
	Queue     string
	Type      string
	Params    map[string]any
	Timeout   time.Duration
	Status    AttemptStatus
	// NotBefore delays a retry; a claim takes only attempts already due.
	NotBefore time.Time
	// LeaseToken fences completions: only the holder of the current token
	// may complete the attempt.
	LeaseToken     string
	LeaseExpiresAt time.Time
	WorkerID       string
	// CancelRequested tells the worker holding the lease to stop.
	CancelRequested bool
	CreatedAt       time.Time
	StartedAt       time.Time
	FinishedAt      time.Time
	Error           string
	// Priority is the run's: higher-priority attempts are claimed first.
	Priority int
	// Resource names the rate-limited resource the task uses ("" none).
	Resource string
}

// IdempotencyKey is the stable key of the attempt's task run.
func (a *Attempt) IdempotencyKey() string { return IdempotencyKey(a.RunID, a.Task, a.Index) }

// TimerKind says what a timer wakes.
type TimerKind string

// Timer kinds.
const (
	TimerSleep       TimerKind = "sleep"        // a sleep task is due
	TimerRunTimeout  TimerKind = "run_timeout"  // the run's deadline
	TimerTaskTimeout TimerKind = "task_timeout" // a durable task's (child run) deadline
	TimerEventWait   TimerKind = "event_wait"   // a wait_event task's timeout
	TimerRunSLA      TimerKind = "run_sla"      // the run's SLA deadline
	TimerTaskSLA     TimerKind = "task_sla"     // a task's SLA deadline
)

// Timer is a durable wake-up of a run at a time.
type Timer struct {
	RunID  string
	Task   string
	Index  int
	Kind   TimerKind
	FireAt time.Time
}

// LogLine is one line of a task's log.
type LogLine struct {
	Seq     int64
	RunID   string
	Task    string
	Index   int
	Attempt int
	Stream  string
	Line    string
	At      time.Time
}

// Event is one entry of a run's journal: every transition appends one.
type Event struct {
	Seq   int64
	RunID string
	Type  string
	Task  string
	Index int
	Data  json.RawMessage
	Actor string
	At    time.Time
}

// Node is a server process of a cluster, as it reports itself.
type Node struct {
	ID          string
	Address     string
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Duty is a singleton duty (firing timers, expiring leases) held by one
// node at a time.
type Duty struct {
	Name   string
	Holder string
	// Fence grows each time the holder changes: work done under an older
	// fence is refused (DutyCheck).
	Fence     int64
	ExpiresAt time.Time
}

// LimitKind says what a limit applies to.
type LimitKind string

// Limit kinds: an attempt counts against the limit of its queue, of its
// task type and of its resource.
const (
	LimitQueue    LimitKind = "queue"
	LimitType     LimitKind = "type"
	LimitResource LimitKind = "resource"
)

// Limit bounds the attempts of a queue, task type or resource: at most
// MaxRunning running at once (0: no bound) and, when Rate > 0, a token
// bucket of Burst tokens refilled at Rate per second, one token taken by
// each claimed attempt.
type Limit struct {
	Kind       LimitKind
	Name       string
	MaxRunning int
	Rate       float64
	Burst      float64
	// Tokens and RefilledAt are the bucket's state (the store keeps them).
	Tokens     float64
	RefilledAt time.Time
}
