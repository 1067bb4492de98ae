package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func TestStartRunPriorityAndConcurrencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "keyed.yaml", `
name: keyed
inputs:
  customer: {type: string, required: true}
concurrency: {key: "${{ inputs.customer }}", limit: 1}
tasks:
  - id: nap
    type: sleep
    with: {duration: 1s}
`)
	var run map[string]any
	body := map[string]any{"workflow": "keyed", "inputs": map[string]any{"customer": "acme"}, "priority": 7}
	require.Equal(t, http.StatusCreated, b.do(t, http.MethodPost, "/api/v1/runs", body, &run), "%v", run)
	require.EqualValues(t, 7, run["priority"])
	require.Equal(t, "acme", run["concurrency_key"])
	require.Equal(t, "waiting", run["status"])
	// The same key waits; another key starts.
	same := b.startRun(t, "keyed", map[string]any{"customer": "acme"})
	require.Equal(t, "queued", same["status"])
	require.EqualValues(t, 0, same["priority"])
	other := b.startRun(t, "keyed", map[string]any{"customer": "globex"})
	require.Equal(t, "waiting", other["status"])

	var bad map[string]any
	body["priority"] = "high"
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/api/v1/runs", body, &bad), "%v", bad)
	require.Equal(t, "invalid_request", bad["error"].(map[string]any)["code"])
}

func TestListLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var out struct{ Limits []map[string]any }
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/limits", nil, &out))
	require.Empty(t, out.Limits)
	require.NoError(t, b.eng.PutLimits(t.Context(), []*store.Limit{
		{Kind: store.LimitQueue, Name: "billing", MaxRunning: 5},
		{Kind: store.LimitResource, Name: "crm", Rate: 10, Burst: 20},
	}))
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/limits", nil, &out))
	require.Equal(t, []map[string]any{
		{"kind": "queue", "name": "billing", "max_running": 5.0},
		{"kind": "resource", "name": "crm", "rate_per_second": 10.0, "burst": 20.0, "tokens": 20.0},
	}, out.Limits)
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodGet, "/api/v1/limits", nil, nil))
}
