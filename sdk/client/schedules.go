package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Schedule is one cron trigger's schedule (GET /schedules).
type Schedule struct {
	Namespace string `json:"namespace"`
	Workflow  string `json:"workflow"`
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Cron      string `json:"cron"`
	Timezone  string `json:"timezone"`
	Paused    bool   `json:"paused"`
	// NextFireAt is nil when paused or when no tick is left.
	NextFireAt  *time.Time `json:"next_fire_at,omitempty"`
	LastFiredAt *time.Time `json:"last_fired_at,omitempty"`
	LastRunID   string     `json:"last_run_id,omitempty"`
	QueuedRunID string     `json:"queued_run_id,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	UpdatedBy   string     `json:"updated_by"`
}

// BackfillRequest asks for the runs the window [From, To) of a workflow's
// cron triggers would have started (Schedule: only that trigger).
type BackfillRequest struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Schedule string    `json:"schedule,omitempty"`
}

// BackfillRun is one run a backfill started, for the tick Time.
type BackfillRun struct {
	RunID    string    `json:"run_id"`
	Schedule string    `json:"schedule"`
	Time     time.Time `json:"time"`
}

// Schedules lists the cron schedules of a namespace and workflow (empty:
// all).
func (c *Client) Schedules(ctx context.Context, namespace, workflow string) ([]Schedule, error) {
	v := url.Values{}
	setNonEmpty(v, "namespace", namespace)
	setNonEmpty(v, "workflow", workflow)
	var out struct {
		Schedules []Schedule `json:"schedules"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/schedules", v, nil, &out); err != nil {
		return nil, err
	}
	return out.Schedules, nil
}

// PauseSchedule stops a schedule starting runs; ResumeSchedule starts it
// again from its next tick.
func (c *Client) PauseSchedule(ctx context.Context, namespace, workflow, name string) (*Schedule, error) {
	return c.scheduleAction(ctx, namespace, workflow, name, "pause")
}

// ResumeSchedule resumes a paused schedule from its next tick; the ticks
// missed while paused start nothing.
func (c *Client) ResumeSchedule(ctx context.Context, namespace, workflow, name string) (*Schedule, error) {
	return c.scheduleAction(ctx, namespace, workflow, name, "resume")
}

func (c *Client) scheduleAction(ctx context.Context, namespace, workflow, name, verb string) (*Schedule, error) {
	var out Schedule
	path := "/schedules/" + url.PathEscape(namespace) + "/" + url.PathEscape(workflow) + "/" + url.PathEscape(name) + "/" + verb
	if _, err := c.do(ctx, http.MethodPost, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Backfill starts the runs of the ticks in a window, oldest first (at most
// 1000; a larger window is refused with code invalid_request).
func (c *Client) Backfill(ctx context.Context, namespace, workflow string, req BackfillRequest) ([]BackfillRun, error) {
	var out struct {
		Runs []BackfillRun `json:"runs"`
	}
	path := "/workflows/" + url.PathEscape(namespace) + "/" + url.PathEscape(workflow) + "/backfill"
	if _, err := c.do(ctx, http.MethodPost, path, nil, req, &out); err != nil {
		return nil, err
	}
	return out.Runs, nil
}
