package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/sdk/client"
)

// wireRecorder answers the worker endpoints with canned bodies and keeps
// what it was sent, to check the client's side of the wire format
// (sdk/worker's tests run the calls against a real server).
type wireRecorder struct {
	mu     sync.Mutex
	bodies map[string]map[string]any
}

func newWireServer(t *testing.T) (*wireRecorder, *client.Client) {
	t.Helper()
	rec := &wireRecorder{bodies: map[string]map[string]any{}}
	answers := map[string]struct {
		status int
		body   string
	}{
		"/api/v1/workers/claim": {200, `{"attempts": [{"id": 7, "lease_token": "tok", "lease_expires_at": "2026-01-02T12:00:30Z",
			"run_id": "r1", "namespace": "default", "workflow": "wf", "task": "t", "index": 2, "attempt": 1, "type": "crm.create_contact",
			"params": {"email": "ada@example.com"}, "timeout_ms": 1500, "idempotency_key": "r1/t/2", "queue": "default"}]}`},
		"/api/v1/workers/heartbeat":    {200, `{"leases": [{"id": 7, "cancel": true, "lost": false}]}`},
		"/api/v1/workers/release":      {200, `{"released": 2}`},
		"/api/v1/attempts/7/complete":  {409, `{"error": {"code": "stale_lease", "message": "attempt 7 is not held by this lease token", "details": {}}}`},
		"/api/v1/attempts/7/interrupt": {204, ``},
		"/api/v1/attempts/7/handoff": {200, `{"attempts": [{"id": 9, "lease_token": "tok9", "lease_expires_at": "2026-01-02T12:00:30Z",
			"run_id": "r1", "namespace": "default", "workflow": "wf", "task": "u", "attempt": 1, "type": "crm.add_note",
			"params": {}, "timeout_ms": 0, "idempotency_key": "r1/u", "queue": "default"}]}`},
		"/api/v1/attempts/8/handoff": {409, `{"error": {"code": "stale_lease", "message": "attempt 8 is not held by this lease token", "details": {}}}`},
		"/api/v1/attempts/7/logs":    {204, ``},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		rec.mu.Lock()
		rec.bodies[r.Method+" "+r.URL.Path] = body
		rec.mu.Unlock()
		a, ok := answers[r.URL.Path]
		if !ok {
			a.status, a.body = 404, `{"error": {"code": "not_found", "message": "no endpoint", "details": {}}}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return rec, client.New(srv.URL, fakeToken)
}

func (rec *wireRecorder) body(key string) map[string]any {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.bodies[key]
}

func TestWorkerCalls(t *testing.T) {
	t.Parallel()
	rec, c := newWireServer(t)
	ctx := t.Context()

	got, err := c.Claim(ctx, client.ClaimRequest{WorkerID: "w1", Types: []string{"crm.create_contact"}, Limit: 4, Lease: 1500 * time.Millisecond, Wait: 20 * time.Second})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"worker_id": "w1", "types": []any{"crm.create_contact"}, "limit": 4.0, "lease_seconds": 2.0, "wait_seconds": 20.0},
		rec.body("POST /api/v1/workers/claim"), "the lease is rounded up to whole seconds; a zero wait is sent")
	require.Len(t, got, 1)
	a := got[0]
	require.Equal(t, int64(7), a.ID)
	require.Equal(t, "tok", a.LeaseToken)
	require.Equal(t, 2, *a.Index)
	require.Equal(t, 1500*time.Millisecond, a.Timeout())
	require.Equal(t, "r1/t/2", a.IdempotencyKey)
	require.Equal(t, map[string]any{"email": "ada@example.com"}, a.Params)

	states, err := c.Heartbeat(ctx, "w1", 0, []client.Lease{{ID: 7, Token: "tok"}})
	require.NoError(t, err)
	require.Equal(t, []client.LeaseState{{ID: 7, Cancel: true}}, states)
	require.Equal(t, map[string]any{"worker_id": "w1", "leases": []any{map[string]any{"id": 7.0, "token": "tok"}}}, rec.body("POST /api/v1/workers/heartbeat"))

	err = c.CompleteAttempt(ctx, 7, client.AttemptResult{Token: "tok", WorkerID: "w1", Output: map[string]any{"id": "C-1"}})
	require.True(t, client.IsStaleLease(err), "%v", err)
	require.False(t, client.IsNotFound(err))
	require.Equal(t, map[string]any{"token": "tok", "worker_id": "w1", "output": map[string]any{"id": "C-1"}}, rec.body("POST /api/v1/attempts/7/complete"))

	next, err := c.HandOff(ctx, 7, client.AttemptResult{Token: "tok", Output: "ok"},
		client.ClaimRequest{WorkerID: "w1", Types: []string{"crm.add_note"}, Limit: 1, Lease: 30 * time.Second, Wait: 20 * time.Second})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"token": "tok", "worker_id": "w1", "output": "ok",
		"next": map[string]any{"types": []any{"crm.add_note"}, "limit": 1.0, "lease_seconds": 30.0}},
		rec.body("POST /api/v1/attempts/7/handoff"), "the worker id is the next claim's; a hand-off has no wait")
	require.Len(t, next, 1)
	require.Equal(t, int64(9), next[0].ID)
	require.Equal(t, "tok9", next[0].LeaseToken)
	require.Equal(t, "r1/u", next[0].IdempotencyKey)
	_, err = c.HandOff(ctx, 8, client.AttemptResult{Token: "tok", WorkerID: "w1"}, client.ClaimRequest{Types: []string{"crm.add_note"}})
	require.True(t, client.IsStaleLease(err), "%v", err)

	require.NoError(t, c.InterruptAttempt(ctx, 7, "tok", "w1"))
	require.NoError(t, c.AppendAttemptLogs(ctx, 7, "tok", []client.AttemptLogLine{{Stream: "stdout", Line: "hi"}}))
	require.Equal(t, map[string]any{"token": "tok", "lines": []any{map[string]any{"stream": "stdout", "line": "hi"}}}, rec.body("POST /api/v1/attempts/7/logs"))
	n, err := c.ReleaseWorker(ctx, "w1")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	err = c.InterruptAttempt(ctx, 8, "tok", "w1")
	require.True(t, client.IsNotFound(err))
	require.False(t, client.IsStaleLease(err))
	require.False(t, client.IsStaleLease(nil))
}
