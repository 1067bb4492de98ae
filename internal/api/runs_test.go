package api_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startRun starts a run and returns it.
func (b *testBundle) startRun(t *testing.T, workflow string, inputs map[string]any) map[string]any {
	t.Helper()
	var run map[string]any
	body := map[string]any{"workflow": workflow}
	if inputs != nil {
		body["inputs"] = inputs
	}
	require.Equal(t, http.StatusCreated, b.do(t, http.MethodPost, "/api/v1/runs", body, &run), "%v", run)
	return run
}

func (b *testBundle) applyOK(t *testing.T, file, src string) {
	t.Helper()
	status, out := b.apply(t, file, src)
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status, "%v", out)
}

func TestStartAndGetRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)

	run := b.startRun(t, "hello", map[string]any{"who": "world"})
	for _, k := range []string{"id", "namespace", "workflow", "version", "status", "inputs", "outputs", "error", "attempt", "created_at", "created_by", "tasks"} {
		require.Contains(t, run, k)
	}
	require.Equal(t, "default", run["namespace"])
	require.Equal(t, "hello", run["workflow"])
	require.EqualValues(t, 1, run["version"])
	require.EqualValues(t, 1, run["attempt"])
	require.Equal(t, "admin", run["created_by"])
	require.Equal(t, map[string]any{"who": "world"}, run["inputs"])
	require.NotContains(t, run, "parent_run_id")
	created, err := time.Parse(time.RFC3339Nano, run["created_at"].(string))
	require.NoError(t, err)
	require.Equal(t, time.UTC, created.Location())
	// The start answers with the tasks its transaction queued.
	started := run["tasks"].([]any)
	require.Len(t, started, 1, "%v", started)
	greet := started[0].(map[string]any)
	require.Equal(t, "greet", greet["id"])
	require.Contains(t, []any{"queued", "running"}, greet["status"])
	require.EqualValues(t, 1, greet["attempts"])

	id := run["id"].(string)
	run = b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Contains(t, run, "started_at")
	require.Contains(t, run, "finished_at")
	require.True(t, strings.HasSuffix(run["finished_at"].(string), "Z"))

	tasks := run["tasks"].([]any)
	require.Len(t, tasks, 2)
	greet, done := tasks[0].(map[string]any), tasks[1].(map[string]any)
	require.Equal(t, "greet", greet["id"], "file order")
	require.Equal(t, "done", done["id"])
	for _, tr := range []map[string]any{greet, done} {
		require.Equal(t, "task", tr["kind"])
		require.Equal(t, "succeeded", tr["status"])
		require.EqualValues(t, 1, tr["attempts"])
		require.NotContains(t, tr, "index")
		require.NotContains(t, tr, "items")
		for _, k := range []string{"output", "error", "started_at", "finished_at"} {
			require.Contains(t, tr, k)
		}
	}
}

func TestStartRunErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)

	e := b.requireError(t, http.StatusUnprocessableEntity, "invalid_inputs", http.MethodPost, "/api/v1/runs",
		map[string]any{"workflow": "hello"})
	require.NotEmpty(t, e.Error.Details["problems"])
	b.requireError(t, http.StatusUnprocessableEntity, "invalid_inputs", http.MethodPost, "/api/v1/runs",
		map[string]any{"workflow": "hello", "inputs": map[string]any{"who": 42}})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/runs", map[string]any{"workflow": "nope"})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/runs",
		map[string]any{"workflow": "hello", "version": 7, "inputs": map[string]any{"who": "x"}})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/runs", map[string]any{"workflow": ""})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/runs", map[string]any{"workflow": "hello", "version": -1})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/runs/no-such-run", nil)
}

func TestListRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)
	b.applyOK(t, "fail.yaml", failFile)
	first := b.startRun(t, "hello", map[string]any{"who": "a"})
	second := b.startRun(t, "hello", map[string]any{"who": "b"})
	failed := b.startRun(t, "failing", nil)
	b.waitRun(t, failed["id"].(string), statusIs("failed"))
	b.waitRun(t, first["id"].(string), statusIs("succeeded"))
	b.waitRun(t, second["id"].(string), statusIs("succeeded"))

	list := func(query string) []map[string]any {
		t.Helper()
		var out struct {
			Runs []map[string]any `json:"runs"`
		}
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs"+query, nil, &out))
		return out.Runs
	}
	all := list("")
	require.Len(t, all, 3)
	require.Equal(t, failed["id"], all[0]["id"], "newest first")
	require.Equal(t, first["id"], all[2]["id"])
	require.NotContains(t, all[0], "tasks")

	require.Len(t, list("?workflow=hello"), 2)
	require.Len(t, list("?namespace=default&workflow=hello&status=succeeded"), 2)
	require.Len(t, list("?status=failed"), 1)
	require.Len(t, list("?namespace=other"), 0)
	require.Len(t, list("?limit=1"), 1)
	older := list("?before=" + url.QueryEscape(all[0]["created_at"].(string)))
	require.Len(t, older, 2)
	require.Equal(t, second["id"], older[0]["id"])

	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs?status=bogus", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs?limit=0", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs?limit=abc", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs?before=yesterday", nil)
}

func TestCancelRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "slow.yaml", slowFile)
	run := b.startRun(t, "slow", nil)
	id := run["id"].(string)
	b.waitRun(t, id, func(r map[string]any) bool {
		tasks, _ := r["tasks"].([]any)
		return len(tasks) == 1 && tasks[0].(map[string]any)["status"] == "running"
	})

	var canceled map[string]any
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/cancel", nil, &canceled), "%v", canceled)
	require.Equal(t, id, canceled["id"])
	require.Contains(t, canceled, "tasks")
	run = b.waitRun(t, id, statusIs("canceled"))
	require.Contains(t, run, "finished_at")

	b.requireError(t, http.StatusConflict, "invalid_state", http.MethodPost, "/api/v1/runs/"+id+"/cancel", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/runs/no-such-run/cancel", nil)

	// A canceled run can be retried.
	var retried map[string]any
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/retry", nil, &retried), "%v", retried)
	require.EqualValues(t, 2, retried["attempt"])
	require.Contains(t, []any{"queued", "running"}, retried["status"])
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/cancel", nil, nil))
}

func TestRetryRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)
	b.applyOK(t, "slow.yaml", slowFile)
	b.applyOK(t, "fail.yaml", failFile)

	ok := b.startRun(t, "hello", map[string]any{"who": "x"})
	b.waitRun(t, ok["id"].(string), statusIs("succeeded"))
	b.requireError(t, http.StatusConflict, "invalid_state", http.MethodPost, "/api/v1/runs/"+ok["id"].(string)+"/retry", nil)

	slow := b.startRun(t, "slow", nil)
	b.requireError(t, http.StatusConflict, "invalid_state", http.MethodPost, "/api/v1/runs/"+slow["id"].(string)+"/retry", nil)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+slow["id"].(string)+"/cancel", nil, nil))

	failed := b.startRun(t, "failing", nil)
	id := failed["id"].(string)
	run := b.waitRun(t, id, statusIs("failed"))
	require.NotEmpty(t, run["error"])
	task := run["tasks"].([]any)[0].(map[string]any)
	require.Equal(t, "failed", task["status"])
	require.Contains(t, task["error"], "it broke")

	var retried map[string]any
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/retry", nil, &retried), "%v", retried)
	require.EqualValues(t, 2, retried["attempt"])
	b.waitRun(t, id, statusIs("failed"))
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/runs/no-such-run/retry", nil)
}

func TestLogsAndEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)
	id := b.startRun(t, "hello", map[string]any{"who": "logs"})["id"].(string)
	b.waitRun(t, id, statusIs("succeeded"))

	type logPage struct {
		Lines []map[string]any `json:"lines"`
		Next  int64            `json:"next"`
	}
	var page logPage
	// The worker flushes logs in the background: wait for the line.
	deadline := time.Now().Add(10 * time.Second)
	for {
		page = logPage{}
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/logs?task=greet", nil, &page))
		if hasLine(page.Lines, "hello logs") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.True(t, hasLine(page.Lines, "hello logs"), "%v", page.Lines)
	l := page.Lines[0]
	for _, k := range []string{"seq", "task", "attempt", "stream", "line", "at"} {
		require.Contains(t, l, k)
	}
	require.NotContains(t, l, "index")
	require.Equal(t, "greet", l["task"])
	require.EqualValues(t, page.Lines[len(page.Lines)-1]["seq"], page.Next)

	// Reading on from next gives nothing new, and next stays.
	var rest logPage
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/logs?after="+itoa(page.Next), nil, &rest))
	require.Empty(t, rest.Lines)
	require.Equal(t, page.Next, rest.Next)
	var none logPage
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/logs?task=greet&index=3", nil, &none))
	require.Empty(t, none.Lines)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/logs?limit=1", nil, &none))
	require.Len(t, none.Lines, 1)

	var events struct {
		Events []map[string]any `json:"events"`
		Next   int64            `json:"next"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/events", nil, &events))
	require.NotEmpty(t, events.Events)
	first := events.Events[0]
	require.Equal(t, "run.created", first["type"])
	require.Equal(t, "admin", first["actor"])
	for _, k := range []string{"seq", "type", "data", "actor", "at"} {
		require.Contains(t, first, k)
	}
	require.NotContains(t, first, "task")
	require.NotContains(t, first, "index")
	require.EqualValues(t, events.Events[len(events.Events)-1]["seq"], events.Next)
	sawTask := false
	for _, ev := range events.Events {
		if ev["task"] == "greet" {
			sawTask = true
		}
	}
	require.True(t, sawTask, "the journal names tasks: %v", events.Events)

	var paged struct {
		Events []map[string]any `json:"events"`
		Next   int64            `json:"next"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/events?limit=1&after="+itoa(int64(first["seq"].(float64))), nil, &paged))
	require.Len(t, paged.Events, 1)
	require.Equal(t, events.Events[1]["seq"], paged.Events[0]["seq"])

	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/runs/no-such-run/logs", nil)
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodGet, "/api/v1/runs/no-such-run/events", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs/"+id+"/logs?index=x", nil)
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodGet, "/api/v1/runs/"+id+"/events?after=-1", nil)
}

func hasLine(lines []map[string]any, text string) bool {
	for _, l := range lines {
		if strings.Contains(l["line"].(string), text) {
			return true
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
