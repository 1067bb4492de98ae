package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/require"
)

// TestOrderEvents runs examples/events/order-events.yaml on the real
// binary: `legato emit order.created` starts the order, which waits for
// its payment.received event, posted with the official CloudEvents Go SDK
// as a client; a payment that came before its order is not missed.
func TestOrderEvents(t *testing.T) {
	t.Parallel()
	s := startServer(t, filepath.Join(repoRoot, "examples", "events"))
	t.Cleanup(s.stop)

	// emit's --data is the event's data, so the CLI finds the server
	// through --server and --token here, not the data directory.
	emitCLI := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, time.Minute, append(append([]string{"emit"}, args...), "--server", s.url, "--token", s.token())...)
	}
	emit := func(args ...string) map[string]any {
		t.Helper()
		res := emitCLI(append(args, "-o", "json")...)
		require.Equal(t, 0, res.code, "%s", res)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), "%s", res)
		return out
	}
	out := emit("order.created", "--source", "shop", "--id", "order-A-1", "--data", `{"order_id": "A-1", "amount": 120}`)
	runs := out["runs"].([]any)
	require.Len(t, runs, 1, "%v", out)
	id := runs[0].(string)
	s.waitStatus(id, "waiting")

	// Redelivered: accepted once, nothing more starts.
	out = emit("order.created", "--source", "shop", "--id", "order-A-1", "--data", `{"order_id": "A-1", "amount": 120}`)
	require.Equal(t, true, out["duplicate"])
	require.Empty(t, out["runs"])
	// Text output says so too.
	res := emitCLI("order.created", "--source", "shop", "--id", "order-A-1")
	require.Equal(t, 0, res.code, "%s", res)
	require.Contains(t, res.stdout, "duplicate")
	// Filtered out: no run.
	require.Empty(t, emit("order.created", "--data", `{"order_id": "Z", "amount": 0}`)["runs"])

	c, err := cloudevents.NewClientHTTP(
		cloudevents.WithTarget(s.url+"/api/v1/events"),
		cehttp.WithHeader("Authorization", "Bearer "+s.token()),
	)
	require.NoError(t, err)
	pay := func(id, order string, amount float64) {
		t.Helper()
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("/bank")
		e.SetType("payment.received")
		e.SetSubject("orders/" + order)
		require.NoError(t, e.SetData(cloudevents.ApplicationJSON, map[string]any{"order_id": order, "amount": amount}))
		res := c.Send(t.Context(), e)
		require.True(t, cloudevents.IsACK(res), "%v", res)
	}
	// Another order's payment does not wake it.
	pay("pay-1", "B-9", 5)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, "waiting", s.getRun(id).Status)

	pay("pay-2", "A-1", 120)
	r := s.waitStatus(id, "succeeded")
	require.Equal(t, 120.0, r.Outputs["paid"])
	require.Equal(t, "pay-2", r.Outputs["payment_id"])
	require.Contains(t, r.Outputs["shipped"], "shipping order A-1, paid 120 by /bank")

	// The payment before the order: the wait looks back and finds it.
	pay("pay-3", "C-3", 30)
	out = emit("order.created", "--source", "shop", "--id", "order-C-3", "--data", `{"order_id": "C-3", "amount": 30}`)
	r = s.waitStatus(out["runs"].([]any)[0].(string), "succeeded")
	require.Equal(t, "pay-3", r.Outputs["payment_id"])

	// What started the run, and how long its first task took to start.
	var got struct {
		Trigger struct {
			Kind           string   `json:"kind"`
			EventID        string   `json:"event_id"`
			StartLatencyMS *float64 `json:"start_latency_ms"`
		} `json:"trigger"`
	}
	status, _ := s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &got)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "event", got.Trigger.Kind)
	require.Equal(t, "order-A-1", got.Trigger.EventID)
	require.NotNil(t, got.Trigger.StartLatencyMS)
	t.Logf("event-to-first-task latency: %.1f ms", *got.Trigger.StartLatencyMS)
}

// waitStatus polls a run until it has status (bounded), failing early on
// another final status.
func (s *server) waitStatus(id, status string) *Run {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r Run
		code, raw := s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &r)
		require.Equal(s.t, http.StatusOK, code, "%s", raw)
		if r.Status == status {
			return &r
		}
		switch r.Status {
		case "succeeded", "failed", "canceled":
			s.t.Fatalf("run %s is %s (%s), want %s: %s", id, r.Status, r.Error, status, raw)
		}
		require.True(s.t, time.Now().Before(deadline), "run %s still %s, want %s", id, r.Status, status)
		time.Sleep(20 * time.Millisecond)
	}
}
