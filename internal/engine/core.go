package engine

import (
	"time"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Key names one task run of a run: Index is -1 except for for_each items.
type Key struct {
	Task  string
	Index int
}

// State is what the decision core sees of one run: its workflow, the run
// row, its task runs, the time and an id source. Decide mutates it in place
// and records what changed.
type State struct {
	Workflow *spec.Workflow
	Run      *store.Run
	Tasks    map[Key]*store.TaskRun
	// Now is the time of the decision; the core never reads a clock.
	Now time.Time
	// NewID returns a fresh run id (for child runs).
	NewID func() string
	// Env is the allow-listed environment expressions see as `env`.
	Env map[string]string

	changed map[Key]bool
	deleted map[Key]bool
	runWas  store.RunStatus

	// forEach and forEachDirty keep the progress of running for_each
	// tasks between Decides (foreach.go).
	forEach      map[string]*forEachCount
	forEachDirty []Key
}

// Event is something that happened to a run: the input of Decide.
type Event interface{ eventName() string }

// Start begins a run (new, or released from the concurrency queue).
type Start struct{}

// AttemptDone reports the end of an attempt executed by a worker.
type AttemptDone struct {
	Task    string
	Index   int
	Attempt int
	Output  any
	// Err is empty on success.
	Err string
	// NonRetryable stops retries whatever the policy says.
	NonRetryable bool
	// Interrupted says the attempt was cut short by the stop of the process
	// running it, not by the task: a new attempt always follows, whatever
	// the retry policy.
	Interrupted bool
}

// TimerFired reports a due durable timer.
type TimerFired struct {
	Task  string
	Index int
	Kind  store.TimerKind
}

// ChildDone reports the end of a child run started by a workflow task.
type ChildDone struct {
	Task    string
	Index   int
	ChildID string
	Status  store.RunStatus
	Outputs map[string]any
	Err     string
}

// Cancel stops a run: running tasks are told, pending ones never start.
type Cancel struct{ Reason string }

// Retry restarts a failed or canceled run from its failed tasks.
type Retry struct{}

// EventMatched reports an event that matched the wait of a wait_event
// task run; Event is what the task outputs.
type EventMatched struct {
	Task  string
	Index int
	Event map[string]any
}

func (Start) eventName() string        { return "run.start" }
func (AttemptDone) eventName() string  { return "attempt.done" }
func (TimerFired) eventName() string   { return "timer.fired" }
func (ChildDone) eventName() string    { return "child.done" }
func (Cancel) eventName() string       { return "run.cancel" }
func (Retry) eventName() string        { return "run.retry" }
func (EventMatched) eventName() string { return "event.matched" }

// Command is an effect the shell applies in the same transaction.
type Command interface{ commandName() string }

// Enqueue queues a new attempt for workers.
type Enqueue struct {
	Task    string
	Index   int
	Attempt int
	Type    string
	Params  map[string]any
	Timeout time.Duration
	Queue   string
	// Resource names the rate-limited resource the task uses ("" none).
	Resource  string
	NotBefore time.Time
}

// SetTimer creates or moves a durable timer of the run.
type SetTimer struct {
	Task  string
	Index int
	Kind  store.TimerKind
	At    time.Time
}

// DeleteTimer removes a timer of the run.
type DeleteTimer struct {
	Task  string
	Index int
	Kind  store.TimerKind
}

// DeleteRunTimers removes every timer of the run.
type DeleteRunTimers struct{}

// StartChild creates and starts a child run for a workflow task.
type StartChild struct {
	Task      string
	Index     int
	RunID     string
	Namespace string
	Workflow  string
	Inputs    map[string]any
}

// CancelAttempts cancels queued attempts and tells running ones to stop;
// Task "" means every attempt of the run.
type CancelAttempts struct {
	Task  string
	Index int
}

// CancelChild cancels a child run.
type CancelChild struct{ RunID string }

// NotifyParent reports this run's end to the run that started it.
type NotifyParent struct {
	ParentRunID string
	Task        string
	Index       int
	Status      store.RunStatus
	Outputs     map[string]any
	Err         string
}

// WaitEvent records the wait of a wait_event task run (a row the shell
// matches arriving events against) and looks back over the events of
// Type received since LookBackFrom, in case the awaited one came first.
type WaitEvent struct {
	Task  string
	Index int
	Type  string
	Match string
	// Context is what Match sees besides event and env: the task's
	// inputs, tasks, run (and item, index) when the wait began.
	Context      map[string]any
	Deadline     time.Time
	LookBackFrom time.Time
}

// DeleteEventWait removes the wait of a wait_event task run.
type DeleteEventWait struct {
	Task  string
	Index int
}

// RunFinished tells the shell the run reached a final status (a
// concurrency slot of its workflow is free).
type RunFinished struct{}

func (Enqueue) commandName() string         { return "enqueue" }
func (SetTimer) commandName() string        { return "timer.set" }
func (DeleteTimer) commandName() string     { return "timer.delete" }
func (DeleteRunTimers) commandName() string { return "timer.delete_run" }
func (StartChild) commandName() string      { return "child.start" }
func (CancelAttempts) commandName() string  { return "attempt.cancel" }
func (CancelChild) commandName() string     { return "child.cancel" }
func (NotifyParent) commandName() string    { return "parent.notify" }
func (RunFinished) commandName() string     { return "run.finished" }
func (WaitEvent) commandName() string       { return "event.wait" }
func (DeleteEventWait) commandName() string { return "event.wait_delete" }

// Decision is the outcome of Decide: the commands to apply and which task
// runs changed or were removed (the run row itself is in State.Run).
type Decision struct {
	Commands []Command
	Changed  []*store.TaskRun
	Deleted  []Key
	// Journal holds one event per transition, for the run's audit trail.
	Journal []*store.Event
}
