package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrCanceled is wrapped, together with ctx.Err(), by the error an executor
// returns when its context was cancelled (timeout or run cancel). Whether
// the attempt is retried is the engine's decision.
var ErrCanceled = errors.New("task canceled")

// canceled returns the error for an attempt stopped by ctx.
func canceled(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrCanceled, ctx.Err())
}

// nonRetryable marks an error that no new attempt can fix.
type nonRetryable struct{ err error }

func (e *nonRetryable) Error() string { return e.err.Error() }
func (e *nonRetryable) Unwrap() error { return e.err }

// NonRetryable wraps err so that the engine does not retry the attempt:
// bad parameters, a 4xx answer, output that does not parse. errors.Is and
// errors.As see through it. NonRetryable(nil) is nil.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryable{err: err}
}

// IsNonRetryable reports whether err, or an error it wraps, was marked by
// NonRetryable.
func IsNonRetryable(err error) bool {
	var nr *nonRetryable
	return errors.As(err, &nr)
}

// FieldError is a problem with one field of a `with` block. Path is the
// field's path inside `with` ("headers", "Accept"; list indexes as
// decimal strings).
type FieldError struct {
	Path []string
	Msg  string
}

// Error reads "with.url: msg" ("with.argv[1]: msg" for a list item).
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("with")
	for _, p := range e.Path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
		} else {
			b.WriteString("." + p)
		}
	}
	return b.String() + ": " + e.Msg
}

func fieldErr(msg string, path ...string) *FieldError {
	return &FieldError{Path: path, Msg: msg}
}
