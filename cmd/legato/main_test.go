package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/sdk/client"
)

func TestMain(m *testing.M) {
	// Times print in UTC and "now" is an hour after the fake's epoch, so
	// outputs are the same on every machine.
	time.Local = time.UTC
	nowFunc = func() time.Time { return fakeEpoch.Add(time.Hour) }
	followInterval = 5 * time.Millisecond
	os.Exit(m.Run())
}

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
}

func setup(t *testing.T) testBundle {
	t.Helper()
	srv := newFakeServer()
	t.Cleanup(srv.Close)
	return testBundle{srv: srv}
}

type result struct {
	out, err string
	code     int
}

// legato runs the CLI against the bundle's server.
func (b testBundle) legato(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(append([]string{"--server", b.srv.URL, "--token", fakeToken}, args...)...)
}

func runCLI(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{out.String(), errb.String(), code}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// applyOrders applies orderYAML.
func (b testBundle) applyOrders(t *testing.T) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "orders.yaml")
	writeFile(t, f, orderYAML)
	r := b.legato(t, "apply", "-f", f)
	require.Equal(t, 0, r.code, r.err)
}

func TestApplyDir(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.yaml"), "name: beta\ntasks:\n  - id: one\n    type: noop\n")
	writeFile(t, filepath.Join(dir, "a.yml"), orderYAML)
	writeFile(t, filepath.Join(dir, "sub", "c.json"), `{"name": "gamma", "tasks": [{"id": "one", "type": "noop"}]}`)
	writeFile(t, filepath.Join(dir, "README.md"), "# not a workflow\n")

	r := b.legato(t, "apply", "-f", dir)
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "created sales/order-fulfillment v1\ncreated default/beta v1\ncreated default/gamma v1\n", r.out)
	require.Equal(t, []string{
		filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "sub", "c.json"),
	}, b.srv.Bodies(), "files are sent in lexical order")

	r = b.legato(t, "apply", "-f", filepath.Join(dir, "a.yml"), "-f", filepath.Join(dir, "b.yaml"))
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "unchanged sales/order-fulfillment v1\nunchanged default/beta v1\n", r.out)

	r = b.legato(t, "apply", "-f", filepath.Join(dir, "b.yaml"), "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	var out struct {
		Applied []struct {
			File     string
			Created  bool
			Workflow client.WorkflowVersion
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &out))
	require.Len(t, out.Applied, 1)
	require.Equal(t, "beta", out.Applied[0].Workflow.Name)
}

func TestApplyInvalidSendsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), orderYAML)
	writeFile(t, filepath.Join(dir, "b.yaml"), "tasks: [\n")
	writeFile(t, filepath.Join(dir, "c.yaml"), "description: no name\n")

	r := b.legato(t, "apply", "-f", dir)
	require.Equal(t, 1, r.code)
	require.Empty(t, r.out)
	require.Contains(t, r.err, filepath.Join(dir, "b.yaml"))
	require.Contains(t, r.err, filepath.Join(dir, "c.yaml"))
	require.Contains(t, r.err, "legato: 2 of 3 workflow files are invalid; nothing was applied")
	require.Empty(t, b.srv.Bodies(), "nothing is sent when a file is invalid")

	r = b.legato(t, "apply")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.err, "legato: apply needs at least one -f FILE or DIR")
}

func TestApplyServerRejects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(422)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_workflow","message":"o.yaml is invalid","details":{"errors":[{"file":"o.yaml","line":4,"col":7,"message":"unknown task type \"nope\""}]}}}`))
	}))
	t.Cleanup(srv.Close)
	f := filepath.Join(t.TempDir(), "o.yaml")
	writeFile(t, f, orderYAML)
	r := runCLI("--server", srv.URL, "--token", "t", "apply", "-f", f)
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: apply "+f+": invalid_workflow: o.yaml is invalid\n  o.yaml:4:7: unknown task type \"nope\"\n", r.err)
}

func TestRunInputs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOrders(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.yaml"), "order_id: FROM-FILE\namount: 5\nnested: {x: [1, 2]}\n")

	r := b.legato(t, "run", "sales/order-fulfillment", "--input-file", filepath.Join(dir, "in.yaml"),
		"-i", "order_id=A-1", "-i", "qty=12", "-i", "big=12345678901234567890", "-i", "rush=true",
		"-i", `obj={"a":1}`, "-i", "note=hello world", "-i", `quoted="12"`, "-i", "empty=", "-i", "eq=a=b", "-i", "trail=1 2")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "run-1\n", r.out)

	got := b.legato(t, "runs", "get", "run-1", "-o", "json")
	require.Equal(t, 0, got.code, got.err)
	var run struct{ Inputs json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(got.out), &run))
	require.JSONEq(t, `{"order_id":"A-1","amount":5,"nested":{"x":[1,2]},"qty":12,"big":12345678901234567890,"rush":true,
		"obj":{"a":1},"note":"hello world","quoted":"12","empty":"","eq":"a=b","trail":"1 2"}`, string(run.Inputs))

	r = b.legato(t, "run", "order-fulfillment", "-n", "sales", "--input-file", writeJSONInputs(t))
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "run-2\n", r.out)
}

func writeJSONInputs(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "in.json")
	writeFile(t, f, `{"order_id": "J-1"}`)
	return f
}

func TestRunWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOrders(t)

	r := b.legato(t, "run", "sales/order-fulfillment", "--wait")
	require.Equal(t, 0, r.code, r.err)
	require.Empty(t, r.err)
	require.Equal(t, `run-1
12:00:03 run run-1 running
12:00:04 task reserve running
12:00:05 task reserve succeeded (1.0s)
12:00:06 task invoice running
12:00:07 task invoice succeeded (1.0s)
12:00:08 run run-1 succeeded
run run-1 succeeded in 5.0s
`, r.out)

	r = b.legato(t, "run", "sales/order-fulfillment", "-w", "-i", "fail=true")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.out, "task invoice failed (1.0s): exit status 1\n")
	require.Equal(t, "legato: run run-2 failed: task invoice failed: exit status 1\n", r.err)

	r = b.legato(t, "run", "sales/order-fulfillment", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	var run client.Run
	require.NoError(t, json.Unmarshal([]byte(r.out), &run), "only the final run is printed with -o json")
	require.Equal(t, "succeeded", run.Status)
	require.Len(t, run.Tasks, 2)

	r = b.legato(t, "run", "sales/order-fulfillment", "--wait", "-o", "json", "-i", "fail=true")
	require.Equal(t, 1, r.code)
	require.NoError(t, json.Unmarshal([]byte(r.out), &run))
	require.Equal(t, "failed", run.Status)
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOrders(t)

	r := b.legato(t, "run", "nope")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: not_found: workflow default/nope not found\n", r.err)

	r = b.legato(t, "run", "sales/order-fulfillment", "-i", "bad=1")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: invalid_inputs: invalid inputs\n  bad: unknown input\n", r.err)

	for _, args := range [][]string{
		{"run"},
		{"run", "a", "b"},
		{"run", "w", "-i", "novalue"},
		{"run", "w", "-i", "=v"},
		{"run", "sales/w", "-n", "other"},
		{"run", "/w"},
		{"run", "w", "--bogus"},
		{"runs", "list", "-o", "yaml"},
		{"runs", "list", "--limit", "x"},
		{"runs", "frobnicate"},
		{"frobnicate"},
		{"logs"},
		{"logs", "r", "--index", "1"},
	} {
		r := b.legato(t, args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.err)
		require.True(t, strings.HasPrefix(r.err, "legato: "), r.err)
		require.Empty(t, r.out, args)
	}
}

func TestRunsGetJSONIsTheAPIs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetRaw("01JH0000000000000000000000", runJSON)

	r := b.legato(t, "runs", "get", "01JH0000000000000000000000", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	require.JSONEq(t, runJSON, r.out)

	r = b.legato(t, "runs", "get", "01JH0000000000000000000000")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, `Run:       01JH0000000000000000000000
Workflow:  sales/order-fulfillment v3
Status:    ✗ failed
Parent:    01JGZZZZZZZZZZZZZZZZZZZZZZ
Created:   59m ago by admin
Duration:  8.5s
Inputs:    {"amount":1200,"order_id":"A-1"}
Error:     task invoice failed: exit status 1

TASK                STATUS       ATTEMPTS  DURATION  ERROR
reserve             ✓ succeeded  2         1.0s      -
notify              ✓ succeeded  1         -         -
  notify[0]         ✓ succeeded  1         -         -
invoice             ✗ failed     1         -         exit status 1
invoice.on_failure  ↷ skipped    0         -         -
reserve.compensate  · pending    0         -         -
`, r.out)
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
     "items": {"total": 1, "succeeded": 1}},
    {"id": "notify", "index": 0, "kind": "item", "status": "succeeded", "attempts": 1, "output": "sent", "error": ""},
    {"id": "invoice", "kind": "task", "status": "failed", "attempts": 1, "output": null, "error": "exit status 1"},
    {"id": "invoice.on_failure", "kind": "fallback", "status": "skipped", "attempts": 0, "output": null, "error": ""},
    {"id": "reserve.compensate", "kind": "compensation", "status": "pending", "attempts": 0, "output": null, "error": ""}
  ]
}`

func TestRunsListCancelRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOrders(t)
	for range 3 {
		require.Equal(t, 0, b.legato(t, "run", "sales/order-fulfillment").code)
	}

	r := b.legato(t, "runs", "list", "--limit", "2", "--workflow", "order-fulfillment", "--status", "queued")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, `ID     WORKFLOW                    STATUS    CREATED  DURATION
run-3  sales/order-fulfillment v1  ○ queued  59m ago  -
run-2  sales/order-fulfillment v1  ○ queued  59m ago  -
`, r.out)
	require.Contains(t, b.srv.Requests(), "GET /api/v1/runs?limit=2&status=queued&workflow=order-fulfillment")

	r = b.legato(t, "runs", "list", "-o", "json", "--status", "failed")
	require.Equal(t, 0, r.code, r.err)
	require.JSONEq(t, `{"runs": []}`, r.out)

	r = b.legato(t, "runs", "cancel", "run-1")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "run run-1 canceled\n", r.out)

	r = b.legato(t, "runs", "cancel", "run-1")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: invalid_state: run run-1 is already canceled\n", r.err)

	r = b.legato(t, "runs", "retry", "run-1")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "run run-1 running (attempt 2)\n", r.out)

	r = b.legato(t, "runs", "cancel", "run-2")
	require.Equal(t, 0, r.code, r.err)
	r = b.legato(t, "runs", "retry", "run-2", "--wait")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "run run-2 succeeded")
}

func TestLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOrders(t)
	r := b.legato(t, "run", "sales/order-fulfillment", "-i", "fail=true")
	require.Equal(t, 0, r.code, r.err)

	// The fake moves the run one step per read: --follow reads until the
	// run has failed and prints every line once.
	r = b.legato(t, "logs", "run-1", "--follow")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "[reserve] starting reserve\n[invoice] starting invoice\n[invoice] ! boom\n", r.out)

	r = b.legato(t, "logs", "run-1", "invoice")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "[invoice] starting invoice\n[invoice] ! boom\n", r.out)

	r = b.legato(t, "logs", "run-1", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 3)
	var l client.LogLine
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &l))
	require.Equal(t, "stderr", l.Stream)

	r = b.legato(t, "logs", "nope")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: not_found: run not found\n", r.err)
}

func TestInputValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]any{
		"12":                   json.Number("12"),
		"12345678901234567890": json.Number("12345678901234567890"),
		"true":                 true,
		"null":                 nil,
		`{"a":1}`:              map[string]any{"a": json.Number("1")},
		`"x"`:                  "x",
		"hello":                "hello",
		"1 2":                  "1 2",
		"":                     "",
		"[1,":                  "[1,",
	} {
		require.Equal(t, want, inputValue(in), in)
	}
}

func TestLogText(t *testing.T) {
	t.Parallel()
	two := 2
	require.Equal(t, "[fan[2]] * retrying in 1s", logText(client.LogLine{Task: "fan", Index: &two, Stream: "system", Line: "retrying in 1s"}))
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()

	r := runCLI("--server", addr, "--token", "t", "runs", "list")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: cannot reach the server at "+addr+`: connect: connection refused (is "legato server" running? set --server or LEGATO_SERVER)`+"\n", r.err)
}

func TestTokenFromDataDir(t *testing.T) {
	t.Parallel()
	if os.Getenv("LEGATO_TOKEN") != "" {
		t.Skip("LEGATO_TOKEN is set in the environment and takes precedence over the token file")
	}
	b := setup(t)
	data := t.TempDir()

	r := runCLI("--server", b.srv.URL, "--data", data, "runs", "list")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "legato: unauthenticated: a bearer token is required\n")
	require.Contains(t, r.err, filepath.Join(data, "admin.token"))

	writeFile(t, filepath.Join(data, "admin.token"), fakeToken+"\n")
	r = runCLI("--server", b.srv.URL, "--data", data, "runs", "list")
	require.Equal(t, 0, r.code, r.err)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, orderYAML)
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "name: broken\ntasks:\n  - id: a\n    type: noop\n  - id: b\n   type: noop\n")

	r := runCLI("validate", good)
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "ok "+good+"\n", r.out)

	r = runCLI("validate", good, bad)
	require.Equal(t, 1, r.code)
	require.Equal(t, "ok "+good+"\n", r.out)
	require.True(t, strings.HasPrefix(r.err, bad+":"), r.err)
	require.Contains(t, r.err, "legato: 1 of 2 workflow files are invalid\n")

	r = runCLI("validate", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "missing.yaml")

	t.Run("spec errors with positions", func(t *testing.T) {
		f := filepath.Join(dir, "unknown.yaml")
		writeFile(t, f, "name: x\ntasks:\n  - id: a\n    type: noop\n    colour: red\n")
		r := runCLI("validate", f)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.err, f+":5:5: ")
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI("version")
	require.Equal(t, 0, r.code)
	require.Equal(t, "legato "+versionString()+"\n", r.out)
	require.NotEmpty(t, versionString())
}

func TestLiveProgress(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	p := newLiveProgress(&buf)
	started := fakeEpoch
	r := &client.Run{ID: "r1", Namespace: "default", Workflow: "w", Version: 1, Status: "running", StartedAt: started,
		Tasks: []client.TaskRun{{ID: "a", Status: "succeeded", StartedAt: started, FinishedAt: started.Add(time.Second)}, {ID: "b", Status: "pending"}}}
	p.update(r)
	done := *r
	done.Status, done.FinishedAt = "succeeded", started.Add(2*time.Second)
	p.update(&done)
	p.stop()
	out := buf.String()
	require.Contains(t, out, "✓ a")
	require.Contains(t, out, "· b")
	require.Contains(t, out, "\x1b[3A\x1b[J", "redraws over the 3 lines it drew")
	require.True(t, strings.HasSuffix(out, "✓ default/w v1  succeeded  2.0s  r1\n  ✓ a           succeeded  1.0s  \n  · b           pending          \n"), "%q", out)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerLimitFlagsRejectBadValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--queue-limit", "billing=x"},
		{"--queue-limit", "billing=5/s"},
		{"--rate-limit", "crm=5"},
		{"--rate-limit", "crm=5/fortnight"},
		{"--type-limit", "http"},
	} {
		r := runCLI(append([]string{"server", "--data", t.TempDir()}, args...)...)
		require.NotEqual(t, 0, r.code, "%v", args)
		require.Contains(t, r.err, "--"+args[0][2:], "%v", args)
		require.True(t, strings.HasPrefix(r.err, "legato: --"+args[0][2:]+": limit "), "%q", r.err)
	}
}
