package store

import "time"

// Schedule is the stored state of one cron trigger of a workflow: when it
// fires next and what it last did. Its policies (catchup, overlap, inputs)
// are read from the workflow version named by Version.
type Schedule struct {
	Namespace string
	Workflow  string
	// Name is the trigger's schedule name (spec.Workflow.CronName).
	Name string
	// Version is the workflow version whose trigger this is.
	Version  int
	Cron     string
	Timezone string
	// NextFireAt is the next tick; zero means none (an expression that
	// never matches again).
	NextFireAt time.Time
	// Paused schedules fire nothing; resuming skips the ticks missed.
	Paused      bool
	LastFiredAt time.Time
	// LastRunID is the run the schedule started last (the overlap
	// policies look at it).
	LastRunID string
	// QueuedRunID is a run created by overlap: queue, waiting for
	// LastRunID to finish.
	QueuedRunID string
	// LastError says why the last tick started nothing (bad inputs).
	LastError string
	UpdatedAt time.Time
	UpdatedBy string
}
