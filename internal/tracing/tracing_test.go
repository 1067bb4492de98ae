package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
	_ "github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/internal/traceid"
	"github.com/legatohq/legato/internal/tracing"
	"github.com/legatohq/legato/internal/worker"
)

func TestSpansOfARun(t *testing.T) {
	t.Parallel()
	// The downstream service of the http task records what it was sent.
	var mu sync.Mutex
	var traceparents []string
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ds.Close)

	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(exp, tracing.Options{Version: "test", NodeID: "n1"}, true)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	eng := engine.New(st, engine.Options{})
	eng.OnCommit(tr.Observe)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	wg.Go(func() { _ = worker.New(eng, worker.Options{ID: "local:test", Concurrency: 2}).Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		require.NoError(t, st.Close())
		require.NoError(t, tr.Shutdown(context.Background()))
	})

	w, err := spec.Parse("traced.yaml", []byte(`name: traced
tasks:
  - id: call
    type: http
    with: {url: "`+ds.URL+`/hook"}
  - id: boom
    needs: [call]
    type: shell
    with: {run: "exit 3"}
    retry: {attempts: 2, initial: 10ms}
`))
	require.NoError(t, err)
	_, _, err = eng.Apply(t.Context(), w, "", "test")
	require.NoError(t, err)
	run, err := eng.StartRun(t.Context(), &engine.StartRunParams{Workflow: "traced"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(exp.GetSpans()) == 4 // the run and three attempts
	}, 30*time.Second, 10*time.Millisecond)

	tid := traceid.TraceID(run.ID)
	runSpan := traceid.RunSpanID(run.ID, 1)
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		require.Equal(t, tid, s.SpanContext.TraceID(), "every span is in the run's trace")
		require.True(t, s.SpanContext.IsSampled())
		require.False(t, s.EndTime.Before(s.StartTime))
		byName[s.Name] = append(byName[s.Name], s)
	}
	rs := byName["run default/traced"]
	require.Len(t, rs, 1)
	require.Equal(t, runSpan, rs[0].SpanContext.SpanID())
	require.False(t, rs[0].Parent.IsValid(), "the run span is the root")
	require.Equal(t, codes.Error, rs[0].Status.Code)
	require.Equal(t, run.CreatedAt, rs[0].StartTime.UTC(), "the run span starts when the run was created")

	calls := byName["task call"]
	require.Len(t, calls, 1)
	require.Equal(t, runSpan, calls[0].Parent.SpanID())
	require.Equal(t, traceid.AttemptSpanID(run.ID, "call", -1, 1), calls[0].SpanContext.SpanID())
	require.Equal(t, codes.Unset, calls[0].Status.Code)
	booms := byName["task boom"]
	require.Len(t, booms, 2, "one span per attempt")
	for _, s := range booms {
		require.Equal(t, runSpan, s.Parent.SpanID())
		require.Equal(t, codes.Error, s.Status.Code)
	}
	require.Equal(t, "legato", attr(calls[0], "service.name", true))
	require.Equal(t, "http", attr(calls[0], "legato.task_type", false))
	require.Equal(t, run.ID, attr(calls[0], "legato.run_id", false))

	// The http task continued the attempt's span: its request carried it.
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"00-" + tid.String() + "-" + calls[0].SpanContext.SpanID().String() + "-01"}, traceparents)
}

func attr(s tracetest.SpanStub, key string, resource bool) string {
	kvs := s.Attributes
	if resource {
		kvs = s.Resource.Attributes()
	}
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestOffByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tr, err := tracing.New(t.Context(), tracing.Options{})
	require.NoError(t, err)
	require.Nil(t, tr, "no endpoint: no tracer, nothing exported")
	tr.Observe(&engine.Commit{Attempts: []*store.Attempt{{RunID: "r"}}}) // a nil tracer does nothing
	require.NoError(t, tr.Shutdown(t.Context()))

	_, err = tracing.New(t.Context(), tracing.Options{Endpoint: "localhost:4318"})
	require.ErrorContains(t, err, "want an http:// or https:// URL")
	tr, err = tracing.New(t.Context(), tracing.Options{Endpoint: "http://127.0.0.1:1"})
	require.NoError(t, err)
	require.NotNil(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_ = tr.Shutdown(ctx) // nothing to flush
}
