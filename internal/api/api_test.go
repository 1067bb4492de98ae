package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/api"
	"github.com/legatohq/legato/internal/auth"
	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
	_ "github.com/legatohq/legato/internal/tasks" // registers the task types
	"github.com/legatohq/legato/internal/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testBundle is a real server: SQLite in a temp dir, the engine, an
// in-process worker and the API on a loopback port.
type testBundle struct {
	url   string
	token string
	st    store.Store
	eng   *engine.Engine
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupEnv(t, nil)
}

// setupEnv is setup with env allow-listed for expressions.
func setupEnv(t *testing.T, env map[string]string) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "legato.db"))
	require.NoError(t, err)
	token, _, err := auth.EnsureAdminToken(ctx, st, filepath.Join(dir, "admin.token"))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Options{Logger: log, Env: env})
	w := worker.New(eng, worker.Options{ID: "local:test", Logger: log, Poll: 50 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	wg.Go(func() { _ = w.Run(ctx) })
	srv := httptest.NewServer(api.New(api.Config{Engine: eng, Store: st, Auth: auth.NewVerifier(st), Logger: log, Version: "test"}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		wg.Wait()
		require.NoError(t, st.Close())
	})
	return &testBundle{url: srv.URL, token: token, st: st, eng: eng}
}

// do sends a request with the admin token and decodes the JSON answer
// into out (when not nil); it returns the status.
func (b *testBundle) do(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	return b.doToken(t, b.token, method, path, body, out)
}

func (b *testBundle) doToken(t *testing.T, token, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.url+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// requireError checks an error answer: its status, its code and the shape
// (a message and a details object).
func (b *testBundle) requireError(t *testing.T, status int, code, method, path string, body any) errorBody {
	t.Helper()
	var e errorBody
	got := b.do(t, method, path, body, &e)
	require.Equal(t, status, got, "%s %s: %+v", method, path, e)
	require.Equal(t, code, e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
	require.NotNil(t, e.Error.Details)
	return e
}

// apply applies a workflow file and returns the answer.
func (b *testBundle) apply(t *testing.T, file, src string) (int, map[string]any) {
	t.Helper()
	var out map[string]any
	status := b.do(t, http.MethodPost, "/api/v1/workflows", map[string]any{"source": src, "file": file}, &out)
	return status, out
}

// waitRun polls a run until done says so.
func (b *testBundle) waitRun(t *testing.T, id string, done func(run map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var run map[string]any
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id, nil, &run))
		if done(run) {
			return run
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "run never got there", "run %s: %v", id, run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusIs(statuses ...string) func(map[string]any) bool {
	return func(run map[string]any) bool {
		for _, s := range statuses {
			if run["status"] == s {
				return true
			}
		}
		return false
	}
}

const helloFile = `name: hello
description: Greets someone.
inputs:
  who: {type: string, required: true}
tasks:
  - id: greet
    type: shell
    with: {run: "echo hello ${{ inputs.who }}"}
  - id: done
    needs: [greet]
    type: noop
    with: {note: finished}
`

const slowFile = `name: slow
tasks:
  - id: wait
    type: noop
    with: {delay: 1m}
`

const failFile = `name: failing
tasks:
  - id: boom
    type: noop
    with: {fail: "it broke"}
`
