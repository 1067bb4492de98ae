package store

import "time"

// InboxEvent is an event posted to Legato (a CloudEvent): it may start runs
// of the workflows subscribed to its type and wake waiting wait_event
// tasks. Stored in the table `inbox` (the run journal is `events`); (Source,
// ID) is unique, so a redelivered event is accepted once.
type InboxEvent struct {
	// Seq orders the inbox; set by the store.
	Seq       int64
	Namespace string
	ID        string
	Source    string
	Type      string
	Subject   string
	// Time is the producer's time (zero when the event had none).
	Time            time.Time
	DataContentType string
	// Data is the event's payload as a JSON value (nil when absent).
	Data       any
	ReceivedAt time.Time
	Actor      string
}

// InboxListParams filters InboxList.
type InboxListParams struct {
	// Namespace and Type filter when not empty.
	Namespace string
	Type      string
	// Since keeps events received at or after it (zero: no bound).
	Since time.Time
	// AfterSeq keeps events with a greater Seq.
	AfterSeq int64
	// Limit bounds the result (<= 0: no limit).
	Limit int
}

// EventWait is a wait_event task run waiting for an event of Type in
// Namespace; Match is its CEL condition, evaluated over `event` and
// Context (the run's inputs, tasks, run and item as the task saw them when
// the wait began).
type EventWait struct {
	RunID     string
	Task      string
	Index     int
	Namespace string
	Type      string
	Match     string
	Context   map[string]any
	// Deadline is when the wait times out (zero: never).
	Deadline  time.Time
	CreatedAt time.Time
}

// RunTrigger records what started a run other than the API: a webhook or
// an event. ReceivedAt is when the request or event arrived, from which
// the latency to the run's first task is measured.
type RunTrigger struct {
	RunID string
	// Kind is "event" or "webhook".
	Kind string
	// Name is the event type or the webhook trigger's name.
	Name string
	// EventSource and EventID name the inbox event (kind event).
	EventSource string
	EventID     string
	ReceivedAt  time.Time
}
