package api_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/require"
)

const orderTrigger = `
name: on-order
inputs: {order_id: {type: string, required: true}}
triggers:
  - event: order.created
    filter: event.data.amount > 0
    inputs: {order_id: "${{ event.data.order_id }}"}
tasks: [{id: a, type: noop, with: {order: "${{ inputs.order_id }}"}}]
`

// postEvent posts raw bytes to /api/v1/events with headers (and the token).
func (b *testBundle) postEvent(t *testing.T, body []byte, headers map[string]string) (int, map[string]any) {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + b.token}
	maps.Copy(h, headers)
	return b.post(t, "/api/v1/events", body, h)
}

var structured = map[string]string{"Content-Type": "application/cloudevents+json"}

func TestPostEventStructuredAndDedupe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "on-order.yaml", orderTrigger)
	ev := []byte(`{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.created","subject":"orders/1",
		"time":"2026-12-01T10:00:00Z","data":{"order_id":"o-1","amount":12}}`)
	status, out := b.postEvent(t, ev, structured)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	require.Equal(t, false, out["duplicate"])
	runs := out["runs"].([]any)
	require.Len(t, runs, 1)
	stored := out["event"].(map[string]any)
	require.Equal(t, "e-1", stored["id"])
	require.Equal(t, "orders/1", stored["subject"])
	require.Equal(t, "2026-12-01T10:00:00Z", stored["time"])
	require.Equal(t, "default", stored["namespace"])
	require.Equal(t, map[string]any{"order_id": "o-1", "amount": 12.0}, stored["data"])

	run := b.waitRun(t, runs[0].(string), statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Equal(t, map[string]any{"order_id": "o-1"}, run["inputs"])
	trig := run["trigger"].(map[string]any)
	require.Equal(t, "event", trig["kind"])
	require.Equal(t, "order.created", trig["name"])
	require.Equal(t, "e-1", trig["event_id"])
	require.Equal(t, "/shop", trig["event_source"])
	require.Contains(t, trig, "start_latency_ms")

	// The same id and source again, even with other data: accepted once.
	again := bytes.Replace(ev, []byte(`"amount":12`), []byte(`"amount":99`), 1)
	status, out = b.postEvent(t, again, structured)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, out["duplicate"])
	require.Empty(t, out["runs"])
	require.Equal(t, 12.0, out["event"].(map[string]any)["data"].(map[string]any)["amount"])

	// Filtered out: stored, no run.
	status, out = b.postEvent(t, []byte(`{"specversion":"1.0","id":"e-2","source":"/shop","type":"order.created","data":{"order_id":"o-2","amount":0}}`), structured)
	require.Equal(t, http.StatusAccepted, status)
	require.Empty(t, out["runs"])

	var list struct{ Events []map[string]any }
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/events?type=order.created", nil, &list))
	require.Len(t, list.Events, 2)
	require.Equal(t, "e-1", list.Events[0]["id"])
}

func TestPostEventBinaryMode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "on-order.yaml", orderTrigger)
	status, out := b.postEvent(t, []byte(`{"order_id":"o-9","amount":3}`), map[string]string{
		"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "/shop",
		"ce-type": "order.created", "ce-subject": "orders/9", "ce-time": "2026-12-01T10:00:00Z",
	})
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	require.Len(t, out["runs"], 1)
	require.Equal(t, "orders/9", out["event"].(map[string]any)["subject"])

	// Text data stays text.
	status, out = b.postEvent(t, []byte("plain words"), map[string]string{
		"Content-Type": "text/plain", "ce-specversion": "1.0", "ce-id": "b-2", "ce-source": "/shop", "ce-type": "note",
	})
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	require.Equal(t, "plain words", out["event"].(map[string]any)["data"])

	// No data at all.
	status, out = b.postEvent(t, nil, map[string]string{"ce-specversion": "1.0", "ce-id": "b-3", "ce-source": "/shop", "ce-type": "ping"})
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	require.NotContains(t, out["event"], "data")
}

func TestPostEventRejectsBadEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, c := range map[string]struct {
		body    string
		headers map[string]string
		msg     string
	}{
		"not json":     {"{", structured, "not a CloudEvent in JSON"},
		"missing":      {`{"specversion":"1.0","type":"x"}`, structured, "no id, source"},
		"version":      {`{"specversion":"0.3","id":"1","source":"s","type":"x"}`, structured, "only CloudEvents 1.0"},
		"time":         {`{"specversion":"1.0","id":"1","source":"s","type":"x","time":"yesterday"}`, structured, "not an RFC 3339 time"},
		"content type": {`x`, map[string]string{"Content-Type": "text/plain"}, "structured mode"},
		"binary":       {`{}`, map[string]string{"ce-specversion": "1.0", "ce-id": "1"}, "no source, type"},
	} {
		status, out := b.postEvent(t, []byte(c.body), c.headers)
		require.Equal(t, http.StatusBadRequest, status, name)
		require.Contains(t, out["error"].(map[string]any)["message"], c.msg, name)
	}
	var list struct{ Events []map[string]any }
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/events", nil, &list))
	require.Empty(t, list.Events, "a rejected event is not stored")

	// The endpoint needs the API token.
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodPost, "/api/v1/events", map[string]any{}, nil))
}

// TestPostEventWithTheCloudEventsSDK posts with the official Go SDK as a
// client, in both of its HTTP encodings.
func TestPostEventWithTheCloudEventsSDK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "on-order.yaml", orderTrigger)
	c, err := cloudevents.NewClientHTTP(
		cloudevents.WithTarget(b.url+"/api/v1/events"),
		cehttp.WithHeader("Authorization", "Bearer "+b.token),
	)
	require.NoError(t, err)
	for i, encoding := range []func(context.Context) context.Context{cloudevents.WithEncodingBinary, cloudevents.WithEncodingStructured} {
		e := cloudevents.NewEvent()
		e.SetID([]string{"sdk-binary", "sdk-structured"}[i])
		e.SetSource("/sdk")
		e.SetType("order.created")
		e.SetTime(time.Now())
		require.NoError(t, e.SetData(cloudevents.ApplicationJSON, map[string]any{"order_id": e.ID(), "amount": 5}))
		res := c.Send(encoding(t.Context()), e)
		require.True(t, cloudevents.IsACK(res), "%v", res)
		var httpRes *cehttp.Result
		require.True(t, cloudevents.ResultAs(res, &httpRes))
		require.Equal(t, http.StatusAccepted, httpRes.StatusCode)
		// A redelivery is acknowledged too, and changes nothing.
		res = c.Send(encoding(t.Context()), e)
		require.True(t, cloudevents.IsACK(res), "%v", res)
	}
	var list struct{ Runs []map[string]any }
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs?workflow=on-order", nil, &list))
	require.Len(t, list.Runs, 2)
}
