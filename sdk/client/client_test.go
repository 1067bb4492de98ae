package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/sdk/client"
)

const orderYAML = `name: order-fulfillment
namespace: sales
description: Reserve stock and invoice.
tasks:
  - id: reserve
    type: noop
  - id: invoice
    needs: [reserve]
    type: noop
`

type testBundle struct {
	srv *fakeServer
	c   *client.Client
}

func setup(t *testing.T) testBundle {
	t.Helper()
	srv := newFakeServer()
	t.Cleanup(srv.Close)
	return testBundle{srv: srv, c: client.New(srv.URL, fakeToken, client.WithUserAgent("client-test"))}
}

func TestApply(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	v, created, err := b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "sales", v.Namespace)
	require.Equal(t, "order-fulfillment", v.Name)
	require.Equal(t, 1, v.Version)
	require.Equal(t, "Reserve stock and invoice.", v.Description)

	v, created, err = b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)
	require.False(t, created, "identical content makes no new version")
	require.Equal(t, 1, v.Version)

	v, created, err = b.c.Apply(ctx, "orders.yaml", []byte(orderYAML+"# changed\n"))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 2, v.Version)

	got, err := b.c.Workflow(ctx, "sales", "order-fulfillment", 1)
	require.NoError(t, err)
	require.Equal(t, 1, got.Version)
	require.Equal(t, orderYAML, got.Source)
	require.JSONEq(t, `{"name":"order-fulfillment"}`, string(got.Spec))

	list, err := b.c.Workflows(ctx, "sales")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 2, list[0].Version)
	require.Contains(t, b.srv.Requests(), "GET /api/v1/workflows?namespace=sales")
}

func TestApplyInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, _, err := b.c.Apply(t.Context(), "bad.yaml", []byte("tasks: []\n"))
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 422, apiErr.Status)
	require.Equal(t, client.CodeInvalidWorkflow, apiErr.Code)
	require.Equal(t, "invalid_workflow: bad.yaml: invalid workflow", apiErr.Error())
	require.Equal(t, []client.FileError{{File: "bad.yaml", Line: 1, Col: 1, Message: "name is required"}}, apiErr.WorkflowErrors())
	require.Equal(t, "bad.yaml:1:1: name is required", apiErr.WorkflowErrors()[0].String())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("unauthenticated", func(t *testing.T) {
		t.Parallel()
		_, err := client.New(b.srv.URL, "wrong").Runs(t.Context(), client.RunsQuery{})
		var apiErr *client.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.Status)
		require.Equal(t, client.CodeUnauthenticated, apiErr.Code)
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		_, err := b.c.Run(t.Context(), "nope")
		var apiErr *client.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, client.CodeNotFound, apiErr.Code)
		require.Equal(t, "not_found: run nope not found", err.Error())
	})
	t.Run("invalid inputs", func(t *testing.T) {
		t.Parallel()
		_, _, err := b.c.Apply(t.Context(), "o.yaml", []byte("name: inputs-check\n"))
		require.NoError(t, err)
		_, err = b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: "inputs-check", Inputs: map[string]any{"bad": 1}})
		var apiErr *client.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, client.CodeInvalidInputs, apiErr.Code)
		require.Equal(t, []string{"bad: unknown input"}, apiErr.Problems())
	})
	t.Run("not the contract's shape", func(t *testing.T) {
		t.Parallel()
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}))
		t.Cleanup(proxy.Close)
		_, err := client.New(proxy.URL, "t").Run(t.Context(), "r")
		var apiErr *client.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, 502, apiErr.Status)
		require.Equal(t, "http_502", apiErr.Code)
		require.Equal(t, "<html>bad gateway</html>", apiErr.Message)
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		addr := dead.URL
		dead.Close()
		_, err := client.New(addr, "t").Run(t.Context(), "r")
		require.Error(t, err)
		var apiErr *client.APIError
		require.False(t, errors.As(err, &apiErr), "a transport error is not an APIError")
	})
}

func TestStartRunAndWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, _, err := b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)

	run, err := b.c.StartRun(ctx, client.StartRunRequest{Namespace: "sales", Workflow: "order-fulfillment",
		Inputs: map[string]any{"order_id": "A-1", "amount": 12.5}})
	require.NoError(t, err)
	require.Equal(t, client.StatusQueued, run.Status)
	require.False(t, run.Final())
	require.Equal(t, map[string]any{"order_id": "A-1", "amount": 12.5}, run.Inputs)

	var seen []string
	final, err := b.c.Wait(ctx, run.ID, func(r *client.Run) {
		s := r.Status
		for _, tr := range r.Tasks {
			s += " " + tr.Name() + "=" + tr.Status
		}
		seen = append(seen, s)
	})
	require.NoError(t, err)
	require.True(t, final.Final())
	require.Equal(t, client.StatusSucceeded, final.Status)
	require.Equal(t, []string{
		"running reserve=pending invoice=pending",
		"running reserve=running invoice=pending",
		"running reserve=succeeded invoice=pending",
		"running reserve=succeeded invoice=running",
		"running reserve=succeeded invoice=succeeded",
		"succeeded reserve=succeeded invoice=succeeded",
	}, seen)
}

func TestWaitUnchangedAndCanceled(t *testing.T) {
	t.Parallel()
	calls := 0
	run := `{"id":"r1","namespace":"default","workflow":"w","version":1,"status":"waiting","inputs":{},"outputs":null,"error":"","attempt":1,"created_at":"2026-01-02T12:00:00Z","created_by":"admin"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		_, _ = w.Write([]byte(run))
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	changes := 0
	last, err := client.New(srv.URL, "t").Wait(ctx, "r1", func(*client.Run) { changes++ })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "waiting", last.Status)
	require.Equal(t, 1, changes, "onChange runs once while nothing changes")
	// 0, +100, +200, +400 ms: backoff, not a busy loop.
	require.LessOrEqual(t, calls, 5)
	require.GreaterOrEqual(t, calls, 3)
}

func TestRunsQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, _, err := b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)
	var ids []string
	for range 3 {
		r, err := b.c.StartRun(ctx, client.StartRunRequest{Namespace: "sales", Workflow: "order-fulfillment"})
		require.NoError(t, err)
		ids = append(ids, r.ID)
	}

	runs, err := b.c.Runs(ctx, client.RunsQuery{Namespace: "sales", Workflow: "order-fulfillment", Limit: 2})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, ids[2], runs[0].ID, "newest first")
	require.Nil(t, runs[0].Tasks, "lists carry no task runs")

	before := runs[1].CreatedAt
	runs, err = b.c.Runs(ctx, client.RunsQuery{Before: before, Status: "queued"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, ids[0], runs[0].ID)
	require.True(t, hasPrefix(b.srv.Requests(), "GET /api/v1/runs?before=2026-01-02T12%3A00%3A03Z&status=queued"), b.srv.Requests())
}

func TestCancelRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, _, err := b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)
	run, err := b.c.StartRun(ctx, client.StartRunRequest{Namespace: "sales", Workflow: "order-fulfillment"})
	require.NoError(t, err)

	_, err = b.c.RetryRun(ctx, run.ID)
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, client.CodeInvalidState, apiErr.Code)
	require.Equal(t, http.StatusConflict, apiErr.Status)

	canceled, err := b.c.CancelRun(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, client.StatusCanceled, canceled.Status)
	require.True(t, canceled.Final())

	_, err = b.c.CancelRun(ctx, run.ID)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, client.CodeInvalidState, apiErr.Code)

	retried, err := b.c.RetryRun(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, 2, retried.Attempt)
	final, err := b.c.Wait(ctx, run.ID, nil)
	require.NoError(t, err)
	require.Equal(t, client.StatusSucceeded, final.Status)
}

func TestLogsAndEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, _, err := b.c.Apply(ctx, "orders.yaml", []byte(orderYAML))
	require.NoError(t, err)
	run, err := b.c.StartRun(ctx, client.StartRunRequest{Namespace: "sales", Workflow: "order-fulfillment",
		Inputs: map[string]any{"fail": true}})
	require.NoError(t, err)
	final, err := b.c.Wait(ctx, run.ID, nil)
	require.NoError(t, err)
	require.Equal(t, client.StatusFailed, final.Status)
	require.Equal(t, "task invoice failed: exit status 1", final.Error)

	lines, next, err := b.c.Logs(ctx, run.ID, client.LogsQuery{Limit: 2})
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, "starting reserve", lines[0].Line)
	require.Equal(t, lines[1].Seq, next)
	lines, next2, err := b.c.Logs(ctx, run.ID, client.LogsQuery{After: next})
	require.NoError(t, err)
	require.Len(t, lines, 1)
	require.Equal(t, "stderr", lines[0].Stream)
	require.Equal(t, "boom", lines[0].Line)
	lines, next3, err := b.c.Logs(ctx, run.ID, client.LogsQuery{After: next2})
	require.NoError(t, err)
	require.Empty(t, lines)
	require.Equal(t, next2, next3, "next stays put when nothing follows")

	lines, _, err = b.c.Logs(ctx, run.ID, client.LogsQuery{Task: "invoice"})
	require.NoError(t, err)
	require.Len(t, lines, 2)

	events, enext, err := b.c.Events(ctx, run.ID, 0)
	require.NoError(t, err)
	require.Equal(t, "run.created", events[0].Type)
	require.Equal(t, events[len(events)-1].Seq, enext)
	events, _, err = b.c.Events(ctx, run.ID, events[1].Seq)
	require.NoError(t, err)
	require.Equal(t, "task.started", events[0].Type)
	require.Equal(t, "reserve", events[0].Task)
}

// The types keep every field of the contract: decoding a server's JSON and
// encoding it again gives the same document.
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		doc string
		v   any
	}{
		"run": {runJSON, &client.Run{}},
		"run in a list": {`{"id":"r","namespace":"default","workflow":"w","version":3,"status":"queued","inputs":{"n":1},"outputs":null,"error":"","attempt":1,
			"created_at":"2026-01-02T12:00:00.123456789Z","created_by":"token:ci"}`, &client.Run{}},
		"workflow version": {`{"namespace":"sales","name":"o","version":2,"hash":"ab12","description":"d","created_at":"2026-01-02T12:00:00Z","created_by":"admin","spec":{"name":"o","tasks":[]},"source":"name: o\n"}`, &client.WorkflowVersion{}},
		"log line":         {`{"seq":7,"task":"fan","index":2,"attempt":1,"stream":"stderr","line":"oops","at":"2026-01-02T12:00:00.5Z"}`, &client.LogLine{}},
		"event":            {`{"seq":8,"type":"task.failed","task":"fan","index":0,"data":{"error":"x"},"actor":"worker:w1","at":"2026-01-02T12:00:01Z"}`, &client.Event{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, json.Unmarshal([]byte(tc.doc), tc.v))
			out, err := json.Marshal(tc.v)
			require.NoError(t, err)
			require.JSONEq(t, tc.doc, string(out))
		})
	}
}

const runJSON = `{
  "id": "01JH0000000000000000000000",
  "namespace": "sales",
  "workflow": "order-fulfillment",
  "version": 3,
  "status": "failed",
  "inputs": {"order_id": "A-1", "amount": 1200},
  "outputs": null,
  "error": "task invoice failed: exit status 1",
  "attempt": 1,
  "parent_run_id": "01JGZZZZZZZZZZZZZZZZZZZZZZ",
  "created_at": "2026-01-02T12:00:00.000000001Z",
  "started_at": "2026-01-02T12:00:00.5Z",
  "finished_at": "2026-01-02T12:00:09Z",
  "created_by": "admin",
  "tasks": [
    {"id": "reserve", "kind": "task", "status": "succeeded", "attempts": 2, "output": {"status": 200}, "error": "",
     "started_at": "2026-01-02T12:00:01Z", "finished_at": "2026-01-02T12:00:02Z"},
    {"id": "notify", "kind": "task", "status": "succeeded", "attempts": 1, "output": null, "error": "",
     "items": {"total": 2, "succeeded": 2}},
    {"id": "notify", "index": 0, "kind": "item", "status": "succeeded", "attempts": 1, "output": "sent", "error": ""},
    {"id": "child", "kind": "task", "status": "succeeded", "attempts": 1, "output": null, "error": "", "child_run_id": "01JH1"},
    {"id": "invoice", "kind": "task", "status": "failed", "attempts": 1, "output": null, "error": "exit status 1"},
    {"id": "invoice.on_failure", "kind": "fallback", "status": "skipped", "attempts": 0, "output": null, "error": ""},
    {"id": "reserve.compensate", "kind": "compensation", "status": "pending", "attempts": 0, "output": null, "error": ""}
  ]
}`

func TestNew(t *testing.T) {
	t.Parallel()
	require.Equal(t, "http://127.0.0.1:8420", client.New("127.0.0.1:8420/", "").BaseURL())
	require.Equal(t, "https://legato.example.com/x", client.New("https://legato.example.com/x", "").BaseURL())

	var ua, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua, auth = r.UserAgent(), r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`{"runs":[]}`))
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 5 * time.Second}
	_, err := client.New(srv.URL, "", client.WithHTTPClient(hc)).Runs(t.Context(), client.RunsQuery{})
	require.NoError(t, err)
	require.Equal(t, client.DefaultUserAgent, ua)
	require.Empty(t, auth, "no token, no Authorization header")
	require.True(t, strings.HasPrefix(client.DefaultUserAgent, "legato"))
}
