package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api"
	"github.com/legatohq/legato/internal/auth"
)

// remoteFile has one task of an external type: the in-process worker never
// claims it, so only the test's calls move it.
const remoteFile = `name: remote
inputs:
  who: {type: string, default: world}
tasks:
  - id: echo
    type: test.echo
    with: {greeting: "hello ${{ inputs.who }}"}
    timeout: 5s
    retry: {attempts: 2, backoff: fixed, initial: 300ms, jitter: 0}
outputs:
  said: "${{ tasks.echo.output.said }}"
`

const workerID = "remote-1"

// claim claims with the given wait and returns the attempts.
func (b *testBundle) claim(t *testing.T, wait int) []api.ClaimedAttempt {
	t.Helper()
	var out api.ClaimResponse
	body := map[string]any{"worker_id": workerID, "types": []string{"test.echo"}, "limit": 10, "lease_seconds": 30, "wait_seconds": wait}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/workers/claim", body, &out))
	require.NotNil(t, out.Attempts)
	return out.Attempts
}

// claimOne starts a run of remoteFile and claims its attempt.
func (b *testBundle) claimOne(t *testing.T) (string, api.ClaimedAttempt) {
	t.Helper()
	b.applyOK(t, "remote.yaml", remoteFile)
	run := b.startRun(t, "remote", nil)
	got := b.claim(t, 5)
	require.Len(t, got, 1)
	return run["id"].(string), got[0]
}

func (b *testBundle) heartbeat(t *testing.T, leases ...api.LeaseRef) []api.LeaseState {
	t.Helper()
	var out api.HeartbeatResponse
	body := api.HeartbeatRequest{WorkerID: workerID, LeaseSeconds: 30, Leases: leases}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/workers/heartbeat", body, &out))
	require.Len(t, out.Leases, len(leases))
	return out.Leases
}

func attemptPath(id int64, op string) string { return fmt.Sprintf("/api/v1/attempts/%d/%s", id, op) }

// taskRun returns the run's only task run.
func taskRun(t *testing.T, run map[string]any) map[string]any {
	t.Helper()
	tasks := run["tasks"].([]any)
	require.Len(t, tasks, 1)
	return tasks[0].(map[string]any)
}

// doneActors returns the actors of the run's attempt.done events, in order.
func (b *testBundle) doneActors(t *testing.T, id string) []string {
	t.Helper()
	var events api.EventPage
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/events", nil, &events))
	var actors []string
	for _, e := range events.Events {
		if e.Type == "attempt.done" {
			actors = append(actors, e.Actor)
		}
	}
	return actors
}

func TestClaimLongPollWokenByRunStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "remote.yaml", remoteFile)

	type claimed struct {
		attempts []api.ClaimedAttempt
		took     time.Duration
	}
	done := make(chan claimed, 1)
	go func() {
		start := time.Now()
		got := b.claim(t, 20)
		done <- claimed{got, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond) // the claim is waiting by now
	run := b.startRun(t, "remote", map[string]any{"who": "ada"})
	id := run["id"].(string)

	var c claimed
	select {
	case c = <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the long poll was not woken by the run's start")
	}
	require.Less(t, c.took, 10*time.Second)
	require.Len(t, c.attempts, 1)
	a := c.attempts[0]
	require.NotZero(t, a.ID)
	require.NotEmpty(t, a.LeaseToken)
	require.True(t, a.LeaseExpiresAt.After(time.Now().Add(20*time.Second)), "lease until %s", a.LeaseExpiresAt)
	require.Equal(t, id, a.RunID)
	require.Equal(t, "default", a.Namespace)
	require.Equal(t, "remote", a.Workflow)
	require.Equal(t, "echo", a.Task)
	require.Nil(t, a.Index)
	require.Equal(t, 1, a.Attempt)
	require.Equal(t, "test.echo", a.Type)
	require.Equal(t, map[string]any{"greeting": "hello ada"}, a.Params)
	require.EqualValues(t, 5000, a.TimeoutMS)
	require.Equal(t, id+"/echo", a.IdempotencyKey)
	require.Equal(t, "default", a.Queue)

	// The task run is running; completing it finishes the run.
	require.Equal(t, "running", taskRun(t, b.waitRun(t, id, statusIs("running")))["status"])
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "complete"),
		api.CompleteRequest{Token: a.LeaseToken, WorkerID: workerID, Output: map[string]any{"said": "hello ada"}}, nil))
	run = b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Equal(t, map[string]any{"said": "hello ada"}, run["outputs"])
	require.Equal(t, map[string]any{"said": "hello ada"}, taskRun(t, run)["output"])

	require.Equal(t, []string{"worker:" + workerID}, b.doneActors(t, id))
}

func TestClaimWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)

	start := time.Now()
	require.Empty(t, b.claim(t, 0), "nothing queued")
	require.Less(t, time.Since(start), time.Second, "wait_seconds 0 answers at once")

	start = time.Now()
	require.Empty(t, b.claim(t, 1))
	require.GreaterOrEqual(t, time.Since(start), time.Second, "an empty answer only at the deadline")

	// A retry that is not yet due: the long poll wakes when it becomes due.
	b.applyOK(t, "remote.yaml", remoteFile)
	id := b.startRun(t, "remote", nil)["id"].(string)
	first := b.claim(t, 5)
	require.Len(t, first, 1)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(first[0].ID, "complete"),
		api.CompleteRequest{Token: first[0].LeaseToken, Error: "the CRM answered 503"}, nil))
	start = time.Now()
	second := b.claim(t, 10)
	require.Len(t, second, 1, "the retry is claimed once due (after 300ms)")
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 2, second[0].Attempt)
	require.Equal(t, first[0].IdempotencyKey, second[0].IdempotencyKey, "the key is stable across attempts")
	require.NotEqual(t, first[0].ID, second[0].ID)

	// A non-retryable failure ends the task at once.
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(second[0].ID, "complete"),
		api.CompleteRequest{Token: second[0].LeaseToken, Error: "no such customer", NonRetryable: true}, nil))
	run := b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "failed", run["status"])
	require.Equal(t, "no such customer", taskRun(t, run)["error"])
}

func TestNonRetryableFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "complete"),
		api.CompleteRequest{Token: a.LeaseToken, Error: "bad params", NonRetryable: true}, nil))
	run := b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "failed", run["status"])
	tr := taskRun(t, run)
	require.EqualValues(t, 1, tr["attempts"], "no retry after a non-retryable failure")
	require.Equal(t, "bad params", tr["error"])
}

func TestHeartbeatReportsCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	held := api.LeaseRef{ID: a.ID, Token: a.LeaseToken}

	require.Equal(t, []api.LeaseState{{ID: a.ID}}, b.heartbeat(t, held))
	require.Equal(t, []api.LeaseState{{ID: a.ID}, {ID: a.ID, Lost: true}}, b.heartbeat(t, held, api.LeaseRef{ID: a.ID, Token: "wrong"}))
	require.Empty(t, b.heartbeat(t))

	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/cancel", nil, nil))
	require.Equal(t, []api.LeaseState{{ID: a.ID, Cancel: true}}, b.heartbeat(t, held))

	// Only a canceled acknowledgement is accepted now.
	b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "complete"),
		api.CompleteRequest{Token: a.LeaseToken, Output: "done anyway"})
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "complete"),
		api.CompleteRequest{Token: a.LeaseToken, Canceled: true}, nil))
	require.Equal(t, []api.LeaseState{{ID: a.ID, Lost: true}}, b.heartbeat(t, held), "a finished attempt is no longer held")
	run := b.waitRun(t, id, statusIs("canceled"))
	require.Equal(t, "canceled", taskRun(t, run)["status"])
}

func TestStaleCompletionChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	before := b.waitRun(t, id, statusIs("running"))

	e := b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "complete"),
		api.CompleteRequest{Token: "not-the-token", Output: "forged"})
	require.Contains(t, e.Error.Message, "not held")
	after := b.waitRun(t, id, statusIs("running"))
	require.Equal(t, before["tasks"], after["tasks"], "a refused completion changes nothing")
	require.Equal(t, []api.LeaseState{{ID: a.ID}}, b.heartbeat(t, api.LeaseRef{ID: a.ID, Token: a.LeaseToken}), "the real holder keeps its lease")

	real := map[string]any{"said": "real"}
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "complete"), api.CompleteRequest{Token: a.LeaseToken, Output: real}, nil))
	b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "complete"), api.CompleteRequest{Token: a.LeaseToken, Output: "twice"})
	run := b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Equal(t, real, taskRun(t, run)["output"])

	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, attemptPath(999999, "complete"), api.CompleteRequest{Token: "x"})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, attemptPath(999999, "interrupt"), api.InterruptRequest{Token: "x"})
}

func TestInterruptQueuesANewAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)

	b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "interrupt"), api.InterruptRequest{Token: "wrong"})
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "interrupt"), api.InterruptRequest{Token: a.LeaseToken, WorkerID: workerID}, nil))
	b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "interrupt"), api.InterruptRequest{Token: a.LeaseToken})

	// A new attempt at once, although the retry policy's delay is 300ms:
	// an interrupted attempt did not fail.
	again := b.claim(t, 0)
	require.Len(t, again, 1)
	require.Equal(t, 2, again[0].Attempt)
	require.Equal(t, a.IdempotencyKey, again[0].IdempotencyKey)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(again[0].ID, "complete"), api.CompleteRequest{Token: again[0].LeaseToken, Output: map[string]any{"said": "hi"}}, nil))
	run := b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
}

func TestAttemptLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "logs"), api.AttemptLogsRequest{
		Token: a.LeaseToken,
		Lines: []api.AttemptLogLine{{Stream: "stdout", Line: "creating contact", At: at}, {Stream: "stderr", Line: "slow answer"}},
	}, nil))

	// Lines of an attempt that is no longer held are kept too.
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "interrupt"), api.InterruptRequest{Token: a.LeaseToken}, nil))
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(a.ID, "logs"), api.AttemptLogsRequest{
		Token: a.LeaseToken, Lines: []api.AttemptLogLine{{Stream: "system", Line: "stopped"}},
	}, nil))

	var page api.LogPage
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/logs?task=echo", nil, &page))
	require.Len(t, page.Lines, 3)
	got := make([]string, len(page.Lines))
	for i, l := range page.Lines {
		require.Equal(t, "echo", l.Task)
		require.Nil(t, l.Index)
		require.Equal(t, 1, l.Attempt)
		got[i] = l.Stream + " " + l.Line
	}
	require.Equal(t, []string{"stdout creating contact", "stderr slow answer", "system stopped"}, got)
	require.WithinDuration(t, at, page.Lines[0].At, time.Microsecond, "the store keeps microseconds")
	require.WithinDuration(t, time.Now(), page.Lines[1].At, time.Minute)

	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, attemptPath(999999, "logs"),
		api.AttemptLogsRequest{Lines: []api.AttemptLogLine{{Stream: "stdout", Line: "x"}}})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(a.ID, "logs"),
		map[string]any{"lines": []any{map[string]any{"stream": "elsewhere", "line": "x"}}})
}

func TestWorkerRequestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	claim := func(body map[string]any) map[string]any {
		req := map[string]any{"worker_id": "w", "types": []string{"test.echo"}, "wait_seconds": 0}
		for k, v := range body {
			if v == nil {
				delete(req, k)
			} else {
				req[k] = v
			}
		}
		return req
	}
	for name, body := range map[string]map[string]any{
		"no worker id":   claim(map[string]any{"worker_id": nil}),
		"empty id":       claim(map[string]any{"worker_id": ""}),
		"no types":       claim(map[string]any{"types": nil}),
		"empty types":    claim(map[string]any{"types": []string{}}),
		"limit 0":        claim(map[string]any{"limit": 0}),
		"limit 101":      claim(map[string]any{"limit": 101}),
		"lease 0":        claim(map[string]any{"lease_seconds": 0}),
		"negative wait":  claim(map[string]any{"wait_seconds": -1}),
		"unknown field":  claim(map[string]any{"color": "blue"}),
		"types not list": claim(map[string]any{"types": "test.echo"}),
	} {
		e := b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workers/claim", body)
		require.NotEmpty(t, e.Error.Details["errors"], name)
	}
	// A wait over 30s is capped, not refused (checked with wait 0 here: a
	// capped wait would hold the test for 30s).
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/workers/claim", claim(nil), nil))

	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workers/heartbeat", map[string]any{"leases": []any{}})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workers/heartbeat",
		map[string]any{"worker_id": "w", "leases": []any{map[string]any{"id": 1}}})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(1, "complete"), map[string]any{})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/attempts/abc/complete", map[string]any{"token": "x"})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(1, "interrupt"), map[string]any{})

	for _, path := range []string{"/api/v1/workers/claim", "/api/v1/workers/heartbeat", "/api/v1/workers/release", attemptPath(1, "complete"), attemptPath(1, "handoff"), attemptPath(1, "interrupt"), attemptPath(1, "logs")} {
		var e errorBody
		require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodPost, path, map[string]any{}, &e), path)
		require.Equal(t, "unauthenticated", e.Error.Code)
	}
}

func TestClaimEndsAtShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: api.New(api.Config{Engine: b.eng, Store: b.st, Auth: auth.NewVerifier(b.st)}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	polling := &testBundle{url: "http://" + ln.Addr().String(), token: b.token}
	done := make(chan []api.ClaimedAttempt, 1)
	go func() { done <- polling.claim(t, 20) }()
	time.Sleep(300 * time.Millisecond) // the claim is waiting by now

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, hs.Shutdown(ctx), "a graceful stop does not wait for long polls")
	require.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, <-served, http.ErrServerClosed)
	require.Empty(t, <-done)
}

func TestReleaseWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)

	// A poll the worker left behind ends, and what it held is given back.
	done := make(chan []api.ClaimedAttempt, 1)
	go func() { done <- b.claim(t, 20) }()
	time.Sleep(300 * time.Millisecond) // the claim is waiting by now
	var out api.ReleaseResponse
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/workers/release", api.ReleaseRequest{WorkerID: workerID}, &out))
	select {
	case got := <-done:
		require.Empty(t, got)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "the release did not end the worker's poll")
	}
	require.Equal(t, 1, out.Released)
	require.Equal(t, []api.LeaseState{{ID: a.ID, Lost: true}}, b.heartbeat(t, api.LeaseRef{ID: a.ID, Token: a.LeaseToken}))

	// The attempt runs again at once; releasing again finds nothing.
	again := b.claim(t, 0)
	require.Len(t, again, 1)
	require.Equal(t, 2, again[0].Attempt)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/workers/release", api.ReleaseRequest{WorkerID: "someone-else"}, &out))
	require.Zero(t, out.Released, "only the named worker's attempts")
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, attemptPath(again[0].ID, "complete"), api.CompleteRequest{Token: again[0].LeaseToken, Output: map[string]any{"said": "hi"}}, nil))
	require.Equal(t, "succeeded", b.waitRun(t, id, statusIs("succeeded", "failed"))["status"])

	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workers/release", map[string]any{})
	e := b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workers/claim",
		map[string]any{"worker_id": "local/worker", "types": []string{"test.echo"}})
	require.Contains(t, e.Error.Message, "a server's own workers")
}

// chainFile has two tasks of an external type, the second after the first
// and fed its output.
const chainFile = `name: chain
tasks:
  - id: first
    type: test.echo
    with: {greeting: hello}
  - id: second
    needs: [first]
    type: test.echo
    with: {greeting: "${{ tasks.first.output.said }} again"}
outputs:
  said: "${{ tasks.second.output.said }}"
`

// handOff sends a hand-off of attempt a with body (its next claims
// test.echo unless body says otherwise) and returns the attempts answered.
func (b *testBundle) handOff(t *testing.T, a api.ClaimedAttempt, body api.CompleteRequest) []api.ClaimedAttempt {
	t.Helper()
	body.Token, body.WorkerID = a.LeaseToken, workerID
	var out api.ClaimResponse
	req := api.HandOffRequest{CompleteRequest: body, Next: api.ClaimSpec{Types: []string{"test.echo"}}}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, attemptPath(a.ID, "handoff"), req, &out))
	require.NotNil(t, out.Attempts, "an empty answer is [], not null")
	return out.Attempts
}

// taskByID returns the run's task run of the given task id.
func taskByID(t *testing.T, run map[string]any, id string) map[string]any {
	t.Helper()
	for _, tr := range run["tasks"].([]any) {
		if tr.(map[string]any)["id"] == id {
			return tr.(map[string]any)
		}
	}
	require.FailNow(t, "no task run "+id)
	return nil
}

func TestHandOffClaimsTheNextAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "chain.yaml", chainFile)
	id := b.startRun(t, "chain", nil)["id"].(string)
	got := b.claim(t, 5)
	require.Len(t, got, 1)
	first := got[0]
	require.Equal(t, "first", first.Task)

	// The completion queues the second task, and the same transaction
	// leases it to the worker: the answer carries it, its params rendered
	// from the first's recorded output.
	next := b.handOff(t, first, api.CompleteRequest{Output: map[string]any{"said": "hi"}})
	require.Len(t, next, 1)
	second := next[0]
	require.Equal(t, id, second.RunID)
	require.Equal(t, "second", second.Task)
	require.Equal(t, 1, second.Attempt)
	require.Equal(t, map[string]any{"greeting": "hi again"}, second.Params)
	require.NotEmpty(t, second.LeaseToken)
	require.True(t, second.LeaseExpiresAt.After(time.Now().Add(20*time.Second)), "the default lease of 30s: %s", second.LeaseExpiresAt)
	run := b.waitRun(t, id, statusIs("running"))
	require.Equal(t, "succeeded", taskByID(t, run, "first")["status"])
	require.Equal(t, map[string]any{"said": "hi"}, taskByID(t, run, "first")["output"])
	require.Equal(t, "running", taskByID(t, run, "second")["status"], "leased, not queued")
	require.Equal(t, []api.LeaseState{{ID: second.ID}}, b.heartbeat(t, api.LeaseRef{ID: second.ID, Token: second.LeaseToken}), "held by the worker")
	require.Empty(t, b.claim(t, 0), "nothing left to claim")

	// Nothing is due after the last task: the hand-off answers at once
	// with no attempts, and the run ends.
	start := time.Now()
	require.Empty(t, b.handOff(t, second, api.CompleteRequest{Output: map[string]any{"said": "hi again"}}))
	require.Less(t, time.Since(start), 5*time.Second, "a hand-off never long-polls")
	run = b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Equal(t, map[string]any{"said": "hi again"}, run["outputs"])

	require.Equal(t, []string{"worker:" + workerID, "worker:" + workerID}, b.doneActors(t, id))
}

func TestHandOffAfterACanceledAcknowledgement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	other := b.startRun(t, "remote", nil)["id"].(string)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/runs/"+id+"/cancel", nil, nil))

	// The worker is free once it stopped the attempt: the acknowledgement
	// claims its next one.
	next := b.handOff(t, a, api.CompleteRequest{Canceled: true})
	require.Len(t, next, 1)
	require.Equal(t, other, next[0].RunID)
	run := b.waitRun(t, id, statusIs("canceled"))
	require.Equal(t, "canceled", taskRun(t, run)["status"])
}

func TestHandOffRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, a := b.claimOne(t)
	b.startRun(t, "remote", nil) // claimable: a refused hand-off must not take it
	before := b.waitRun(t, id, statusIs("running"))
	handOff := func(token, worker string) api.HandOffRequest {
		return api.HandOffRequest{
			CompleteRequest: api.CompleteRequest{Token: token, WorkerID: worker, Output: map[string]any{"said": "forged"}},
			Next:            api.ClaimSpec{Types: []string{"test.echo"}, Limit: 10},
		}
	}

	e := b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "handoff"), handOff("not-the-token", workerID))
	require.Contains(t, e.Error.Message, "not held")
	e = b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(a.ID, "handoff"), handOff(a.LeaseToken, "local/worker"))
	require.Contains(t, e.Error.Message, "a server's own workers")
	e = b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(a.ID, "handoff"), handOff(a.LeaseToken, ""))
	require.Contains(t, e.Error.Message, "worker_id is required")
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, attemptPath(999999, "handoff"), handOff("x", workerID))
	for name, next := range map[string]any{
		"no next":     nil,
		"no types":    map[string]any{"limit": 1},
		"empty types": map[string]any{"types": []string{}},
		"limit 101":   map[string]any{"types": []string{"test.echo"}, "limit": 101},
		"lease 3601":  map[string]any{"types": []string{"test.echo"}, "lease_seconds": 3601},
		"a wait":      map[string]any{"types": []string{"test.echo"}, "wait_seconds": 1},
	} {
		body := map[string]any{"token": a.LeaseToken, "worker_id": workerID}
		if next != nil {
			body["next"] = next
		}
		e := b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, attemptPath(a.ID, "handoff"), body)
		require.NotEmpty(t, e.Error.Details["errors"], name)
	}

	// None of them changed anything or claimed anything: the attempt is
	// still held by its token, and the other run's attempt is still
	// claimable.
	after := b.waitRun(t, id, statusIs("running"))
	require.Equal(t, before["tasks"], after["tasks"], "a refused hand-off changes nothing")
	require.Equal(t, []api.LeaseState{{ID: a.ID}}, b.heartbeat(t, api.LeaseRef{ID: a.ID, Token: a.LeaseToken}))
	require.Len(t, b.claim(t, 0), 1, "a refused hand-off claims nothing")

	// A completion that commits is not taken twice.
	require.Len(t, b.handOff(t, a, api.CompleteRequest{Output: map[string]any{"said": "real"}}), 0, "nothing left to claim")
	b.requireError(t, http.StatusConflict, "stale_lease", http.MethodPost, attemptPath(a.ID, "handoff"), handOff(a.LeaseToken, workerID))
	run := b.waitRun(t, id, statusIs("succeeded", "failed"))
	require.Equal(t, map[string]any{"said": "real"}, taskRun(t, run)["output"])
}
