package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// StartRunRequest is the body of POST /runs.
type StartRunRequest struct {
	Namespace string         `json:"namespace,omitempty" doc:"The workflow's namespace (default \"default\")"`
	Workflow  string         `json:"workflow" minLength:"1" doc:"The workflow's name"`
	Version   int            `json:"version,omitempty" minimum:"0" doc:"The version to run (default 0: the latest)"`
	Inputs    map[string]any `json:"inputs,omitempty" doc:"The run's inputs, checked against the workflow's declared inputs"`
	Priority  int            `json:"priority,omitempty" minimum:"-1000000" maximum:"1000000" doc:"Higher first: orders the run among queued runs of its workflow and its attempts among queued attempts (default 0)"`
}

type startRunInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"256" doc:"A start with a key already used for this workflow starts nothing and answers 200 with the run that key started"`
	Body           StartRunRequest
}

type startRunOutput struct {
	Status int
	Body   Run
}

type runOutput struct{ Body Run }

// RunList is the body of GET /runs.
type RunList struct {
	Runs []Run `json:"runs" doc:"Newest first, without tasks"`
}

type listRunsInput struct {
	Namespace string `query:"namespace"`
	Workflow  string `query:"workflow"`
	Status    string `query:"status" enum:"queued,running,waiting,succeeded,failed,canceled"`
	Limit     int    `query:"limit" default:"50" minimum:"1" maximum:"1000"`
	Before    string `query:"before" doc:"Only runs created before this RFC 3339 time (to page backwards: pass the created_at of the last run of a page)"`
}

type listRunsOutput struct{ Body RunList }

type runPath struct {
	ID string `path:"id" doc:"The run's id"`
}

func (s *server) registerRuns(api huma.API) {
	tags := []string{"runs"}
	huma.Register(api, huma.Operation{
		OperationID: "start-run", Method: http.MethodPost, Path: Prefix + "/runs", Tags: tags,
		Summary:       "Start a run of a workflow",
		Description:   "Answers 201 with the new run, or 200 with the run an Idempotency-Key already started.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.startRun)
	huma.Register(api, huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: Prefix + "/runs", Tags: tags,
		Summary: "List runs, newest first",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.listRuns)
	huma.Register(api, huma.Operation{
		OperationID: "get-run", Method: http.MethodGet, Path: Prefix + "/runs/{id}", Tags: tags,
		Summary: "Get a run with its task runs",
		Errors:  []int{http.StatusUnauthorized, http.StatusNotFound},
	}, s.getRun)
	huma.Register(api, huma.Operation{
		OperationID: "cancel-run", Method: http.MethodPost, Path: Prefix + "/runs/{id}/cancel", Tags: tags,
		Summary: "Cancel a run that has not finished",
		Errors:  []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *runPath) (*runOutput, error) {
		return s.control(ctx, in.ID, s.eng.CancelRun)
	})
	huma.Register(api, huma.Operation{
		OperationID: "retry-run", Method: http.MethodPost, Path: Prefix + "/runs/{id}/retry", Tags: tags,
		Summary: "Retry a failed or canceled run from the tasks that did not succeed",
		Errors:  []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *runPath) (*runOutput, error) {
		return s.control(ctx, in.ID, s.eng.RetryRun)
	})
}

func (s *server) startRun(ctx context.Context, in *startRunInput) (*startRunOutput, error) {
	b := in.Body
	if b.Namespace == "" {
		b.Namespace = "default"
	}
	started, err := s.eng.StartDetailed(ctx, &engine.StartRunParams{
		Namespace: b.Namespace, Workflow: b.Workflow, Version: b.Version, Inputs: b.Inputs, Actor: actor(ctx),
		IdempotencyKey: in.IdempotencyKey,
		Priority:       b.Priority,
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if !started.Created {
		out, err := s.runWithTasks(ctx, started.Run.ID)
		if err != nil {
			return nil, err
		}
		return &startRunOutput{Status: http.StatusOK, Body: out.Body}, nil
	}
	// A new run is answered from what its start committed: it has no
	// notification and no trigger yet.
	r := started.Run
	order, err := s.eng.TaskOrder(ctx, r.Namespace, r.Workflow, r.Version)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := toRun(r)
	out.Tasks = toTaskRuns(started.Tasks, order)
	out.Notifications = toNotifications(nil)
	return &startRunOutput{Status: http.StatusCreated, Body: out}, nil
}

func (s *server) listRuns(ctx context.Context, in *listRunsInput) (*listRunsOutput, error) {
	p := &store.RunListParams{Namespace: in.Namespace, Workflow: in.Workflow, Status: store.RunStatus(in.Status), Limit: in.Limit}
	if in.Before != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Before)
		if err != nil {
			return nil, errInvalidRequest("before must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", in.Before)
		}
		p.Before = t
	}
	var runs []*store.Run
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		runs, err = tx.RunList(ctx, p)
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := make([]Run, 0, len(runs))
	for _, r := range runs {
		out = append(out, toRun(r))
	}
	return &listRunsOutput{Body: RunList{Runs: out}}, nil
}

func (s *server) getRun(ctx context.Context, in *runPath) (*runOutput, error) {
	return s.runWithTasks(ctx, in.ID)
}

// control cancels or retries a run and answers it with its tasks.
func (s *server) control(ctx context.Context, id string, op func(context.Context, string, string) (*store.Run, error)) (*runOutput, error) {
	if _, err := op(ctx, id, actor(ctx)); err != nil {
		if errors.Is(err, engine.ErrRunNotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, errNotFound("run %s not found", id)
		}
		return nil, s.fail(ctx, err)
	}
	return s.runWithTasks(ctx, id)
}

// runWithTasks reads a run and its task runs in one snapshot, ordering the
// task runs by the workflow file's task order.
func (s *server) runWithTasks(ctx context.Context, id string) (*runOutput, error) {
	var out Run
	var run *store.Run
	var tasks []*store.TaskRun
	err := s.st.View(ctx, func(tx store.Tx) error {
		r, err := tx.RunGet(ctx, id)
		if err != nil {
			return err
		}
		trs, err := tx.TaskRunList(ctx, id)
		if err != nil {
			return err
		}
		run = r
		ns, err := tx.NotificationList(ctx, id)
		if err != nil {
			return err
		}
		out = toRun(r)
		tasks = trs
		out.Notifications = toNotifications(ns)
		rt, err := tx.RunTriggerGet(ctx, id)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		out.Trigger = toRunTrigger(rt, trs)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("run %s not found", id)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	// The tasks in the order of the workflow file (its parsed version is
	// cached), read after the View: never two read transactions at once.
	order, err := s.eng.TaskOrder(ctx, run.Namespace, run.Workflow, run.Version)
	if err != nil && !errors.Is(err, engine.ErrWorkflowNotFound) { // else shown by name
		return nil, s.fail(ctx, err)
	}
	out.Tasks = toTaskRuns(tasks, order)
	return &runOutput{Body: out}, nil
}

// taskOrder returns the task ids of the run's workflow version in file
// order. Only the ids are decoded from the stored spec (spec.Workflow's
// JSON form), so the order does not depend on the rest of the model.
