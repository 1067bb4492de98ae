package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// The worker protocol over HTTP (docs/workers.md): a remote worker claims
// attempts with a long poll, keeps their leases with heartbeats, writes
// their logs and completes or interrupts them, each call fenced by the
// attempt's lease token.

// Long-poll bounds of POST /workers/claim.
const (
	defaultClaimWait = 20 * time.Second
	maxClaimWait     = 30 * time.Second
)

// nodeSeparator is in the ids of the servers' in-process workers
// ("<node>/worker"), whose attempts a server releases when it starts: a
// remote worker's id must not have it, or a restart could release its
// attempts.
const nodeSeparator = "/"

// ClaimRequest is the body of POST /workers/claim.
type ClaimRequest struct {
	WorkerID string `json:"worker_id" minLength:"1" maxLength:"200" doc:"Names the worker in leases and in the journal (worker:<id>); unique per process, without / (ids with / are the servers' own workers)"`
	ClaimSpec
	WaitSeconds *int `json:"wait_seconds,omitempty" minimum:"0" default:"20" doc:"How long to wait when nothing is claimable (capped at 30); 0 answers at once"`
}

// ClaimSpec says which attempts a worker takes and for how long: the
// fields of a claim that a hand-off's next claim has too.
type ClaimSpec struct {
	Queues       []string `json:"queues,omitempty" maxItems:"100" doc:"The queues the worker serves (default [\"default\"])"`
	Types        []string `json:"types" minItems:"1" maxItems:"1000" doc:"The task types the worker runs: only attempts of these types are claimed"`
	Limit        int      `json:"limit,omitempty" minimum:"1" maximum:"100" default:"1" doc:"The most attempts returned"`
	LeaseSeconds int      `json:"lease_seconds,omitempty" minimum:"1" maximum:"3600" default:"30" doc:"The lease length; heartbeats renew it"`
}

// ClaimedAttempt is one attempt leased to the worker.
type ClaimedAttempt struct {
	ID             int64          `json:"id" doc:"The attempt's id, for heartbeat, complete, interrupt and logs"`
	LeaseToken     string         `json:"lease_token" doc:"The fencing token: every later call about the attempt carries it"`
	LeaseExpiresAt time.Time      `json:"lease_expires_at" doc:"When the lease ends unless a heartbeat renews it"`
	RunID          string         `json:"run_id"`
	Namespace      string         `json:"namespace"`
	Workflow       string         `json:"workflow"`
	Task           string         `json:"task" doc:"The task's id in the workflow"`
	Index          *int           `json:"index,omitempty" doc:"The for_each item's index; absent outside for_each"`
	Attempt        int            `json:"attempt" doc:"The attempt's number, from 1"`
	Type           string         `json:"type" doc:"The task type"`
	Params         map[string]any `json:"params" doc:"The task's with block, templates rendered"`
	TimeoutMS      int64          `json:"timeout_ms" doc:"The attempt's timeout in milliseconds; 0: none"`
	IdempotencyKey string         `json:"idempotency_key" doc:"Stable across the attempts of a task run (run/task[/index]): deduplicate side effects with it"`
	Queue          string         `json:"queue"`
}

// ClaimResponse is the body of a claim's answer.
type ClaimResponse struct {
	Attempts []ClaimedAttempt `json:"attempts" doc:"Empty when nothing became claimable before the wait ended"`
}

// LeaseRef names an attempt a worker holds.
type LeaseRef struct {
	ID    int64  `json:"id"`
	Token string `json:"token" minLength:"1" doc:"The attempt's lease token"`
}

// HeartbeatRequest is the body of POST /workers/heartbeat.
type HeartbeatRequest struct {
	WorkerID     string     `json:"worker_id" minLength:"1" maxLength:"200"`
	LeaseSeconds int        `json:"lease_seconds,omitempty" minimum:"1" maximum:"3600" default:"30" doc:"Each lease is renewed until now plus this"`
	Leases       []LeaseRef `json:"leases" maxItems:"1000" doc:"Every attempt the worker holds, renewed in one transaction"`
}

// LeaseState is what a heartbeat says of one lease.
type LeaseState struct {
	ID     int64 `json:"id"`
	Cancel bool  `json:"cancel" doc:"The run asked the attempt to stop: stop it and complete it with canceled: true"`
	Lost   bool  `json:"lost" doc:"The token no longer holds the attempt: drop it without reporting"`
}

// HeartbeatResponse is the body of a heartbeat's answer.
type HeartbeatResponse struct {
	Leases []LeaseState `json:"leases" doc:"One per lease sent, in the same order"`
}

// CompleteRequest is the body of POST /attempts/{id}/complete.
type CompleteRequest struct {
	Token        string `json:"token" minLength:"1" doc:"The attempt's lease token"`
	WorkerID     string `json:"worker_id,omitempty" maxLength:"200" doc:"Recorded as the actor (worker:<id>); default the token's subject"`
	Output       any    `json:"output,omitempty" doc:"The task's output (any JSON value), readable as tasks.<id>.output"`
	Error        string `json:"error,omitempty" doc:"Empty on success; the failure's message otherwise"`
	NonRetryable bool   `json:"non_retryable,omitempty" doc:"The failure cannot be fixed by another attempt: no retry"`
	Canceled     bool   `json:"canceled,omitempty" doc:"Acknowledges a cancel a heartbeat asked for: the attempt stopped"`
}

// HandOffRequest is the body of POST /attempts/{id}/handoff: a completion
// and the claim of the worker's next attempts, made in the same
// transaction.
type HandOffRequest struct {
	CompleteRequest
	Next ClaimSpec `json:"next" doc:"What to claim once the result is recorded, as a claim says it (no wait: the answer may be empty); the attempts are leased to worker_id, which is required here"`
}

// InterruptRequest is the body of POST /attempts/{id}/interrupt.
type InterruptRequest struct {
	Token    string `json:"token" minLength:"1" doc:"The attempt's lease token"`
	WorkerID string `json:"worker_id,omitempty" maxLength:"200" doc:"Recorded as the actor (worker:<id>); default the token's subject"`
}

// AttemptLogLine is one line a worker sends for an attempt.
type AttemptLogLine struct {
	Stream string    `json:"stream" enum:"stdout,stderr,system"`
	Line   string    `json:"line" maxLength:"65536"`
	At     time.Time `json:"at,omitzero" doc:"When the line was written (default: when it is received)"`
}

// AttemptLogsRequest is the body of POST /attempts/{id}/logs.
type AttemptLogsRequest struct {
	Token string           `json:"token,omitempty" doc:"The lease token the lines were written under; not checked, since lines written under a lease that was lost still tell what happened"`
	Lines []AttemptLogLine `json:"lines" maxItems:"5000"`
}

// ReleaseRequest is the body of POST /workers/release.
type ReleaseRequest struct {
	WorkerID string `json:"worker_id" minLength:"1" maxLength:"200" doc:"The stopping worker"`
}

// ReleaseResponse is the body of a release's answer.
type ReleaseResponse struct {
	Released int `json:"released" doc:"How many attempts the worker still held and were given back"`
}

type claimInput struct{ Body ClaimRequest }

type releaseInput struct{ Body ReleaseRequest }

type releaseOutput struct{ Body ReleaseResponse }

type claimOutput struct{ Body ClaimResponse }

type heartbeatInput struct{ Body HeartbeatRequest }

type heartbeatOutput struct{ Body HeartbeatResponse }

type completeInput struct {
	ID   int64 `path:"id" doc:"The attempt's id"`
	Body CompleteRequest
}

type handOffInput struct {
	ID   int64 `path:"id" doc:"The attempt's id"`
	Body HandOffRequest
}

type interruptInput struct {
	ID   int64 `path:"id" doc:"The attempt's id"`
	Body InterruptRequest
}

type attemptLogsInput struct {
	ID   int64 `path:"id" doc:"The attempt's id"`
	Body AttemptLogsRequest
}

func (s *server) registerWorkers(api huma.API) {
	tags := []string{"workers"}
	huma.Register(api, huma.Operation{
		OperationID: "claim-attempts", Method: http.MethodPost, Path: Prefix + "/workers/claim", Tags: tags,
		Summary:     "Lease queued attempts, waiting for one when none is due",
		Description: "Long-poll: when nothing is claimable the request waits (wait_seconds, at most 30) for an attempt to be queued or become due, then answers what it claimed, possibly nothing.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.claim)
	huma.Register(api, huma.Operation{
		OperationID: "heartbeat-leases", Method: http.MethodPost, Path: Prefix + "/workers/heartbeat", Tags: tags,
		Summary: "Renew the leases a worker holds and learn which attempts must stop",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.heartbeat)
	huma.Register(api, huma.Operation{
		OperationID: "release-worker", Method: http.MethodPost, Path: Prefix + "/workers/release", Tags: tags,
		Summary:     "A stopping worker's last call: give back every attempt it still holds",
		Description: "Ends the worker's long polls on this server, then interrupts every attempt leased to this worker id (new attempts are queued at once), including any a poll claimed while the worker was going away.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.releaseWorker)
	huma.Register(api, huma.Operation{
		OperationID: "complete-attempt", Method: http.MethodPost, Path: Prefix + "/attempts/{id}/complete", Tags: tags,
		Summary:       "Report an attempt's result (or acknowledge its cancel)",
		Description:   "A token that no longer holds the attempt is refused with 409 stale_lease and changes nothing.",
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, s.complete)
	huma.Register(api, huma.Operation{
		OperationID: "handoff-attempt", Method: http.MethodPost, Path: Prefix + "/attempts/{id}/handoff", Tags: tags,
		Summary:     "Report an attempt's result and claim the worker's next attempts in the same transaction",
		Description: "The hand-off: complete, then a claim of next (the same order and limits as a claim) for worker_id (required here, without /), in one transaction. It never waits: the answer may have no attempts. A token that no longer holds the attempt is refused with 409 stale_lease, which changes nothing and claims nothing.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, s.handOff)
	huma.Register(api, huma.Operation{
		OperationID: "interrupt-attempt", Method: http.MethodPost, Path: Prefix + "/attempts/{id}/interrupt", Tags: tags,
		Summary:       "Give an attempt back without a result (the worker is stopping): a new attempt is queued at once",
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, s.interrupt)
	huma.Register(api, huma.Operation{
		OperationID: "append-attempt-logs", Method: http.MethodPost, Path: Prefix + "/attempts/{id}/logs", Tags: tags,
		Summary:       "Store log lines an attempt wrote",
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	}, s.appendLogs)
}

func (s *server) claim(ctx context.Context, in *claimInput) (*claimOutput, error) {
	b := in.Body
	p, err := s.claimParams(b.WorkerID, &b.ClaimSpec)
	if err != nil {
		return nil, err
	}
	wait := defaultClaimWait
	if b.WaitSeconds != nil {
		wait = min(time.Duration(*b.WaitSeconds)*time.Second, maxClaimWait)
	}
	ctx, end := s.polls.start(ctx, b.WorkerID)
	defer end()
	got, err := s.longPoll(ctx, p, time.Now().Add(wait))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &claimOutput{Body: ClaimResponse{Attempts: toClaimed(got)}}, nil
}

// claimParams checks the id of a worker that claims, notes that the worker
// was seen, and returns the engine's claim of spec with its defaults.
func (s *server) claimParams(workerID string, spec *ClaimSpec) (*engine.ClaimParams, error) {
	if strings.Contains(workerID, nodeSeparator) {
		return nil, errInvalidRequest("worker_id %q: an id with %q names a server's own workers (<node>/worker); choose one without", workerID, nodeSeparator)
	}
	s.seen(workerID)
	p := &engine.ClaimParams{
		WorkerID: workerID, Queues: spec.Queues, Types: spec.Types, Limit: spec.Limit,
		LeaseFor: time.Duration(spec.LeaseSeconds) * time.Second,
	}
	if len(p.Queues) == 0 {
		p.Queues = []string{"default"}
	}
	return p, nil
}

// longPoll claims until it gets attempts or the deadline passes, waiting
// in between for a commit that queues an attempt, for the next queued
// attempt to become due, for the client to go away, or for the server to
// stop.
func (s *server) longPoll(ctx context.Context, p *engine.ClaimParams, deadline time.Time) ([]*store.Attempt, error) {
	stopping := s.polls.stopping(ctx)
	for {
		// Take the signal before claiming, so a commit between the claim
		// and the wait still wakes it.
		work := s.eng.WorkSignal()
		got, err := s.eng.ClaimAttempts(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(got) > 0 && ctx.Err() != nil {
			// Nobody will read the answer: give the attempts back now
			// rather than when their leases run out.
			s.giveBack(context.WithoutCancel(ctx), got, p.WorkerID)
			return nil, nil
		}
		left := time.Until(deadline)
		if len(got) > 0 || left <= 0 {
			return got, nil
		}
		next, err := s.eng.NextDue(ctx, p.Queues, p.Types)
		if err != nil {
			return nil, err
		}
		if !next.IsZero() {
			left = min(left, max(next.Sub(s.eng.Now()), time.Millisecond))
		}
		timer := time.NewTimer(left)
		select {
		case <-work:
		case <-timer.C:
		case <-ctx.Done():
		case <-stopping:
		}
		timer.Stop()
		if ctx.Err() != nil || isClosed(stopping) {
			return nil, nil
		}
	}
}

// giveBack interrupts attempts claimed for a worker that will never run
// them: new attempts are queued at once.
func (s *server) giveBack(ctx context.Context, as []*store.Attempt, workerID string) int {
	n := 0
	for _, a := range as {
		err := s.eng.InterruptAttempt(ctx, a.ID, a.LeaseToken, "worker:"+workerID)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrStaleLease):
			s.log.ErrorContext(ctx, "give back an attempt", "attempt", a.ID, "worker", workerID, "err", err)
		}
	}
	return n
}

// releaseWorker ends the worker's long polls on this server, then gives
// back every attempt it still holds: those a poll claimed for it while it
// was stopping, and any it did not report.
func (s *server) releaseWorker(ctx context.Context, in *releaseInput) (*releaseOutput, error) {
	id := in.Body.WorkerID
	s.polls.end(ctx, id)
	held, err := s.eng.HeldBy(ctx, func(w string) bool { return w == id })
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &releaseOutput{Body: ReleaseResponse{Released: s.giveBack(ctx, held, id)}}, nil
}

func (s *server) heartbeat(ctx context.Context, in *heartbeatInput) (*heartbeatOutput, error) {
	s.seen(in.Body.WorkerID)
	leases := make([]engine.Lease, len(in.Body.Leases))
	for i, l := range in.Body.Leases {
		leases[i] = engine.Lease{ID: l.ID, Token: l.Token}
	}
	states, err := s.eng.Heartbeat(ctx, leases, time.Duration(in.Body.LeaseSeconds)*time.Second)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := make([]LeaseState, len(states))
	for i, st := range states {
		out[i] = LeaseState{ID: st.ID, Cancel: st.Cancel, Lost: st.Lost}
	}
	return &heartbeatOutput{Body: HeartbeatResponse{Leases: out}}, nil
}

// errCanceledAck is the attempt's error when a canceled acknowledgement
// gives none.
const errCanceledAck = "canceled: the run was canceled or timed out"

func (s *server) complete(ctx context.Context, in *completeInput) (*struct{}, error) {
	if err := s.eng.CompleteAttempt(ctx, attemptResult(ctx, in.ID, &in.Body)); err != nil {
		return nil, s.leaseError(ctx, in.ID, err)
	}
	return nil, nil
}

// attemptResult is the engine's completion of attempt id that b reports.
func attemptResult(ctx context.Context, id int64, b *CompleteRequest) *engine.AttemptResult {
	res := &engine.AttemptResult{
		ID: id, Token: b.Token, Output: b.Output, Err: b.Error, NonRetryable: b.NonRetryable,
		Canceled: b.Canceled, Actor: workerActor(ctx, b.WorkerID),
	}
	if res.Canceled && res.Err == "" {
		res.Err = errCanceledAck
	}
	return res
}

// handOff completes an attempt and, in the same transaction, claims the
// worker's next attempts (engine.CompleteAndClaim). A canceled
// acknowledgement claims too: the worker is free. A refused completion
// (stale_lease, not_found) claims nothing.
func (s *server) handOff(ctx context.Context, in *handOffInput) (*claimOutput, error) {
	b := in.Body
	if b.WorkerID == "" {
		return nil, errInvalidRequest("worker_id is required: the next attempts are leased to it")
	}
	p, err := s.claimParams(b.WorkerID, &b.Next)
	if err != nil {
		return nil, err
	}
	got, err := s.eng.CompleteAndClaim(ctx, attemptResult(ctx, in.ID, &b.CompleteRequest), p)
	if err != nil {
		return nil, s.leaseError(ctx, in.ID, err)
	}
	if len(got) > 0 && ctx.Err() != nil {
		// Nobody will read the answer: give the attempts back now rather
		// than when their leases run out, as a long poll does.
		s.giveBack(context.WithoutCancel(ctx), got, b.WorkerID)
		got = nil
	}
	return &claimOutput{Body: ClaimResponse{Attempts: toClaimed(got)}}, nil
}

func (s *server) interrupt(ctx context.Context, in *interruptInput) (*struct{}, error) {
	if err := s.eng.InterruptAttempt(ctx, in.ID, in.Body.Token, workerActor(ctx, in.Body.WorkerID)); err != nil {
		return nil, s.leaseError(ctx, in.ID, err)
	}
	return nil, nil
}

func (s *server) appendLogs(ctx context.Context, in *attemptLogsInput) (*struct{}, error) {
	a, err := s.attempt(ctx, in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	now := s.eng.Now().UTC()
	lines := make([]*store.LogLine, len(in.Body.Lines))
	for i, l := range in.Body.Lines {
		at := l.At.UTC()
		if l.At.IsZero() {
			at = now
		}
		lines[i] = &store.LogLine{RunID: a.RunID, Task: a.Task, Index: a.Index, Attempt: a.Number, Stream: l.Stream, Line: l.Line, At: at}
	}
	if err := s.eng.AppendLogs(ctx, lines); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

// attempt reads one attempt; an unknown id is not_found.
func (s *server) attempt(ctx context.Context, id int64) (*store.Attempt, error) {
	var a *store.Attempt
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = tx.AttemptGet(ctx, id)
		return err
	})
	if isNotFound(err) {
		return nil, errNotFound("attempt %d not found", id)
	}
	return a, err
}

// leaseError maps the error of a fenced call: a stale token of an attempt
// that does not exist is not_found, otherwise stale_lease.
func (s *server) leaseError(ctx context.Context, id int64, err error) error {
	if errors.Is(err, store.ErrStaleLease) {
		if _, gerr := s.attempt(ctx, id); gerr != nil {
			return s.fail(ctx, gerr)
		}
		return newError(http.StatusConflict, CodeStaleLease, "attempt "+strconv.FormatInt(id, 10)+" is not held by this lease token: its lease expired, it was canceled, or it already finished", nil)
	}
	if isNotFound(err) {
		return errNotFound("attempt %d not found", id)
	}
	return s.fail(ctx, err)
}

// workerActor is who a worker's report is recorded as: worker:<id> when
// the worker names itself, else the token's subject.
func workerActor(ctx context.Context, workerID string) string {
	if workerID != "" {
		return "worker:" + workerID
	}
	return actor(ctx)
}

func toClaimed(as []*store.Attempt) []ClaimedAttempt {
	out := make([]ClaimedAttempt, 0, len(as))
	for _, a := range as {
		params := a.Params
		if params == nil {
			params = map[string]any{}
		}
		out = append(out, ClaimedAttempt{
			ID: a.ID, LeaseToken: a.LeaseToken, LeaseExpiresAt: utc(a.LeaseExpiresAt), RunID: a.RunID,
			Namespace: a.Namespace, Workflow: a.Workflow, Task: a.Task, Index: itemIndex(a.Index), Attempt: a.Number,
			Type: a.Type, Params: params, TimeoutMS: a.Timeout.Milliseconds(), IdempotencyKey: a.IdempotencyKey(), Queue: a.Queue,
		})
	}
	return out
}
