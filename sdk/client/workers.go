package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The worker protocol (docs/workers.md). Most programs use package
// sdk/worker, which runs this protocol; these calls are for writing a
// worker loop of your own.

// ClaimRequest says what a worker claims.
type ClaimRequest struct {
	// WorkerID names the worker in leases and in run journals
	// ("worker:<id>"); required.
	WorkerID string
	// Queues the worker serves (default: "default").
	Queues []string
	// Types are the task types the worker runs (at least one): only
	// attempts of these types are claimed.
	Types []string
	// Limit is the most attempts returned, 1 to 100 (default 1).
	Limit int
	// Lease is the lease length, in whole seconds (default 30s); heartbeats
	// renew it.
	Lease time.Duration
	// Wait is how long the server may hold the request when nothing is
	// claimable (at most 30s); 0 answers at once.
	Wait time.Duration
}

// Attempt is one attempt leased to a worker.
type Attempt struct {
	ID int64 `json:"id"`
	// LeaseToken fences every later call about the attempt: once the lease
	// is lost, calls with it are refused (IsStaleLease).
	LeaseToken     string    `json:"lease_token"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	RunID          string    `json:"run_id"`
	Namespace      string    `json:"namespace"`
	Workflow       string    `json:"workflow"`
	// Task is the task's id in the workflow.
	Task string `json:"task"`
	// Index is the for_each item's index, nil outside for_each.
	Index *int `json:"index,omitempty"`
	// Attempt is the attempt's number, from 1.
	Attempt int    `json:"attempt"`
	Type    string `json:"type"`
	// Params is the task's with block, templates rendered.
	Params map[string]any `json:"params"`
	// TimeoutMS is the attempt's timeout in milliseconds, 0 for none.
	TimeoutMS int64 `json:"timeout_ms"`
	// IdempotencyKey is the same for every attempt of a task run: pass it
	// on to deduplicate side effects.
	IdempotencyKey string `json:"idempotency_key"`
	Queue          string `json:"queue"`
}

// Timeout is the attempt's timeout, 0 for none.
func (a *Attempt) Timeout() time.Duration { return time.Duration(a.TimeoutMS) * time.Millisecond }

// Lease names an attempt a worker holds, for Heartbeat.
type Lease struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// LeaseState is what a heartbeat says of one lease.
type LeaseState struct {
	ID int64 `json:"id"`
	// Cancel: the run asked the attempt to stop; stop it and complete it
	// with Canceled set.
	Cancel bool `json:"cancel"`
	// Lost: the token no longer holds the attempt; drop it without
	// reporting anything.
	Lost bool `json:"lost"`
}

// AttemptResult is what a worker reports for an attempt it holds.
type AttemptResult struct {
	// Token is the attempt's lease token.
	Token string `json:"token"`
	// WorkerID is recorded as the author of the report ("worker:<id>").
	WorkerID string `json:"worker_id,omitempty"`
	// Output is the task's output: any JSON value.
	Output any `json:"output,omitempty"`
	// Error is empty on success, the failure's message otherwise.
	Error string `json:"error,omitempty"`
	// NonRetryable says that no other attempt can fix the failure.
	NonRetryable bool `json:"non_retryable,omitempty"`
	// Canceled acknowledges a cancel a heartbeat asked for.
	Canceled bool `json:"canceled,omitempty"`
}

// AttemptLogLine is one line an attempt wrote.
type AttemptLogLine struct {
	// Stream is "stdout", "stderr" or "system".
	Stream string `json:"stream"`
	Line   string `json:"line"`
	// At is when the line was written (zero: when the server receives it).
	At time.Time `json:"at,omitzero"`
}

// claimSpec is the wire form of what a claim takes: in a claim's body and
// in a hand-off's next.
type claimSpec struct {
	Queues       []string `json:"queues,omitempty"`
	Types        []string `json:"types"`
	Limit        int      `json:"limit,omitempty"`
	LeaseSeconds int      `json:"lease_seconds,omitempty"`
}

func (req *ClaimRequest) spec() claimSpec {
	return claimSpec{Queues: req.Queues, Types: req.Types, Limit: req.Limit, LeaseSeconds: seconds(req.Lease)}
}

// claimed is the answer of a claim and of a hand-off.
type claimed struct {
	Attempts []Attempt `json:"attempts"`
}

// Claim leases up to req.Limit queued attempts of req.Types. When none is
// claimable it waits up to req.Wait for one, and may return none.
func (c *Client) Claim(ctx context.Context, req ClaimRequest) ([]Attempt, error) {
	body := struct {
		WorkerID string `json:"worker_id"`
		claimSpec
		WaitSeconds int `json:"wait_seconds"`
	}{req.WorkerID, req.spec(), seconds(req.Wait)}
	var out claimed
	if _, err := c.do(ctx, http.MethodPost, "/workers/claim", nil, body, &out); err != nil {
		return nil, err
	}
	return out.Attempts, nil
}

// Heartbeat renews the leases a worker holds for lease (default 30s) and
// returns their states, in the same order.
func (c *Client) Heartbeat(ctx context.Context, workerID string, lease time.Duration, leases []Lease) ([]LeaseState, error) {
	if leases == nil {
		leases = []Lease{}
	}
	body := struct {
		WorkerID     string  `json:"worker_id"`
		LeaseSeconds int     `json:"lease_seconds,omitempty"`
		Leases       []Lease `json:"leases"`
	}{workerID, seconds(lease), leases}
	var out struct {
		Leases []LeaseState `json:"leases"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/workers/heartbeat", nil, body, &out); err != nil {
		return nil, err
	}
	return out.Leases, nil
}

// CompleteAttempt reports an attempt's result. A token that no longer
// holds the attempt gives an error for which IsStaleLease is true, and
// changes nothing.
func (c *Client) CompleteAttempt(ctx context.Context, id int64, res AttemptResult) error {
	_, err := c.do(ctx, http.MethodPost, attemptPath(id)+"/complete", nil, res, nil)
	return err
}

// HandOff reports an attempt's result and, in the same transaction,
// claims the worker's next attempts as Claim would (up to next.Limit of
// next.Types, default 1): a worker that finishes an attempt takes its next
// one with one request instead of two. The attempts are leased to
// res.WorkerID, or to next.WorkerID when res names no worker; one of them
// is required. next.Wait is ignored: the hand-off never waits and may
// return no attempts. Its errors are CompleteAttempt's: a token that no
// longer holds the attempt gives an error for which IsStaleLease is true,
// and changes nothing and claims nothing.
func (c *Client) HandOff(ctx context.Context, id int64, res AttemptResult, next ClaimRequest) ([]Attempt, error) {
	if res.WorkerID == "" {
		res.WorkerID = next.WorkerID
	}
	body := struct {
		AttemptResult
		Next claimSpec `json:"next"`
	}{res, next.spec()}
	var out claimed
	if _, err := c.do(ctx, http.MethodPost, attemptPath(id)+"/handoff", nil, body, &out); err != nil {
		return nil, err
	}
	return out.Attempts, nil
}

// InterruptAttempt gives back an attempt the worker stopped without a
// result (it is shutting down): a new attempt is queued at once. A stale
// token gives an error for which IsStaleLease is true.
func (c *Client) InterruptAttempt(ctx context.Context, id int64, token, workerID string) error {
	body := struct {
		Token    string `json:"token"`
		WorkerID string `json:"worker_id,omitempty"`
	}{token, workerID}
	_, err := c.do(ctx, http.MethodPost, attemptPath(id)+"/interrupt", nil, body, nil)
	return err
}

// AppendAttemptLogs stores log lines of an attempt, readable with Logs.
// Lines are kept even when the lease was lost since.
func (c *Client) AppendAttemptLogs(ctx context.Context, id int64, token string, lines []AttemptLogLine) error {
	body := struct {
		Token string           `json:"token,omitempty"`
		Lines []AttemptLogLine `json:"lines"`
	}{token, lines}
	_, err := c.do(ctx, http.MethodPost, attemptPath(id)+"/logs", nil, body, nil)
	return err
}

// ReleaseWorker is a stopping worker's last call: the server ends the
// worker's long polls, then gives back (interrupts) every attempt still
// leased to workerID, including any a poll claimed while the worker was
// going away. It returns how many it gave back.
func (c *Client) ReleaseWorker(ctx context.Context, workerID string) (int, error) {
	body := struct {
		WorkerID string `json:"worker_id"`
	}{workerID}
	var out struct {
		Released int `json:"released"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/workers/release", nil, body, &out); err != nil {
		return 0, err
	}
	return out.Released, nil
}

// IsStaleLease reports whether err is the server's refusal of a lease
// token that no longer holds its attempt (409 stale_lease): the lease
// expired, the run canceled the attempt, or it already finished. Nothing
// was changed; drop the attempt.
func IsStaleLease(err error) bool { return hasCode(err, CodeStaleLease) }

// IsNotFound reports whether err is the server's not_found answer.
func IsNotFound(err error) bool { return hasCode(err, CodeNotFound) }

func hasCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

func attemptPath(id int64) string { return "/attempts/" + strconv.FormatInt(id, 10) }

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
