package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApplyWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)

	status, out := b.apply(t, "hello.yaml", helloFile)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	require.Equal(t, true, out["created"])
	wf := out["workflow"].(map[string]any)
	require.Equal(t, "default", wf["namespace"])
	require.Equal(t, "hello", wf["name"])
	require.EqualValues(t, 1, wf["version"])
	require.Equal(t, "Greets someone.", wf["description"])
	require.Equal(t, "admin", wf["created_by"])
	require.NotEmpty(t, wf["hash"])
	require.NotEmpty(t, wf["created_at"])

	// The same content again makes no new version.
	status, out = b.apply(t, "hello.yaml", helloFile)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, false, out["created"])
	require.EqualValues(t, 1, out["workflow"].(map[string]any)["version"])

	// Other content makes version 2.
	status, out = b.apply(t, "hello.yaml", helloFile+"  - id: extra\n    type: noop\n")
	require.Equal(t, http.StatusCreated, status, "%v", out)
	require.EqualValues(t, 2, out["workflow"].(map[string]any)["version"])
}

func TestApplyInvalidWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)

	bad := "name: broken\ntasks:\n  - id: a\n    type: noop\n    needs: [nowhere]\n"
	e := b.requireError(t, http.StatusUnprocessableEntity, "invalid_workflow", http.MethodPost, "/api/v1/workflows",
		map[string]any{"source": bad, "file": "broken.yaml"})
	errs, ok := e.Error.Details["errors"].([]any)
	require.True(t, ok, "details: %v", e.Error.Details)
	require.NotEmpty(t, errs)
	first := errs[0].(map[string]any)
	require.Equal(t, "broken.yaml", first["file"])
	require.Greater(t, first["line"], float64(0))
	require.Greater(t, first["col"], float64(0))
	require.NotEmpty(t, first["message"])

	// Not YAML at all.
	b.requireError(t, http.StatusUnprocessableEntity, "invalid_workflow", http.MethodPost, "/api/v1/workflows",
		map[string]any{"source": "tasks: [\n", "file": "x.yaml"})

	// A body that is not the request's shape.
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows", map[string]any{"file": "x.yaml"})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows", map[string]any{"source": ""})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows", "not an object")
}

func TestGetAndListWorkflows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	status, _ := b.apply(t, "hello.yaml", helloFile)
	require.Equal(t, http.StatusCreated, status)
	status, _ = b.apply(t, "hello.yaml", helloFile+"  - id: extra\n    type: noop\n")
	require.Equal(t, http.StatusCreated, status)
	status, _ = b.apply(t, "ops.yaml", "name: nightly\nnamespace: ops\ntasks:\n  - id: a\n    type: noop\n")
	require.Equal(t, http.StatusCreated, status)

	var list struct {
		Workflows []map[string]any `json:"workflows"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/workflows", nil, &list))
	require.Len(t, list.Workflows, 2)
	list.Workflows = nil
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/workflows?namespace=default", nil, &list))
	require.Len(t, list.Workflows, 1)
	require.Equal(t, "hello", list.Workflows[0]["name"])
	require.EqualValues(t, 2, list.Workflows[0]["version"], "the latest version")
	require.NotContains(t, list.Workflows[0], "spec")
	require.NotContains(t, list.Workflows[0], "source")

	var wf map[string]any
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/workflows/default/hello", nil, &wf))
	require.EqualValues(t, 2, wf["version"])
	require.Contains(t, wf["source"], "id: extra")
	spec := wf["spec"].(map[string]any)
	require.Equal(t, "hello", spec["name"])
	require.Len(t, spec["tasks"], 3)

	wf = nil
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/workflows/default/hello?version=1", nil, &wf))
	require.EqualValues(t, 1, wf["version"])
	require.Equal(t, helloFile, wf["source"])

	var versions struct {
		Versions []map[string]any `json:"versions"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/workflows/default/hello/versions", nil, &versions))
	require.Len(t, versions.Versions, 2)
	require.EqualValues(t, 2, versions.Versions[0]["version"], "newest first")
	require.EqualValues(t, 1, versions.Versions[1]["version"])
	require.NotContains(t, versions.Versions[0], "spec")

	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/workflows/default/nope", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/workflows/default/hello?version=9", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/workflows/default/nope/versions", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/workflows/default/hello?version=x", nil)
}

func TestWorkflowSchema(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var doc map[string]any
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/schema/workflow.json", nil, &doc))
	require.NotEmpty(t, doc)
}
