package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StartRun starts a run of a workflow version and returns it as queued.
// Inputs the workflow rejects give an *APIError with code invalid_inputs
// whose Problems lists them.
func (c *Client) StartRun(ctx context.Context, req StartRunRequest) (*Run, error) {
	if req.Namespace == "" {
		req.Namespace = DefaultNamespace
	}
	var out Run
	if _, err := c.do(ctx, http.MethodPost, "/runs", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Run returns a run with its task runs.
func (c *Client) Run(ctx context.Context, id string) (*Run, error) {
	var out Run
	if _, err := c.do(ctx, http.MethodGet, runPath(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Runs lists runs, newest first, without their task runs.
func (c *Client) Runs(ctx context.Context, q RunsQuery) ([]Run, error) {
	v := url.Values{}
	setNonEmpty(v, "namespace", q.Namespace)
	setNonEmpty(v, "workflow", q.Workflow)
	setNonEmpty(v, "status", q.Status)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if !q.Before.IsZero() {
		v.Set("before", q.Before.UTC().Format(time.RFC3339Nano))
	}
	var out struct {
		Runs []Run `json:"runs"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/runs", v, nil, &out); err != nil {
		return nil, err
	}
	return out.Runs, nil
}

// CancelRun cancels a run that is not finished; cancelling a finished run
// gives an *APIError with code invalid_state.
func (c *Client) CancelRun(ctx context.Context, id string) (*Run, error) {
	var out Run
	if _, err := c.do(ctx, http.MethodPost, runPath(id)+"/cancel", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RetryRun retries a failed or canceled run: its failed task runs run
// again as a new attempt of the run. Retrying a run that succeeded gives an
// *APIError with code invalid_state.
func (c *Client) RetryRun(ctx context.Context, id string) (*Run, error) {
	var out Run
	if _, err := c.do(ctx, http.MethodPost, runPath(id)+"/retry", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logs returns the log lines of a run after q.After, and next: the seq to
// pass as After to read the lines that follow (q.After when there were
// none).
func (c *Client) Logs(ctx context.Context, id string, q LogsQuery) ([]LogLine, int64, error) {
	v := url.Values{}
	setNonEmpty(v, "task", q.Task)
	if q.Index != nil {
		v.Set("index", strconv.Itoa(*q.Index))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Lines []LogLine `json:"lines"`
		Next  int64     `json:"next"`
	}
	if _, err := c.do(ctx, http.MethodGet, runPath(id)+"/logs", v, nil, &out); err != nil {
		return nil, q.After, err
	}
	return out.Lines, out.Next, nil
}

// Events returns the entries of a run's journal after seq after, and the
// seq to pass to read the ones that follow.
func (c *Client) Events(ctx context.Context, id string, after int64) ([]Event, int64, error) {
	v := url.Values{}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	var out struct {
		Events []Event `json:"events"`
		Next   int64   `json:"next"`
	}
	if _, err := c.do(ctx, http.MethodGet, runPath(id)+"/events", v, nil, &out); err != nil {
		return nil, after, err
	}
	return out.Events, out.Next, nil
}

func runPath(id string) string { return "/runs/" + url.PathEscape(id) }

func setNonEmpty(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}
