package store

import "time"

// QueueStat is the queued work of one queue, read at scrape time for
// metrics.
type QueueStat struct {
	Queue string
	// Depth counts the queued attempts of the queue, due or not.
	Depth int
	// OldestDue is the earliest NotBefore among the queue's queued
	// attempts already due at the time asked (zero when none is due): the
	// longest a due attempt has waited for a worker.
	OldestDue time.Time
}

// StatsParams selects the runs RunStats and TaskStats summarize: the runs
// created in [Since, Until).
type StatsParams struct {
	// Namespace and Workflow filter when not empty.
	Namespace string
	Workflow  string
	Since     time.Time
	Until     time.Time
}

// WorkflowStats are the process figures of one workflow's runs created in
// a window.
type WorkflowStats struct {
	Namespace string
	Workflow  string
	// Runs counts the runs created in the window, whatever their status.
	Runs int
	// Succeeded, Failed and Canceled count those of them that finished so.
	Succeeded int
	Failed    int
	Canceled  int
	// CycleP50 and CycleP95 are percentiles (nearest rank) of the finished
	// runs' cycle time, CreatedAt to FinishedAt; zero when none finished.
	CycleP50 time.Duration
	CycleP95 time.Duration
	// Breached counts the finished runs that missed their SLA.
	Breached int
}

// TaskStats are the durations of one task of a workflow over the task runs
// (StartedAt to FinishedAt) of the runs created in a window that started
// and finished.
type TaskStats struct {
	Namespace string
	Workflow  string
	Task      string
	Count     int
	P50       time.Duration
	P95       time.Duration
}
