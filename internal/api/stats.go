package api

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/store"
)

// Stats is the body of GET /stats: process figures per workflow over the
// runs created in a window.
type Stats struct {
	Window    string          `json:"window" doc:"The window asked, as a duration"`
	Since     time.Time       `json:"since" doc:"Runs created at or after this time count"`
	Until     time.Time       `json:"until" doc:"… and before this one (now)"`
	Workflows []WorkflowStats `json:"workflows" doc:"One entry per workflow with runs in the window, by namespace and name"`
	Notes     []string        `json:"notes" doc:"What a figure left null means"`
}

// WorkflowStats are one workflow's figures.
type WorkflowStats struct {
	Namespace string `json:"namespace"`
	Workflow  string `json:"workflow"`
	Runs      int    `json:"runs" doc:"Runs created in the window, whatever their status"`
	Finished  int    `json:"finished" doc:"Those of them that reached a final status"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Canceled  int    `json:"canceled"`
	// Rates and percentiles are null when no run finished.
	SuccessRate         *float64    `json:"success_rate" doc:"succeeded / finished; null when none finished"`
	ExceptionRate       *float64    `json:"exception_rate" doc:"(failed + canceled) / finished; null when none finished"`
	CycleTimeP50Seconds *float64    `json:"cycle_time_p50_seconds" doc:"Median of created-to-finished of the finished runs (nearest rank); null when none finished"`
	CycleTimeP95Seconds *float64    `json:"cycle_time_p95_seconds" doc:"95th percentile of the same"`
	SLACompliance       *float64    `json:"sla_compliance" doc:"Share of the finished runs that met their run SLA; null when the workflow (its latest version) declares no run sla, or no run finished"`
	SlowestTasks        []TaskStats `json:"slowest_tasks" doc:"Up to 5 tasks by p95 duration, slowest first"`
}

// TaskStats are one task's durations (start to finish of its task runs
// that succeeded or failed).
type TaskStats struct {
	Task       string  `json:"task"`
	Count      int     `json:"count" doc:"Task runs measured (each for_each item counts)"`
	P50Seconds float64 `json:"p50_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
}

type statsInput struct {
	Window    string `query:"window" default:"24h" doc:"How far back runs count, as a duration (90m, 24h) or days (7d); at most 366d"`
	Namespace string `query:"namespace" doc:"Only this namespace (default: all)"`
	Workflow  string `query:"workflow" doc:"Only workflows of this name (default: all)"`
}

type statsOutput struct{ Body Stats }

// slowestTasks is how many tasks a workflow's entry lists.
const slowestTasks = 5

// maxWindow bounds the window of GET /stats.
const maxWindow = 366 * 24 * time.Hour

// noSLANote explains a null SLA compliance.
const noSLANote = "sla_compliance is null for a workflow whose latest version declares no run sla, or with no run finished in the window"

func (s *server) registerStats(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-stats", Method: http.MethodGet, Path: Prefix + "/stats", Tags: []string{"stats"},
		Summary: "Process figures per workflow over a window: runs, success and exception rates, cycle time, slowest tasks",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.stats)
}

func (s *server) stats(ctx context.Context, in *statsInput) (*statsOutput, error) {
	window, err := parseWindow(in.Window)
	if err != nil {
		return nil, err
	}
	until := s.eng.Now().UTC()
	p := &store.StatsParams{Namespace: in.Namespace, Workflow: in.Workflow, Since: until.Add(-window), Until: until.Add(time.Microsecond)}
	var ws []*store.WorkflowStats
	var ts []*store.TaskStats
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if ws, err = tx.RunStats(ctx, p); err != nil {
			return err
		}
		ts, err = tx.TaskStats(ctx, p)
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := Stats{Window: in.Window, Since: p.Since, Until: until, Workflows: make([]WorkflowStats, 0, len(ws)), Notes: []string{noSLANote}}
	tasks := map[[2]string][]TaskStats{}
	for _, t := range ts {
		k := [2]string{t.Namespace, t.Workflow}
		tasks[k] = append(tasks[k], TaskStats{Task: t.Task, Count: t.Count, P50Seconds: t.P50.Seconds(), P95Seconds: t.P95.Seconds()})
	}
	for _, w := range ws {
		ow := toWorkflowStats(w, tasks[[2]string{w.Namespace, w.Workflow}])
		if wf, _, err := s.eng.LatestWorkflow(ctx, w.Namespace, w.Workflow); err == nil && wf.SLA != nil {
			if ow.Finished > 0 {
				ow.SLACompliance = ptr(1 - float64(w.Breached)/float64(ow.Finished))
			}
		}
		out.Workflows = append(out.Workflows, ow)
	}
	return &statsOutput{Body: out}, nil
}

func toWorkflowStats(w *store.WorkflowStats, tasks []TaskStats) WorkflowStats {
	out := WorkflowStats{
		Namespace: w.Namespace, Workflow: w.Workflow, Runs: w.Runs,
		Finished: w.Succeeded + w.Failed + w.Canceled, Succeeded: w.Succeeded, Failed: w.Failed, Canceled: w.Canceled,
	}
	if out.Finished > 0 {
		f := float64(out.Finished)
		out.SuccessRate = ptr(float64(w.Succeeded) / f)
		out.ExceptionRate = ptr(float64(w.Failed+w.Canceled) / f)
		out.CycleTimeP50Seconds = ptr(w.CycleP50.Seconds())
		out.CycleTimeP95Seconds = ptr(w.CycleP95.Seconds())
	}
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].P95Seconds > tasks[j].P95Seconds })
	if len(tasks) > slowestTasks {
		tasks = tasks[:slowestTasks]
	}
	out.SlowestTasks = append([]TaskStats{}, tasks...)
	return out
}

func ptr[T any](v T) *T { return &v }

// parseWindow reads a Go duration or a number of days ("7d").
func parseWindow(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if days, err = strconv.Atoi(n); days > 366 {
			days = -1
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > maxWindow {
		return 0, errInvalidRequest("window must be a positive duration up to 366d such as 90m, 24h or 7d, not %q", s)
	}
	return d, nil
}
