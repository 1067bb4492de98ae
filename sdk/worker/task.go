package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// HandlerFunc runs one attempt of a task type. It returns the task's
// output (any value that marshals to JSON; tasks.<id>.output in the
// workflow) or an error: the attempt failed, and the task's retry policy
// decides whether another attempt follows, unless the error is marked with
// NonRetryable.
//
// ctx ends when the attempt's timeout passes, when the run is canceled,
// when the lease is lost and when the worker stops: a handler returns
// promptly then (its result is not used, except on a timeout).
type HandlerFunc func(ctx context.Context, t *Task) (any, error)

// Task is one attempt handed to a handler.
type Task struct {
	// AttemptID is the attempt's id on the server.
	AttemptID int64
	RunID     string
	Namespace string
	Workflow  string
	// TaskID is the task's id in the workflow.
	TaskID string
	// Index is the for_each item's index, -1 outside for_each.
	Index int
	// Attempt is the attempt's number, from 1.
	Attempt int
	// Type is the task type the handler was registered for.
	Type string
	// Params is the task's with block, templates already rendered: JSON
	// values (string, float64, bool, nil, []any, map[string]any).
	Params map[string]any
	// IdempotencyKey is the same for every attempt of the task run
	// ("<run>/<task>[/<index>]"): pass it to the system you call (an
	// Idempotency-Key header) so that a retried attempt does not do the
	// work twice.
	IdempotencyKey string
	// Timeout is the attempt's timeout (0: none); ctx already carries it.
	Timeout time.Duration
	// Queue is the queue the attempt was claimed from.
	Queue string

	log func(stream, line string)
}

// Log streams.
const (
	Stdout = "stdout"
	Stderr = "stderr"
	System = "system"
)

// Log writes log lines of the attempt, readable with `legato logs`: each
// line of text is one line. stream is Stdout, Stderr or System (anything
// else is written as Stdout). Lines are sent in batches, so Log does not
// wait for the server.
func (t *Task) Log(stream, text string) {
	if t.log == nil {
		return
	}
	if stream != Stderr && stream != System {
		stream = Stdout
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		t.log(stream, line)
	}
}

// Logf writes a formatted line to the attempt's stdout.
func (t *Task) Logf(format string, args ...any) {
	t.Log(Stdout, fmt.Sprintf(format, args...))
}

// Decode stores the task's params in v (a pointer to a struct with json
// tags, usually), refusing params v has no field for. Its error is marked
// NonRetryable: params a retry would send again cannot decode better.
func (t *Task) Decode(v any) error {
	b, err := json.Marshal(t.Params)
	if err != nil {
		return NonRetryable(fmt.Errorf("params of %s: %w", t.Type, err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return NonRetryable(fmt.Errorf("params of %s: %w", t.Type, err))
	}
	return nil
}

// nonRetryable marks an error that no other attempt can fix.
type nonRetryable struct{ err error }

func (e *nonRetryable) Error() string { return e.err.Error() }
func (e *nonRetryable) Unwrap() error { return e.err }

// NonRetryable wraps err so that the attempt's failure is final: no retry
// is made whatever the task's retry policy (bad parameters, a 4xx answer,
// a record that does not exist). errors.Is and errors.As see through it.
// NonRetryable(nil) is nil.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryable{err: err}
}

// IsNonRetryable reports whether err, or an error it wraps, was marked
// with NonRetryable.
func IsNonRetryable(err error) bool {
	var nr *nonRetryable
	return errors.As(err, &nr)
}
