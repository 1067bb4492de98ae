// Package traceid derives the OpenTelemetry trace and span ids of runs and
// attempts from what the store holds, and writes the W3C trace context of
// an attempt's outgoing requests. It is a leaf (the OpenTelemetry API
// only), so task types use it without the SDK.
package traceid

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace and span ids are derived from what the store already holds, so
// that any server (the one committing a run's end) and any worker (the one
// sending an http task's request) name the same spans without sharing
// memory:
//   - a run's trace id is its id (a UUID) as 16 bytes, so a tracing
//     backend finds a run's trace by the run id without its dashes;
//   - the run's span id is derived from the run id and the run's attempt
//     (a retried run gets one span per execution);
//   - an attempt's span id from run id, task, index and attempt number.

// TraceID returns the trace id of a run.
func TraceID(runID string) trace.TraceID {
	var id trace.TraceID
	if u, err := uuid.Parse(runID); err == nil {
		copy(id[:], u[:])
	} else {
		sum := sha256.Sum256([]byte("trace\x00" + runID))
		copy(id[:], sum[:])
	}
	return id
}

// RunSpanID returns the span id of one execution of a run (attempt 1 is
// the first; a run retry makes the next).
func RunSpanID(runID string, runAttempt int) trace.SpanID {
	return spanID(fmt.Sprintf("run\x00%s\x00%d", runID, max(runAttempt, 1)))
}

// AttemptSpanID returns the span id of one attempt of a task run.
func AttemptSpanID(runID, task string, index, attempt int) trace.SpanID {
	return spanID(fmt.Sprintf("attempt\x00%s\x00%s\x00%d\x00%d", runID, task, index, attempt))
}

func spanID(key string) trace.SpanID {
	sum := sha256.Sum256([]byte(key))
	var id trace.SpanID
	copy(id[:], sum[:8])
	if !id.IsValid() { // all zero: not a valid id
		id[7] = 1
	}
	return id
}

// AttemptContext returns ctx carrying the span context of an attempt as a
// remote parent: what a task's outgoing calls continue.
func AttemptContext(ctx context.Context, runID, task string, index, attempt int) context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    TraceID(runID),
		SpanID:     AttemptSpanID(runID, task, index, attempt),
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// InjectAttempt sets the W3C traceparent header of an attempt's outgoing
// request h (unless the task set one itself).
func InjectAttempt(ctx context.Context, h http.Header, runID, task string, index, attempt int) {
	if h.Get("traceparent") != "" {
		return
	}
	propagation.TraceContext{}.Inject(AttemptContext(ctx, runID, task, index, attempt), propagation.HeaderCarrier(h))
}
