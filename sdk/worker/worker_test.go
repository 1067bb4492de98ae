package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
	"github.com/legatohq/legato/sdk/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoFile runs one task of the external type test.echo; the handlers of
// the tests decide what it does from the input "mode".
const echoFile = `name: echo
inputs:
  mode: {type: string, default: ok}
tasks:
  - id: echo
    type: test.echo
    with: {greeting: hello, mode: "${{ inputs.mode }}"}
    timeout: 10s
    retry: {attempts: 3, backoff: fixed, initial: 100ms, jitter: 0}
outputs:
  said: "${{ tasks.echo.output.said }}"
`

// timeoutFile's task has 300ms.
const timeoutFile = `name: short
tasks:
  - id: echo
    type: test.echo
    with: {mode: block}
    timeout: 300ms
`

// testBundle is a real server (SQLite, the HTTP API on loopback, no
// in-process workers) with the test workflows applied, and its client. Only
// the tests import Legato's internal packages; the SDK does not.
type testBundle struct {
	srv *apitest.Server
	c   *client.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv := apitest.Run(t, 0)
	b := &testBundle{srv: srv, c: client.New(srv.URL, srv.Token)}
	for _, src := range []string{echoFile, timeoutFile} {
		_, _, err := b.c.Apply(t.Context(), "test.yaml", []byte(src))
		require.NoError(t, err)
	}
	return b
}

// logBuffer collects a worker's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a worker whose Run is going on.
type running struct {
	w    *worker.Worker
	logs *logBuffer
	stop context.CancelFunc
	done chan error
}

// Stop ends Run's context and returns what Run returned.
func (r *running) Stop(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the worker did not stop 20s after its context ended", "logs:\n%s", r.logs)
		return nil
	}
}

// start makes a worker with the handler of test.echo and runs it until the
// test ends.
func (b *testBundle) start(t *testing.T, o worker.Options, h worker.HandlerFunc) *running {
	t.Helper()
	return b.startWith(t, b.c, o, h)
}

func (b *testBundle) startWith(t *testing.T, c *client.Client, o worker.Options, h worker.HandlerFunc) *running {
	t.Helper()
	logs := &logBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	w := worker.New(c, o)
	w.Handle("test.echo", h)
	ctx, stop := context.WithCancel(context.Background())
	r := &running{w: w, logs: logs, stop: stop, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		require.NoError(t, r.Stop(t))
		if t.Failed() {
			t.Logf("worker %s logs:\n%s", w.ID(), logs)
		}
	})
	return r
}

// runWorkflow starts a run and waits for its end.
func (b *testBundle) runWorkflow(t *testing.T, workflow string, inputs map[string]any) *client.Run {
	t.Helper()
	r, err := b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: workflow, Inputs: inputs})
	require.NoError(t, err)
	return b.wait(t, r.ID)
}

func (b *testBundle) wait(t *testing.T, id string) *client.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := b.c.Wait(ctx, id, nil)
	require.NoError(t, err, "run %s: %+v", id, r)
	return r
}

func onlyTask(t *testing.T, r *client.Run) client.TaskRun {
	t.Helper()
	require.Len(t, r.Tasks, 1)
	return r.Tasks[0]
}

// echo is the well-behaved handler: it says hello and tells what it got.
func echo(_ context.Context, t *worker.Task) (any, error) {
	var p struct {
		Greeting string `json:"greeting"`
		Mode     string `json:"mode"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	t.Logf("saying %s (attempt %d)", p.Greeting, t.Attempt)
	t.Log(worker.Stderr, "first\nsecond")
	return map[string]any{"said": p.Greeting, "key": t.IdempotencyKey, "attempt": t.Attempt, "index": t.Index, "timeout": t.Timeout.String()}, nil
}

func TestRunsAnAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t, worker.Options{ID: "echo-1"}, echo)

	r := b.runWorkflow(t, "echo", nil)
	require.Equal(t, client.StatusSucceeded, r.Status, r.Error)
	require.Equal(t, "hello", r.Outputs.(map[string]any)["said"])
	task := onlyTask(t, r)
	require.Equal(t, 1, task.Attempts)
	require.Equal(t, map[string]any{"said": "hello", "key": r.ID + "/echo", "attempt": 1.0, "index": -1.0, "timeout": "10s"}, task.Output)

	// The lines are stored before the result, so they are there once the
	// run has finished.
	lines, _, err := b.c.Logs(t.Context(), r.ID, client.LogsQuery{Task: "echo"})
	require.NoError(t, err)
	var got []string
	for _, l := range lines {
		got = append(got, l.Stream+" "+l.Line)
	}
	require.Equal(t, []string{"stdout saying hello (attempt 1)", "stderr first", "stderr second"}, got)

	evs, _, err := b.c.Events(t.Context(), r.ID, 0)
	require.NoError(t, err)
	require.True(t, hasEvent(evs, "attempt.done", "worker:echo-1"), "%+v", evs)
}

func hasEvent(evs []client.Event, typ, actor string) bool {
	for _, e := range evs {
		if e.Type == typ && e.Actor == actor {
			return true
		}
	}
	return false
}

func TestFailuresAndRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t, worker.Options{ID: "echo-1", Concurrency: 4}, func(ctx context.Context, t *worker.Task) (any, error) {
		switch t.Params["mode"] {
		case "flaky":
			if t.Attempt == 1 {
				return nil, errors.New("the CRM answered 503")
			}
		case "fatal":
			return nil, worker.NonRetryable(errors.New("no such customer"))
		case "panic":
			panic("boom")
		case "bad-params":
			var p struct {
				Greeting int `json:"greeting"`
			}
			return nil, t.Decode(&p)
		case "not-json":
			return map[string]any{"ch": make(chan int)}, nil
		}
		return echo(ctx, t)
	})

	for _, c := range []struct {
		mode, status string
		attempts     int
		err          string
	}{
		{"flaky", client.StatusSucceeded, 2, ""},
		{"fatal", client.StatusFailed, 1, "no such customer"},
		{"panic", client.StatusFailed, 1, "the handler of test.echo panicked: boom"},
		{"bad-params", client.StatusFailed, 1, "params of test.echo: json: cannot unmarshal string"},
		{"not-json", client.StatusFailed, 1, "the output of test.echo is not JSON"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			r := b.runWorkflow(t, "echo", map[string]any{"mode": c.mode})
			require.Equal(t, c.status, r.Status, r.Error)
			task := onlyTask(t, r)
			require.Equal(t, c.attempts, task.Attempts, "a retryable failure is retried, a non-retryable one is not")
			require.Contains(t, task.Error, c.err)
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t, worker.Options{}, func(ctx context.Context, _ *worker.Task) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r := b.runWorkflow(t, "short", nil)
	require.Equal(t, client.StatusFailed, r.Status)
	require.Contains(t, onlyTask(t, r).Error, "timed out after 300ms (context deadline exceeded)")
}

// blocking is a handler that waits for its context to end and tells when
// it started and why it stopped.
type blocking struct {
	started chan *worker.Task
	stopped chan error
}

func newBlocking() *blocking {
	return &blocking{started: make(chan *worker.Task, 4), stopped: make(chan error, 4)}
}

func (h *blocking) handle(ctx context.Context, t *worker.Task) (any, error) {
	h.started <- t
	<-ctx.Done()
	h.stopped <- ctx.Err()
	return nil, ctx.Err()
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		require.FailNow(t, "timed out waiting: "+what)
		var zero T
		return zero
	}
}

func TestCancelReachesTheHandler(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := newBlocking()
	w := b.start(t, worker.Options{ID: "echo-1", LeaseFor: 3 * time.Second}, h.handle)

	r, err := b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: "echo", Inputs: map[string]any{"mode": "block"}})
	require.NoError(t, err)
	receive(t, h.started, "the handler to start")
	_, err = b.c.CancelRun(t.Context(), r.ID)
	require.NoError(t, err)
	// The next heartbeat (every second) tells the worker.
	require.ErrorIs(t, receive(t, h.stopped, "the cancel to reach the handler"), context.Canceled)
	final := b.wait(t, r.ID)
	require.Equal(t, client.StatusCanceled, final.Status)
	require.Equal(t, client.StatusCanceled, onlyTask(t, final).Status)
	require.Eventually(t, func() bool { return strings.Contains(w.logs.String(), "attempt canceled by its run") }, 5*time.Second, 20*time.Millisecond)
	require.NotContains(t, w.logs.String(), "refused", "the canceled acknowledgement is accepted")
}

func TestStopInterruptsAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := newBlocking()
	first := b.start(t, worker.Options{ID: "first"}, h.handle)

	r, err := b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: "echo", Inputs: map[string]any{"mode": "block"}})
	require.NoError(t, err)
	task := receive(t, h.started, "the first worker to start the attempt")
	require.Equal(t, 1, task.Attempt)

	start := time.Now()
	require.NoError(t, first.Stop(t))
	require.Less(t, time.Since(start), 5*time.Second, "a stop does not wait for long polls or leases")
	require.ErrorIs(t, receive(t, h.stopped, "the handler to stop"), context.Canceled)

	// A second worker runs it again at once: the interruption is not a
	// failure and waits for no retry delay.
	b.start(t, worker.Options{ID: "second"}, echo)
	final := b.wait(t, r.ID)
	require.Equal(t, client.StatusSucceeded, final.Status, final.Error)
	tr := onlyTask(t, final)
	// Attempt 2 normally; 3 when the first worker's last long poll took
	// attempt 2 as the worker went away (the server gives it back at once).
	require.Contains(t, []int{2, 3}, tr.Attempts)
	require.EqualValues(t, tr.Attempts, tr.Output.(map[string]any)["attempt"])
	evs, _, err := b.c.Events(t.Context(), r.ID, 0)
	require.NoError(t, err)
	require.True(t, hasEvent(evs, "attempt.done", "worker:first"), "the interruption is recorded as the first worker's: %+v", evs)
	require.True(t, hasEvent(evs, "attempt.done", "worker:second"), "%+v", evs)
	for _, e := range evs {
		if e.Type == "attempt.done" && e.Actor == "worker:first" {
			require.Contains(t, e.Data.(map[string]any)["error"], "interrupted", "an interruption is not a failure: %+v", e)
		}
	}
}

// tokenRecorder is a transport that remembers the lease tokens of the
// attempts its client claims.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens map[int64]string
}

func (tr *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/workers/claim") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var body struct{ Attempts []client.Attempt }
	if json.Unmarshal(raw, &body) == nil {
		tr.mu.Lock()
		for _, a := range body.Attempts {
			tr.tokens[a.ID] = a.LeaseToken
		}
		tr.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, nil
}

func (tr *tokenRecorder) token(id int64) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.tokens[id]
}

func TestLostLeaseIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := &tokenRecorder{tokens: map[int64]string{}}
	c := client.New(b.srv.URL, b.srv.Token, client.WithHTTPClient(&http.Client{Transport: rec}))
	h := newBlocking()
	w := b.startWith(t, c, worker.Options{ID: "echo-1", LeaseFor: 3 * time.Second}, func(ctx context.Context, t *worker.Task) (any, error) {
		if t.Attempt == 1 {
			return h.handle(ctx, t)
		}
		return echo(ctx, t)
	})

	r, err := b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: "echo", Inputs: map[string]any{"mode": "block"}})
	require.NoError(t, err)
	task := receive(t, h.started, "the handler to start")
	// Someone else gives the attempt back (as the server does when a lease
	// expires): the worker's lease is lost.
	require.NoError(t, b.c.InterruptAttempt(t.Context(), task.AttemptID, rec.token(task.AttemptID), "elsewhere"))
	require.ErrorIs(t, receive(t, h.stopped, "the lost lease to stop the handler"), context.Canceled)

	final := b.wait(t, r.ID)
	require.Equal(t, client.StatusSucceeded, final.Status, final.Error)
	require.Equal(t, 2, onlyTask(t, final).Attempts)
	require.Eventually(t, func() bool { return strings.Contains(w.logs.String(), "attempt dropped: its lease was lost") }, 5*time.Second, 20*time.Millisecond)
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	w := b.start(t, worker.Options{ID: "echo-1", LeaseFor: 30 * time.Second}, func(ctx context.Context, t *worker.Task) (any, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return echo(ctx, t)
	})
	r, err := b.c.StartRun(t.Context(), client.StartRunRequest{Workflow: "echo"})
	require.NoError(t, err)
	receive(t, started, "the handler to start")

	// The server stops while the attempt runs; the result is reported
	// once it is back.
	require.NoError(t, b.srv.Close())
	close(release)
	require.Eventually(t, func() bool { return strings.Contains(w.logs.String(), "attempt report failed, trying again") }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, b.srv.Start())

	final := b.wait(t, r.ID)
	require.Equal(t, client.StatusSucceeded, final.Status, final.Error)
	require.Equal(t, 1, onlyTask(t, final).Attempts)

	// And the worker claims again.
	again := b.runWorkflow(t, "echo", nil)
	require.Equal(t, client.StatusSucceeded, again.Status, again.Error)
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	err := worker.New(b.c, worker.Options{}).Run(t.Context())
	require.ErrorContains(t, err, "no handlers")

	bad := worker.New(client.New(b.srv.URL, "lgt_wrong"), worker.Options{Logger: slog.New(slog.DiscardHandler)})
	bad.Handle("test.echo", echo)
	err = bad.Run(t.Context())
	require.Error(t, err, "a bad token is not worth retrying")
	var ae *client.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, client.CodeUnauthenticated, ae.Code)

	require.ErrorContains(t, bad.Run(t.Context()), "Run called twice")
	require.Panics(t, func() { bad.Handle("test.echo", echo) }, "a type registered twice")
	require.Panics(t, func() { bad.Handle("", echo) })
}

func TestNonRetryable(t *testing.T) {
	t.Parallel()
	require.NoError(t, worker.NonRetryable(nil))
	base := errors.New("no such customer")
	err := worker.NonRetryable(base)
	require.True(t, worker.IsNonRetryable(err))
	require.True(t, worker.IsNonRetryable(errors.Join(errors.New("create contact"), err)), "seen through wrapping")
	require.ErrorIs(t, err, base)
	require.Equal(t, "no such customer", err.Error())
	require.False(t, worker.IsNonRetryable(base))
}

// requestCounter is a transport that counts the requests its client
// sends, by the last element of their path (claim, handoff, complete…).
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (rc *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	rc.mu.Lock()
	rc.n[path.Base(req.URL.Path)]++
	rc.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (rc *requestCounter) count(op string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n[op]
}

// chainFile returns a workflow of n tasks of test.echo, each after the
// one before and fed its output; the task of index slow has mode "slow".
func chainFile(n, slow int) string {
	var b strings.Builder
	const retry = "    retry: {attempts: 3, backoff: fixed, initial: 100ms, jitter: 0}\n"
	b.WriteString("name: chain\ntasks:\n  - id: t0\n    type: test.echo\n    with: {greeting: go}\n" + retry)
	for i := 1; i < n; i++ {
		mode := "ok"
		if i == slow {
			mode = "slow"
		}
		fmt.Fprintf(&b, "  - id: t%d\n    needs: [t%d]\n    type: test.echo\n    with: {greeting: \"${{ tasks.t%d.output.said }}\", mode: %s}\n"+retry, i, i-1, i-1, mode)
	}
	fmt.Fprintf(&b, "outputs:\n  said: \"${{ tasks.t%d.output.said }}\"\n", n-1)
	return b.String()
}

// chainHandler says its greeting with a "!"; in mode "slow" it first
// takes 3.5s.
func chainHandler(ctx context.Context, t *worker.Task) (any, error) {
	var p struct{ Greeting, Mode string }
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	if p.Mode == "slow" {
		select {
		case <-time.After(3500 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return map[string]any{"said": p.Greeting + "!"}, nil
}

func (b *testBundle) applyChain(t *testing.T, tasks, slow int) {
	t.Helper()
	_, _, err := b.c.Apply(t.Context(), "chain.yaml", []byte(chainFile(tasks, slow)))
	require.NoError(t, err)
}

func TestHandOffRunsAChainInOneSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const tasks = 6
	b.applyChain(t, tasks, 2)
	rc := &requestCounter{n: map[string]int{}}
	c := client.New(b.srv.URL, b.srv.Token, client.WithHTTPClient(&http.Client{Transport: rc}))
	// The slow task runs longer than the lease: it succeeds at its first
	// attempt only if the heartbeats renew the lease of an attempt that a
	// hand-off gave the worker.
	b.startWith(t, c, worker.Options{ID: "chain-1", LeaseFor: 2 * time.Second}, chainHandler)

	r := b.runWorkflow(t, "chain", nil)
	require.Equal(t, client.StatusSucceeded, r.Status, r.Error)
	require.Equal(t, "go"+strings.Repeat("!", tasks), r.Outputs.(map[string]any)["said"])
	require.Len(t, r.Tasks, tasks)
	for _, tr := range r.Tasks {
		require.Equal(t, 1, tr.Attempts, "task %s: no attempt lost its lease", tr.ID)
	}

	// The first task was claimed; each result was reported with a
	// hand-off, which took the next task (the last one took nothing).
	require.Equal(t, tasks, rc.count("handoff"))
	require.Zero(t, rc.count("complete"))
	require.Less(t, rc.count("claim"), tasks, "the claim loop's polls: the first, and the one waiting since")
	evs, _, err := b.c.Events(t.Context(), r.ID, 0)
	require.NoError(t, err)
	for _, e := range evs {
		if e.Type == "attempt.done" {
			require.Equal(t, "worker:chain-1", e.Actor)
		}
	}
}

// faultyHandOff is a transport that spoils hand-offs: with notFound it
// answers them 404 as a server without the endpoint does; otherwise it
// sends the first one and loses its answer, as a network can.
type faultyHandOff struct {
	notFound bool

	mu       sync.Mutex
	handOffs int
	complete int
}

func (f *faultyHandOff) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	op := path.Base(req.URL.Path)
	if op == "complete" {
		f.complete++
	}
	if op == "handoff" {
		f.handOffs++
	}
	n := f.handOffs
	f.mu.Unlock()
	switch {
	case op != "handoff":
	case f.notFound:
		return &http.Response{
			StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json"}}, Request: req,
			Body: io.NopCloser(strings.NewReader(`{"error": {"code": "not_found", "message": "no such endpoint", "details": {}}}`)),
		}, nil
	case n == 1:
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return nil, errors.New("connection reset (the test lost the answer)")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (f *faultyHandOff) completions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.complete
}

func TestHandOffRefusedFallsBackToComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyChain(t, 3, -1)
	f := &faultyHandOff{notFound: true}
	c := client.New(b.srv.URL, b.srv.Token, client.WithHTTPClient(&http.Client{Transport: f}))
	b.startWith(t, c, worker.Options{ID: "old-server-1"}, chainHandler)

	// Every result is reported as before the hand-off: none is lost.
	r := b.runWorkflow(t, "chain", nil)
	require.Equal(t, client.StatusSucceeded, r.Status, r.Error)
	require.Equal(t, "go!!!", r.Outputs.(map[string]any)["said"])
	for _, tr := range r.Tasks {
		require.Equal(t, 1, tr.Attempts, "task %s", tr.ID)
	}
	require.Equal(t, 3, f.completions())
}

func TestHandOffLostAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyChain(t, 3, -1)
	f := &faultyHandOff{}
	c := client.New(b.srv.URL, b.srv.Token, client.WithHTTPClient(&http.Client{Transport: f}))
	w := b.startWith(t, c, worker.Options{ID: "chain-1", LeaseFor: 2 * time.Second}, chainHandler)

	// The first hand-off commits t0's result and leases t1, but its answer
	// is lost: the retry is refused (stale_lease), the slot is freed, and
	// t1's first attempt, which nobody runs, fails when its lease runs
	// out. Its retry runs and the run ends.
	r := b.runWorkflow(t, "chain", nil)
	require.Equal(t, client.StatusSucceeded, r.Status, r.Error)
	require.Equal(t, "go!!!", r.Outputs.(map[string]any)["said"])
	attempts := map[string]int{}
	for _, tr := range r.Tasks {
		attempts[tr.ID] = tr.Attempts
	}
	require.Equal(t, map[string]int{"t0": 1, "t1": 2, "t2": 1}, attempts)
	require.Contains(t, w.logs.String(), "attempt report refused: the lease is no longer held")
	require.Zero(t, f.completions(), "no plain completion: the refusal was a stale lease")
}
