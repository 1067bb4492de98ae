package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, path := range []string{"/api/v1/workflows", "/api/v1/runs", "/api/v1/runs/x", "/api/v1/schema/workflow.json", "/api/v1/nope"} {
		var e errorBody
		require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodGet, path, nil, &e), path)
		require.Equal(t, "unauthenticated", e.Error.Code)
		require.NotNil(t, e.Error.Details)
		e = errorBody{}
		require.Equal(t, http.StatusUnauthorized, b.doToken(t, "lgt_wrong", http.MethodGet, path, nil, &e), path)
		require.Equal(t, "unauthenticated", e.Error.Code)
	}
	var e errorBody
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodPost, "/api/v1/runs", map[string]any{"workflow": "x"}, &e))
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs", nil, nil))

	// Health and the OpenAPI document need no token.
	var health map[string]any
	require.Equal(t, http.StatusOK, b.doToken(t, "", http.MethodGet, "/healthz", nil, &health))
	require.Equal(t, map[string]any{"status": "ok"}, health)
	require.Equal(t, http.StatusOK, b.doToken(t, "", http.MethodGet, "/readyz", nil, &health))
	require.Equal(t, http.StatusOK, b.doToken(t, "", http.MethodGet, "/api/v1/openapi.json", nil, nil))
}

func TestUnknownEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/nope", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodDelete, "/api/v1/runs/x", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/elsewhere", nil)
}

func TestReadyzWhenStoreIsClosed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.st.Close())
	var health map[string]any
	require.Equal(t, http.StatusServiceUnavailable, b.doToken(t, "", http.MethodGet, "/readyz", nil, &health))
	require.Equal(t, "unavailable", health["status"])
	require.Equal(t, http.StatusOK, b.doToken(t, "", http.MethodGet, "/healthz", nil, nil))
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := http.Get(b.url + "/api/v1/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"))
	require.Equal(t, "test", doc.Info.Version)
	for path, methods := range map[string][]string{
		"/api/v1/workflows":                                          {"get", "post"},
		"/api/v1/workflows/{namespace}/{name}":                       {"get"},
		"/api/v1/workflows/{namespace}/{name}/versions":              {"get"},
		"/api/v1/schema/workflow.json":                               {"get"},
		"/api/v1/schedules":                                          {"get"},
		"/api/v1/schedules/{namespace}/{workflow}/{schedule}/pause":  {"post"},
		"/api/v1/schedules/{namespace}/{workflow}/{schedule}/resume": {"post"},
		"/api/v1/workflows/{namespace}/{name}/backfill":              {"post"},
		"/api/v1/runs":                    {"get", "post"},
		"/api/v1/runs/{id}":               {"get"},
		"/api/v1/runs/{id}/cancel":        {"post"},
		"/api/v1/runs/{id}/retry":         {"post"},
		"/api/v1/runs/{id}/logs":          {"get"},
		"/api/v1/runs/{id}/events":        {"get"},
		"/api/v1/workers/claim":           {"post"},
		"/api/v1/workers/heartbeat":       {"post"},
		"/api/v1/workers/release":         {"post"},
		"/api/v1/attempts/{id}/complete":  {"post"},
		"/api/v1/attempts/{id}/handoff":   {"post"},
		"/api/v1/attempts/{id}/interrupt": {"post"},
		"/api/v1/attempts/{id}/logs":      {"post"},
		"/healthz":                        {"get"},
		"/readyz":                         {"get"},
	} {
		require.Contains(t, doc.Paths, path)
		for _, m := range methods {
			require.Contains(t, doc.Paths[path], m, "%s %s", m, path)
		}
	}
	for _, name := range []string{"Run", "TaskRun", "WorkflowVersion", "LogLine", "Event", "Error", "ErrorBody", "ClaimRequest", "ClaimedAttempt", "CompleteRequest", "HandOffRequest", "ClaimSpec"} {
		require.Contains(t, doc.Components.Schemas, name)
	}
	require.Contains(t, doc.Components.SecuritySchemes, "bearer")
	// Errors are documented in the contract's shape, not problem+json.
	require.NotContains(t, string(raw), "application/problem+json")
}
