// Package tracing owns Legato's OpenTelemetry traces: a span per run (from
// its creation to its end) and per attempt (from its claim to its end),
// emitted after the commit that ends them (engine.OnCommit) with the times
// the store recorded, and the W3C trace context that http tasks send.
//
// Ids are derived from run ids (package traceid), so spans need no state in
// memory and every server and worker agrees on them. The exporter is OTLP
// over HTTP and off by default; a nil *Tracer records nothing.
package tracing

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/traceid"
)

// Options configure a Tracer.
type Options struct {
	// Endpoint is the OTLP/HTTP collector's base URL
	// (http://collector:4318); /v1/traces is appended unless the URL has a
	// path. Empty: the standard OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables, and when neither is
	// set tracing is off.
	Endpoint string
	// Version is reported as service.version.
	Version string
	// NodeID is reported as service.instance.id.
	NodeID string
}

// Enabled reports whether o turns the exporter on.
func (o Options) Enabled() bool {
	return o.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracer emits the spans of runs and attempts. Observe hands commits to
// one goroutine that makes the spans, so the engine's commit path only
// pays a channel send; when that goroutine falls behind by queueSize
// commits, their spans are dropped (and counted) rather than slowing
// commits down.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer

	mu      sync.RWMutex
	closed  bool
	queue   chan *engine.Commit
	done    chan struct{}
	dropped atomic.Int64
}

// queueSize bounds the commits waiting for their spans.
const queueSize = 4096

// New returns the Tracer that o configures, or nil (tracing off) when o
// names no endpoint.
func New(ctx context.Context, o Options) (*Tracer, error) {
	if !o.Enabled() {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("OTLP endpoint %q: want an http:// or https:// URL such as http://localhost:4318", o.Endpoint)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	return NewWithExporter(exp, o, false), nil
}

// NewWithExporter returns a Tracer exporting to exp: in batches, or each
// span as it ends when sync (tests use tracetest's in-memory exporter).
func NewWithExporter(exp sdktrace.SpanExporter, o Options, sync bool) *Tracer {
	attrs := []attribute.KeyValue{
		attribute.String("service.name", "legato"),
		attribute.String("service.version", o.Version),
	}
	if o.NodeID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", o.NodeID))
	}
	export := sdktrace.WithBatcher(exp)
	if sync {
		export = sdktrace.WithSyncer(exp)
	}
	tp := sdktrace.NewTracerProvider(
		export,
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
	t := &Tracer{
		tp: tp, tracer: tp.Tracer("github.com/legatohq/legato"),
		queue: make(chan *engine.Commit, queueSize), done: make(chan struct{}),
	}
	go t.loop()
	return t
}

func (t *Tracer) loop() {
	defer close(t.done)
	for c := range t.queue {
		t.spans(c)
	}
}

// Shutdown makes the spans of the commits already observed, flushes the
// spans not yet exported and stops the exporter. Commits observed after
// it are ignored.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.queue)
	}
	t.mu.Unlock()
	select {
	case <-t.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return t.tp.Shutdown(ctx)
}

// Dropped counts the commits whose spans were dropped because the span
// goroutine had fallen behind.
func (t *Tracer) Dropped() int64 {
	if t == nil {
		return 0
	}
	return t.dropped.Load()
}

// Observe queues the spans that one engine commit ended; register it with
// engine.OnCommit. It never blocks.
func (t *Tracer) Observe(c *engine.Commit) {
	if t == nil {
		return
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	select {
	case t.queue <- c:
	default:
		t.dropped.Add(1)
	}
}

// spans emits the spans of one commit.
func (t *Tracer) spans(c *engine.Commit) {
	for _, a := range c.Attempts {
		runAttempt := 1
		if r := c.Run(a.RunID); r != nil {
			runAttempt = r.Attempt
		}
		t.attemptSpan(a, c.TaskType(a.RunID, a.Task), runAttempt)
	}
	for _, ev := range c.Journal {
		switch ev.Type {
		case "run.succeeded", "run.failed", "run.canceled":
			if r := c.Run(ev.RunID); r != nil {
				t.runSpan(r)
			}
		}
	}
}

func (t *Tracer) runSpan(r *store.Run) {
	ctx := withIDs(context.Background(), traceid.TraceID(r.ID), traceid.RunSpanID(r.ID, r.Attempt))
	attrs := []attribute.KeyValue{
		attribute.String("legato.run_id", r.ID),
		attribute.String("legato.namespace", r.Namespace),
		attribute.String("legato.workflow", r.Workflow),
		attribute.Int("legato.workflow_version", r.Version),
		attribute.Int("legato.run_attempt", r.Attempt),
		attribute.String("legato.status", string(r.Status)),
	}
	if r.ParentRunID != "" {
		attrs = append(attrs, attribute.String("legato.parent_run_id", r.ParentRunID), attribute.String("legato.parent_task", r.ParentTask))
	}
	_, span := t.tracer.Start(ctx, "run "+r.Namespace+"/"+r.Workflow,
		trace.WithNewRoot(), trace.WithTimestamp(r.CreatedAt), trace.WithAttributes(attrs...))
	if r.Status != store.RunSucceeded {
		span.SetStatus(codes.Error, firstLine(r.Error, string(r.Status)))
	}
	end := r.FinishedAt
	if end.IsZero() {
		end = r.UpdatedAt
	}
	span.End(trace.WithTimestamp(end))
}

func (t *Tracer) attemptSpan(a *store.Attempt, taskType string, runAttempt int) {
	if a.StartedAt.IsZero() { // canceled before any worker claimed it
		return
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceid.TraceID(a.RunID), SpanID: traceid.RunSpanID(a.RunID, runAttempt), TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	ctx = withIDs(ctx, parent.TraceID(), traceid.AttemptSpanID(a.RunID, a.Task, a.Index, a.Number))
	if taskType == "" {
		taskType = a.Type
	}
	_, span := t.tracer.Start(ctx, "task "+a.Task, trace.WithTimestamp(a.StartedAt), trace.WithAttributes(
		attribute.String("legato.run_id", a.RunID),
		attribute.String("legato.namespace", a.Namespace),
		attribute.String("legato.workflow", a.Workflow),
		attribute.String("legato.task", a.Task),
		attribute.Int("legato.index", a.Index),
		attribute.Int("legato.attempt", a.Number),
		attribute.String("legato.task_type", taskType),
		attribute.String("legato.queue", a.Queue),
		attribute.String("legato.worker_id", a.WorkerID),
		attribute.String("legato.status", string(a.Status)),
	))
	if a.Status == store.AttemptFailed {
		span.SetStatus(codes.Error, firstLine(a.Error, "failed"))
	}
	span.End(trace.WithTimestamp(a.FinishedAt))
}

// firstLine is a short status description.
func firstLine(s, def string) string {
	if s == "" {
		return def
	}
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// idGenerator hands the SDK the ids this package derives (withIDs), and
// random ones to spans started without them.
type idGenerator struct{}

type idsKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

func withIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context {
	return context.WithValue(ctx, idsKey{}, ids{tid, sid})
}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if v, ok := ctx.Value(idsKey{}).(ids); ok {
		return v.trace, v.span
	}
	var tid trace.TraceID
	_, _ = rand.Read(tid[:])
	return tid, randomSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if v, ok := ctx.Value(idsKey{}).(ids); ok {
		return v.span
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	_, _ = rand.Read(sid[:])
	return sid
}
