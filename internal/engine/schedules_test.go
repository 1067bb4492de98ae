package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
	"github.com/legatohq/legato/internal/store/sqlite"
)

// clock is a controllable engine clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// schedBundle is an engine with a controllable clock and no background
// loop and no workers: the test fires schedules itself, and runs stay
// active until the test cancels them.
type schedBundle struct {
	e     *Engine
	st    store.Store
	clock *clock
	ctx   context.Context
}

func schedOpen(t *testing.T, pg bool) store.Store {
	if pg {
		dsn := pgtest.DSN(t)
		st, err := postgres.Open(t.Context(), dsn, postgres.Schema(pgtest.Schema(t, dsn)))
		require.NoError(t, err)
		return st
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	return st
}

func schedSetup(t *testing.T, pg bool, start string) *schedBundle {
	t.Helper()
	st := schedOpen(t, pg)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	c := &clock{t: mustTime(start)}
	return &schedBundle{e: New(st, Options{Now: c.Now}), st: st, clock: c, ctx: t.Context()}
}

// forBothStores runs f on SQLite and PostgreSQL.
func forBothStores(t *testing.T, f func(t *testing.T, pg bool)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, false) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); f(t, true) })
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func (b *schedBundle) apply(t *testing.T, src string) {
	t.Helper()
	w, err := spec.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	_, _, err = b.e.Apply(b.ctx, w, src, "test")
	require.NoError(t, err)
}

// fireAt moves the clock to at, takes the scheduler duty and fires the
// due schedules.
func (b *schedBundle) fireAt(t *testing.T, at string) int {
	t.Helper()
	b.clock.Set(mustTime(at))
	require.NoError(t, b.e.beat(b.ctx))
	require.True(t, b.e.Leader())
	n, err := b.e.FireDueSchedules(b.ctx)
	require.NoError(t, err)
	return n
}

// runs lists the runs of a workflow, oldest first.
func (b *schedBundle) runs(t *testing.T, wf string) []*store.Run {
	t.Helper()
	var out []*store.Run
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.RunList(b.ctx, &store.RunListParams{Namespace: "default", Workflow: wf, Limit: 1000})
		return err
	}))
	slices.Reverse(out)
	return out
}

// ticks lists the schedule.time input of each run, oldest first.
func (b *schedBundle) ticks(t *testing.T, wf string) []string {
	t.Helper()
	var out []string
	for _, r := range b.runs(t, wf) {
		out = append(out, r.Inputs["at"].(string))
	}
	return out
}

func (b *schedBundle) schedule(t *testing.T, wf, name string) *store.Schedule {
	t.Helper()
	var s *store.Schedule
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		s, err = tx.ScheduleGet(b.ctx, "default", wf, name)
		return err
	}))
	return s
}

const cronWorkflow = `name: tick
inputs:
  at: {type: string, required: true}
triggers:
  - cron: "*/10 * * * *"
    name: ten
    inputs: {at: "${{ schedule.time }}"}
`

func TestScheduleCatchup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy string
		want   []string // the ticks started after the downtime
	}{
		{"catchup: all\n    catchup_limit: 3", []string{"2026-03-01T00:40:00Z", "2026-03-01T00:50:00Z", "2026-03-01T01:00:00Z"}},
		{"catchup: all", []string{"2026-03-01T00:20:00Z", "2026-03-01T00:30:00Z", "2026-03-01T00:40:00Z", "2026-03-01T00:50:00Z", "2026-03-01T01:00:00Z"}},
		{"catchup: latest", []string{"2026-03-01T01:00:00Z"}},
		{"catchup: none", nil},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			forBothStores(t, func(t *testing.T, pg bool) {
				b := schedSetup(t, pg, "2026-03-01T00:00:30Z")
				b.apply(t, cronWorkflow+"    "+tc.policy+"\ntasks: [{id: a, type: noop}]\n")
				require.Equal(t, mustTime("2026-03-01T00:10:00Z"), b.schedule(t, "tick", "ten").NextFireAt)
				require.Zero(t, b.fireAt(t, "2026-03-01T00:09:59Z"), "not due yet")
				require.Equal(t, 1, b.fireAt(t, "2026-03-01T00:10:02Z"), "on time")
				require.Zero(t, b.fireAt(t, "2026-03-01T00:10:03Z"), "a tick fires once")
				// No server from 00:10:03 to 01:05: five ticks missed.
				require.Equal(t, len(tc.want), b.fireAt(t, "2026-03-01T01:05:00Z"))
				require.Equal(t, append([]string{"2026-03-01T00:10:00Z"}, tc.want...), b.ticks(t, "tick"))
				s := b.schedule(t, "tick", "ten")
				require.Equal(t, mustTime("2026-03-01T01:10:00Z"), s.NextFireAt)
				// Back to normal: the next tick fires on time whatever the policy.
				require.Equal(t, 1, b.fireAt(t, "2026-03-01T01:10:30Z"))
				require.Equal(t, "2026-03-01T01:10:00Z", b.ticks(t, "tick")[len(tc.want)+1])
			})
		})
	}
}

// Ticks up to a minute late are on time: they fire whatever the catchup
// policy (a busy scheduler or a duty handover loses none).
func TestScheduleLateTicksAreOnTime(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"none", "latest", "all"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			b := schedSetup(t, false, "2026-03-01T00:00:00Z")
			b.apply(t, `name: tick
inputs: {at: {type: string}}
triggers:
  - cron: "*/10 * * * * *"
    catchup: `+policy+`
    inputs: {at: "${{ schedule.time }}"}
tasks: [{id: a, type: noop}]
`)
			require.Equal(t, 5, b.fireAt(t, "2026-03-01T00:00:55Z"))
			require.Equal(t, []string{"2026-03-01T00:00:10Z", "2026-03-01T00:00:20Z", "2026-03-01T00:00:30Z",
				"2026-03-01T00:00:40Z", "2026-03-01T00:00:50Z"}, b.ticks(t, "tick"))
			// Two minutes without a scheduler: 12 ticks, the last 6 on time.
			want := map[string]int{"none": 6, "latest": 6, "all": 12}[policy]
			require.Equal(t, want, b.fireAt(t, "2026-03-01T00:02:55Z"))
			got := b.ticks(t, "tick")
			require.Equal(t, "2026-03-01T00:02:50Z", got[len(got)-1])
			if policy == "all" {
				require.Equal(t, "2026-03-01T00:01:00Z", got[5], "the missed ticks too")
			} else {
				require.Equal(t, "2026-03-01T00:02:00Z", got[5], "the on-time ticks only")
			}
		})
	}
}

func TestScheduleOverlap(t *testing.T) {
	t.Parallel()
	forBothStores(t, func(t *testing.T, pg bool) {
		for _, policy := range []string{"allow", "skip", "queue", "cancel_previous"} {
			t.Run(policy, func(t *testing.T) {
				b := schedSetup(t, pg, "2026-03-01T00:00:00Z")
				b.apply(t, cronWorkflow+"    overlap: "+policy+"\ntasks: [{id: a, type: noop}]\n")
				require.Equal(t, 1, b.fireAt(t, "2026-03-01T00:10:00Z"))
				first := b.runs(t, "tick")[0]
				require.Equal(t, store.RunRunning, first.Status, "no worker: the run stays active")
				require.Equal(t, "schedule:ten", first.CreatedBy)
				second := b.fireAt(t, "2026-03-01T00:20:00Z")
				third := b.fireAt(t, "2026-03-01T00:30:00Z")
				runs := b.runs(t, "tick")
				status := func() []store.RunStatus {
					var out []store.RunStatus
					for _, r := range b.runs(t, "tick") {
						out = append(out, r.Status)
					}
					return out
				}
				switch policy {
				case "allow":
					require.Equal(t, []int{1, 1}, []int{second, third})
					require.Equal(t, []store.RunStatus{store.RunRunning, store.RunRunning, store.RunRunning}, status())
				case "skip":
					require.Equal(t, []int{0, 0}, []int{second, third})
					require.Len(t, runs, 1)
				case "queue":
					require.Equal(t, []int{1, 0}, []int{second, third}, "one run waits at most")
					require.Equal(t, []store.RunStatus{store.RunRunning, store.RunQueued}, status())
					require.Equal(t, runs[1].ID, b.schedule(t, "tick", "ten").QueuedRunID)
					// The previous run ends: the queued one starts in the same transaction.
					_, err := b.e.CancelRun(b.ctx, first.ID, "test")
					require.NoError(t, err)
					require.Equal(t, []store.RunStatus{store.RunCanceled, store.RunRunning}, status())
					s := b.schedule(t, "tick", "ten")
					require.Equal(t, runs[1].ID, s.LastRunID)
					require.Empty(t, s.QueuedRunID)
					require.Equal(t, "2026-03-01T00:20:00Z", runs[1].Inputs["at"])
				case "cancel_previous":
					require.Equal(t, []int{1, 1}, []int{second, third})
					require.Equal(t, []store.RunStatus{store.RunCanceled, store.RunCanceled, store.RunRunning}, status())
					require.Contains(t, b.runs(t, "tick")[0].Error, "cancel_previous")
				}
			})
		}
	})
}

func TestScheduleSync(t *testing.T) {
	t.Parallel()
	b := schedSetup(t, false, "2026-03-01T00:00:00Z")
	wf := func(triggers string) string {
		return "name: sync\ntriggers:\n" + triggers + "tasks: [{id: a, type: noop}]\n"
	}
	list := func() []*store.Schedule {
		s, err := b.e.Schedules(b.ctx, "default", "sync")
		require.NoError(t, err)
		return s
	}
	b.apply(t, wf("  - cron: \"0 * * * *\"\n  - cron: \"@daily\"\n    timezone: Europe/Paris\n"))
	got := list()
	require.Len(t, got, 2)
	require.Equal(t, "cron-1", got[0].Name)
	require.Equal(t, mustTime("2026-03-01T01:00:00Z"), got[0].NextFireAt)
	require.Equal(t, "cron-2", got[1].Name)
	require.Equal(t, mustTime("2026-03-01T23:00:00Z"), got[1].NextFireAt, "midnight in Paris")
	require.Equal(t, 1, got[0].Version)

	// Pause one; applying the same content again changes nothing.
	b.clock.Set(mustTime("2026-03-01T00:30:00Z"))
	p, err := b.e.PauseSchedule(b.ctx, "default", "sync", "cron-1", true, "alice")
	require.NoError(t, err)
	require.True(t, p.Paused)
	before := list()
	b.apply(t, wf("  - cron: \"0 * * * *\"\n  - cron: \"@daily\"\n    timezone: Europe/Paris\n"))
	require.Equal(t, before, list())

	// A paused schedule does not fire.
	require.Zero(t, b.fireAt(t, "2026-03-01T03:00:00Z"))

	// A new version: the unchanged expression keeps its state, a changed
	// one gets a new next fire time, a removed one goes.
	b.apply(t, wf("  - cron: \"0 * * * *\"\n  - cron: \"*/5 * * * *\"\n    name: five\n"))
	got = list()
	require.Len(t, got, 2)
	require.Equal(t, "cron-1", got[0].Name)
	require.True(t, got[0].Paused)
	require.Equal(t, 2, got[0].Version)
	require.Equal(t, "five", got[1].Name)
	require.Equal(t, mustTime("2026-03-01T03:05:00Z"), got[1].NextFireAt)

	// Resume: the ticks missed while paused are not started.
	r, err := b.e.PauseSchedule(b.ctx, "default", "sync", "cron-1", false, "alice")
	require.NoError(t, err)
	require.False(t, r.Paused)
	require.Equal(t, mustTime("2026-03-01T04:00:00Z"), r.NextFireAt)
	require.Equal(t, "alice", r.UpdatedBy)
	_, err = b.e.PauseSchedule(b.ctx, "default", "sync", "nope", true, "alice")
	require.ErrorIs(t, err, ErrScheduleNotFound)

	// A schedule row lost (a database from before schedules): the sync at
	// start puts it back; a second sync changes nothing.
	require.NoError(t, b.st.Tx(b.ctx, func(tx store.Tx) error { return tx.ScheduleDelete(b.ctx, "default", "sync", "five") }))
	require.NoError(t, b.e.SyncSchedules(b.ctx))
	synced := list()
	require.Len(t, synced, 2)
	require.Equal(t, "system:sync", synced[1].UpdatedBy)
	require.Equal(t, mustTime("2026-03-01T03:05:00Z"), synced[1].NextFireAt)
	require.NoError(t, b.e.SyncSchedules(b.ctx))
	require.Equal(t, synced, list())

	// No triggers left: no schedules.
	b.apply(t, "name: sync\ntasks: [{id: a, type: noop}]\n")
	require.Empty(t, list())
}

func TestScheduleBadInputsDoNotBlock(t *testing.T) {
	t.Parallel()
	b := schedSetup(t, false, "2026-03-01T00:00:00Z")
	// The trigger gives no value for a required input: the tick starts
	// nothing, says why, and the schedule moves on.
	b.apply(t, "name: bad\ninputs: {id: {type: string, required: true}}\ntriggers: [{cron: '@hourly'}]\ntasks: [{id: a, type: noop}]\n")
	require.Zero(t, b.fireAt(t, "2026-03-01T01:00:00Z"))
	s := b.schedule(t, "bad", "cron-1")
	require.Contains(t, s.LastError, "id")
	require.Equal(t, mustTime("2026-03-01T02:00:00Z"), s.NextFireAt)
	require.Empty(t, b.runs(t, "bad"))
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	b := schedSetup(t, false, "2026-03-01T12:00:00Z")
	b.apply(t, cronWorkflow+"  - cron: \"0 * * * *\"\n    name: hourly\n    timezone: Europe/Paris\n    inputs: {at: \"${{ schedule.name + ' ' + schedule.time }}\"}\ntasks: [{id: a, type: noop}]\n")
	got, err := b.e.Backfill(b.ctx, &BackfillParams{
		Namespace: "default", Workflow: "tick", From: mustTime("2026-02-01T00:00:00Z"), To: mustTime("2026-02-01T00:30:00Z"), Actor: "alice",
	})
	require.NoError(t, err)
	require.Len(t, got, 4, "from inclusive, to exclusive")
	require.Equal(t, []string{
		"2026-02-01T00:00:00Z", "hourly 2026-02-01T01:00:00+01:00", "2026-02-01T00:10:00Z", "2026-02-01T00:20:00Z",
	}, b.ticks(t, "tick"), "by time, then trigger order; schedule.time in the schedule's zone")
	for _, r := range b.runs(t, "tick") {
		require.Equal(t, "alice", r.CreatedBy)
	}

	// One trigger only.
	got, err = b.e.Backfill(b.ctx, &BackfillParams{
		Namespace: "default", Workflow: "tick", Schedule: "hourly", From: mustTime("2026-02-02T00:00:00Z"), To: mustTime("2026-02-02T03:00:00Z"),
	})
	require.NoError(t, err)
	require.Len(t, got, 3)

	// Too large, backwards, unknown: refused, nothing started.
	_, err = b.e.Backfill(b.ctx, &BackfillParams{Namespace: "default", Workflow: "tick", From: mustTime("2026-01-01T00:00:00Z"), To: mustTime("2026-02-01T00:00:00Z")})
	require.ErrorIs(t, err, ErrBackfillTooLarge)
	_, err = b.e.Backfill(b.ctx, &BackfillParams{Namespace: "default", Workflow: "tick", From: mustTime("2026-02-01T00:00:00Z"), To: mustTime("2026-01-01T00:00:00Z")})
	require.ErrorIs(t, err, ErrBadWindow)
	_, err = b.e.Backfill(b.ctx, &BackfillParams{Namespace: "default", Workflow: "tick", Schedule: "nope", From: mustTime("2026-02-01T00:00:00Z"), To: mustTime("2026-02-02T00:00:00Z")})
	require.ErrorIs(t, err, ErrScheduleNotFound)
	_, err = b.e.Backfill(b.ctx, &BackfillParams{Namespace: "default", Workflow: "nope", From: mustTime("2026-02-01T00:00:00Z"), To: mustTime("2026-02-02T00:00:00Z")})
	require.True(t, errors.Is(err, ErrWorkflowNotFound), "%v", err)
	require.Len(t, b.runs(t, "tick"), 7)
}
