package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// Schedule is one cron trigger's schedule.
type Schedule struct {
	Namespace string `json:"namespace"`
	Workflow  string `json:"workflow"`
	Name      string `json:"name" doc:"The trigger's name (its name field, or cron-N by position)"`
	Version   int    `json:"version" doc:"The workflow version whose trigger this is"`
	Cron      string `json:"cron"`
	Timezone  string `json:"timezone" doc:"IANA zone; empty is UTC"`
	Paused    bool   `json:"paused"`
	// NextFireAt is absent when paused or when the expression never matches again.
	NextFireAt  *time.Time `json:"next_fire_at,omitempty" doc:"The next tick; absent when paused or when none is left"`
	LastFiredAt *time.Time `json:"last_fired_at,omitempty" doc:"The last tick that started a run"`
	LastRunID   string     `json:"last_run_id,omitempty" doc:"The run the schedule started last"`
	QueuedRunID string     `json:"queued_run_id,omitempty" doc:"A run waiting for the last one to end (overlap: queue)"`
	LastError   string     `json:"last_error,omitempty" doc:"Why the last tick started nothing (its inputs)"`
	UpdatedAt   time.Time  `json:"updated_at"`
	UpdatedBy   string     `json:"updated_by" doc:"Who applied, paused or resumed it last"`
}

// ScheduleList is the body of GET /schedules.
type ScheduleList struct {
	Schedules []Schedule `json:"schedules" doc:"By namespace, workflow and name"`
}

type listSchedulesInput struct {
	Namespace string `query:"namespace" doc:"Only this namespace"`
	Workflow  string `query:"workflow" doc:"Only this workflow"`
}

type scheduleOutput struct{ Body Schedule }

type schedulePath struct {
	Namespace string `path:"namespace"`
	Workflow  string `path:"workflow"`
	Name      string `path:"schedule" doc:"The schedule's name"`
}

// BackfillRequest is the body of POST /workflows/{namespace}/{name}/backfill.
type BackfillRequest struct {
	From     time.Time `json:"from" doc:"Start of the window (RFC 3339), included"`
	To       time.Time `json:"to" doc:"End of the window (RFC 3339), excluded"`
	Schedule string    `json:"schedule,omitempty" doc:"Only this cron trigger (default: every cron trigger of the latest version)"`
}

// BackfillRun is one run a backfill started.
type BackfillRun struct {
	RunID    string    `json:"run_id"`
	Schedule string    `json:"schedule"`
	Time     time.Time `json:"time" doc:"The tick, seen by the run's inputs as schedule.time"`
}

// BackfillResponse lists the runs a backfill started, oldest tick first.
type BackfillResponse struct {
	Runs []BackfillRun `json:"runs"`
}

type backfillInput struct {
	Namespace string `path:"namespace"`
	Name      string `path:"name"`
	Body      BackfillRequest
}

type backfillOutput struct {
	Status int
	Body   BackfillResponse
}

func (s *server) registerSchedules(api huma.API) {
	tags := []string{"schedules"}
	huma.Register(api, huma.Operation{
		OperationID: "list-schedules", Method: http.MethodGet, Path: Prefix + "/schedules", Tags: tags,
		Summary: "List cron schedules with their next fire times",
		Errors:  []int{http.StatusUnauthorized},
	}, func(ctx context.Context, in *listSchedulesInput) (*struct{ Body ScheduleList }, error) {
		list, err := s.eng.Schedules(ctx, in.Namespace, in.Workflow)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &struct{ Body ScheduleList }{Body: ScheduleList{Schedules: make([]Schedule, len(list))}}
		for i, sc := range list {
			out.Body.Schedules[i] = toSchedule(sc)
		}
		return out, nil
	})
	for _, op := range []struct {
		id, verb string
		paused   bool
		summary  string
	}{
		{"pause-schedule", "pause", true, "Pause a schedule: its ticks start nothing until it is resumed"},
		{"resume-schedule", "resume", false, "Resume a schedule from its next tick (the ticks missed while paused are not started)"},
	} {
		huma.Register(api, huma.Operation{
			OperationID: op.id, Method: http.MethodPost, Path: Prefix + "/schedules/{namespace}/{workflow}/{schedule}/" + op.verb, Tags: tags,
			Summary: op.summary,
			Errors:  []int{http.StatusUnauthorized, http.StatusNotFound},
		}, func(ctx context.Context, in *schedulePath) (*scheduleOutput, error) {
			sc, err := s.eng.PauseSchedule(ctx, in.Namespace, in.Workflow, in.Name, op.paused, actor(ctx))
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &scheduleOutput{Body: toSchedule(sc)}, nil
		})
	}
	huma.Register(api, huma.Operation{
		OperationID: "backfill-workflow", Method: http.MethodPost, Path: Prefix + "/workflows/{namespace}/{name}/backfill", Tags: tags,
		Summary: "Start the runs a window of the workflow's cron schedules would have started",
		Description: "One run per tick in [from, to) of every cron trigger of the latest version (or of `schedule`), oldest first, " +
			"each with its schedule.time; overlap and catchup policies do not apply. At most 1000 runs: a larger window is refused and starts nothing.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *backfillInput) (*backfillOutput, error) {
		got, err := s.eng.Backfill(ctx, &engine.BackfillParams{
			Namespace: in.Namespace, Workflow: in.Name, Schedule: in.Body.Schedule,
			From: in.Body.From, To: in.Body.To, Actor: actor(ctx),
		})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &backfillOutput{Status: http.StatusCreated, Body: BackfillResponse{Runs: make([]BackfillRun, len(got))}}
		for i, b := range got {
			out.Body.Runs[i] = BackfillRun{RunID: b.Run.ID, Schedule: b.Schedule, Time: b.Time}
		}
		return out, nil
	})
}

func toSchedule(s *store.Schedule) Schedule {
	out := Schedule{
		Namespace: s.Namespace, Workflow: s.Workflow, Name: s.Name, Version: s.Version, Cron: s.Cron,
		Timezone: s.Timezone, Paused: s.Paused, LastRunID: s.LastRunID, QueuedRunID: s.QueuedRunID,
		LastError: s.LastError, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy,
	}
	if !s.Paused && !s.NextFireAt.IsZero() {
		t := s.NextFireAt
		out.NextFireAt = &t
	}
	if !s.LastFiredAt.IsZero() {
		t := s.LastFiredAt
		out.LastFiredAt = &t
	}
	return out
}
