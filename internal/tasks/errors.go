package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/legatohq/legato/sdk/worker"
)

// ErrCanceled is wrapped, together with ctx.Err(), by the error an executor
// returns when its context was cancelled (timeout or run cancel). Whether
// the attempt is retried is the engine's decision.
var ErrCanceled = errors.New("task canceled")

// canceled returns the error for an attempt stopped by ctx.
func canceled(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrCanceled, ctx.Err())
}

// NonRetryable wraps err so that the engine does not retry the attempt:
// bad parameters, a 4xx answer, output that does not parse. errors.Is and
// errors.As see through it. NonRetryable(nil) is nil. It is the marker of
// the public sdk/worker package, so that an error crosses between built-in
// executors and SDK workers unchanged.
func NonRetryable(err error) error { return worker.NonRetryable(err) }

// IsNonRetryable reports whether err, or an error it wraps, was marked by
// NonRetryable (here or in sdk/worker).
func IsNonRetryable(err error) bool { return worker.IsNonRetryable(err) }

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
