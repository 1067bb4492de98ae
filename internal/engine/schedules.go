package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/cron"
	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Cron schedules: a workflow's cron triggers are rows of the schedules
// table, kept in step with its latest version by Apply. The scheduler
// duty's holder fires the due ones (FireDueSchedules), each tick in one
// transaction that checks the duty's fence, moves the schedule's next fire
// time and creates the runs, so a tick fires once whatever the number of
// servers and however the duty moves.

const (
	// missedAfter is how late a tick may be and still count as on time:
	// on-time ticks always fire; the catchup policy is for older ones.
	missedAfter = time.Minute
	// MaxBackfill bounds the runs one backfill may start.
	MaxBackfill = 1000
	// scheduleActor prefixes the actor of the runs a schedule starts
	// ("schedule:<name>").
	scheduleActor = "schedule:"
)

var (
	// ErrScheduleNotFound: no schedule (cron trigger) with that name.
	ErrScheduleNotFound = errors.New("schedule not found")
	// ErrBackfillTooLarge: the window holds more ticks than MaxBackfill.
	ErrBackfillTooLarge = errors.New("backfill window too large")
	// ErrBadWindow: a backfill window that ends before it starts.
	ErrBadWindow = errors.New("invalid backfill window")
)

// syncSchedules makes the schedules of a workflow those of its new version
// v: a new trigger gets its next fire time, an unchanged expression keeps
// its own (and its pause), a removed trigger loses its schedule.
func (e *Engine) syncSchedules(ctx context.Context, tx store.Tx, fx *effects, w *spec.Workflow, version int, actor string) error {
	old, err := tx.ScheduleList(ctx, w.Namespace, w.Name)
	if err != nil {
		return err
	}
	now := e.now().UTC()
	keep := map[string]bool{}
	for i, t := range w.Triggers {
		name := w.CronName(i)
		if name == "" {
			continue
		}
		keep[name] = true
		s := &store.Schedule{Namespace: w.Namespace, Workflow: w.Name, Name: name}
		if j := slices.IndexFunc(old, func(o *store.Schedule) bool { return o.Name == name }); j >= 0 {
			s = old[j]
		}
		same := s.Version > 0 && s.Cron == t.Cron && s.Timezone == t.Timezone
		if same && s.Version == version {
			continue // in step already
		}
		s.Version, s.Cron, s.Timezone, s.UpdatedAt, s.UpdatedBy = version, t.Cron, t.Timezone, now, actor
		if !same {
			sched, err := cron.Parse(t.Cron, t.Timezone)
			if err != nil {
				return fmt.Errorf("schedule %s: %w", name, err)
			}
			s.NextFireAt = sched.Next(now).UTC()
			fx.timers = true
		}
		if err := tx.ScheduleUpsert(ctx, s); err != nil {
			return err
		}
	}
	for _, o := range old {
		if !keep[o.Name] {
			if err := tx.ScheduleDelete(ctx, o.Namespace, o.Workflow, o.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// SyncSchedules brings the schedules of every workflow in step with its
// latest version (a database upgraded to schedules, or a version applied
// by an older server); schedules already in step are left as they are.
func (e *Engine) SyncSchedules(ctx context.Context) error {
	var latest []*store.WorkflowVersion
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		latest, err = tx.WorkflowList(ctx, "")
		return err
	}); err != nil {
		return err
	}
	var errs []error
	for _, v := range latest {
		w := new(spec.Workflow)
		if err := json.Unmarshal(v.Spec, w); err != nil {
			errs = append(errs, fmt.Errorf("decode workflow %s/%s v%d: %w", v.Namespace, v.Name, v.Version, err))
			continue
		}
		err := e.tx(ctx, func(tx store.Tx, fx *effects) error {
			cur, err := tx.VersionGet(ctx, v.Namespace, v.Name, 0)
			if err != nil || cur.Version != v.Version {
				return err // a newer version synced its own
			}
			return e.syncSchedules(ctx, tx, fx, w, v.Version, "system:sync")
		})
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("workflow %s/%s: %w", v.Namespace, v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Schedules lists the schedules of a workflow (of a namespace when
// workflow is empty; of all when both are).
func (e *Engine) Schedules(ctx context.Context, namespace, workflow string) ([]*store.Schedule, error) {
	var out []*store.Schedule
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ScheduleList(ctx, namespace, workflow)
		return err
	})
	return out, err
}

// PauseSchedule stops a schedule firing (paused true) or resumes it; a
// resumed schedule fires from its next tick after now, not the ones
// missed while paused. It returns the schedule as it stands.
func (e *Engine) PauseSchedule(ctx context.Context, namespace, workflow, name string, paused bool, actor string) (*store.Schedule, error) {
	var s *store.Schedule
	err := e.tx(ctx, func(tx store.Tx, fx *effects) error {
		var err error
		s, err = tx.ScheduleGet(ctx, namespace, workflow, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s/%s/%s", ErrScheduleNotFound, namespace, workflow, name)
		}
		if err != nil || s.Paused == paused {
			return err
		}
		now := e.now().UTC()
		s.Paused, s.UpdatedAt, s.UpdatedBy = paused, now, actor
		if !paused {
			sched, err := cron.Parse(s.Cron, s.Timezone)
			if err != nil {
				return err
			}
			s.NextFireAt = sched.Next(now).UTC()
			fx.timers = true
		}
		return tx.ScheduleUpsert(ctx, s)
	})
	return s, err
}

// FireDueSchedules fires every schedule due now, one transaction per
// schedule under the scheduler duty, and returns how many runs started.
func (e *Engine) FireDueSchedules(ctx context.Context) (int, error) {
	var due []*store.Schedule
	if err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		due, err = tx.ScheduleListDue(ctx, e.now().UTC(), batch)
		return err
	}); err != nil {
		return 0, err
	}
	started := 0
	for _, s := range due {
		n, err := e.fireSchedule(ctx, s.Namespace, s.Workflow, s.Name)
		if errors.Is(err, errNotLeader) || ctx.Err() != nil {
			return started, err
		}
		if err != nil {
			e.log.Error("fire schedule", "namespace", s.Namespace, "workflow", s.Workflow, "schedule", s.Name, "err", err)
			continue
		}
		started += n
	}
	return started, nil
}

// fireSchedule handles the due ticks of one schedule in one fenced
// transaction: it re-reads the schedule under its lock, so a tick another
// transaction already handled is not handled again.
func (e *Engine) fireSchedule(ctx context.Context, ns, wf, name string) (int, error) {
	started := 0
	err := e.dutyTx(ctx, func(tx store.Tx, fx *effects) error {
		started = 0
		now := e.now().UTC()
		s, err := tx.ScheduleGet(ctx, ns, wf, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if s.Paused || s.NextFireAt.IsZero() || s.NextFireAt.After(now) {
			return nil
		}
		w, _, err := e.workflow(ctx, tx, ns, wf, s.Version)
		if err != nil {
			return err
		}
		t := cronTrigger(w, name)
		if t == nil {
			return fmt.Errorf("%w: version %d of %s/%s has no cron trigger %s", ErrScheduleNotFound, s.Version, ns, wf, name)
		}
		sched, err := cron.Parse(t.Cron, t.Timezone)
		if err != nil {
			return err
		}
		for _, tick := range dueTicks(sched, t, s.NextFireAt, now) {
			ok, err := e.fireTick(ctx, tx, fx, s, t, tick)
			if err != nil {
				return err
			}
			if ok {
				started++
			}
		}
		s.NextFireAt = sched.Next(now).UTC()
		fx.timers = true
		return tx.ScheduleUpsert(ctx, s)
	})
	return started, err
}

// dueTicks are the ticks to handle from next (the schedule's stored next
// fire time) up to now. A tick at most missedAfter late is on time and
// always fires (a busy or moving scheduler loses nothing); older ones were
// missed and fire per the catchup policy: all (at most catchup_limit, the
// latest), latest (the last one, unless an on-time tick follows it), or
// none.
func dueTicks(sched *cron.Schedule, t *spec.Trigger, next, now time.Time) []time.Time {
	from := next.Add(-time.Nanosecond)
	cut := now.Add(-missedAfter)
	onTime, _ := sched.Last(maxTime(from, cut), now, spec.MaxCatchupLimit)
	if !cut.After(from) {
		return onTime
	}
	var missed []time.Time
	switch t.Catchup {
	case spec.CatchupAll:
		n := t.CatchupLimit
		if n == 0 {
			n = spec.DefaultCatchupLimit
		}
		missed, _ = sched.Last(from, cut, n)
	case spec.CatchupNone:
	default: // latest
		if len(onTime) == 0 {
			missed, _ = sched.Last(from, cut, 1)
		}
	}
	return append(missed, onTime...)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cronTrigger finds the cron trigger called name.
func cronTrigger(w *spec.Workflow, name string) *spec.Trigger {
	for i := range w.Triggers {
		if w.CronName(i) == name {
			return &w.Triggers[i]
		}
	}
	return nil
}

// fireTick starts the run of one tick, as the overlap policy allows, and
// records it on s (which the caller stores). It reports whether a run
// was created.
func (e *Engine) fireTick(ctx context.Context, tx store.Tx, fx *effects, s *store.Schedule, t *spec.Trigger, tick time.Time) (bool, error) {
	actor := scheduleActor + s.Name
	active := false
	if s.LastRunID != "" {
		prev, err := tx.RunGet(ctx, s.LastRunID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return false, err
		default:
			active = !prev.Status.Terminal()
		}
	}
	if active {
		switch t.Overlap {
		case spec.OverlapSkip:
			e.log.Info("schedule tick skipped: the previous run is active", "workflow", s.Workflow, "schedule", s.Name, "tick", tick, "run", s.LastRunID)
			return false, nil
		case spec.OverlapQueue:
			if s.QueuedRunID != "" {
				e.log.Info("schedule tick skipped: a run already waits for the previous one", "workflow", s.Workflow, "schedule", s.Name, "tick", tick)
				return false, nil
			}
		case spec.OverlapCancelPrevious:
			reason := fmt.Sprintf("canceled by schedule %s: a new tick started (overlap: cancel_previous)", s.Name)
			if err := e.apply(ctx, tx, fx, s.LastRunID, Cancel{Reason: reason}, actor, 0); err != nil {
				return false, err
			}
		}
	}
	inputs, err := scheduleInputs(t, s.Name, tick, e.env)
	if err != nil {
		s.LastError = err.Error()
		return false, nil
	}
	run := &store.Run{ID: e.newID(), Namespace: s.Namespace, Workflow: s.Workflow, Inputs: inputs, ParentIndex: -1, CreatedBy: actor}
	if active && t.Overlap == spec.OverlapQueue {
		_, err = e.insertRun(ctx, tx, fx, run, s.Version, actor)
	} else {
		err = e.createRun(ctx, tx, fx, run, s.Version, actor, 0)
	}
	var ie *InputError
	if errors.As(err, &ie) {
		s.LastError = err.Error()
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if active && t.Overlap == spec.OverlapQueue {
		s.QueuedRunID = run.ID
	} else {
		s.LastRunID = run.ID
	}
	s.LastFiredAt, s.LastError = tick.UTC(), ""
	return true, nil
}

// scheduleInputs renders a cron trigger's inputs for one tick: they see
// schedule.time (RFC 3339 in the schedule's zone), schedule.name and env.
func scheduleInputs(t *spec.Trigger, name string, tick time.Time, env map[string]string) (map[string]any, error) {
	if len(t.Inputs) == 0 {
		return nil, nil
	}
	envVars := make(map[string]any, len(env))
	for k, v := range env {
		envVars[k] = v
	}
	out, err := expr.Render(t.Inputs, expr.Vars{
		"schedule": map[string]any{"time": tick.Format(time.RFC3339), "name": name},
		"env":      envVars,
	})
	if err != nil {
		return nil, fmt.Errorf("schedule %s: inputs: %w", name, err)
	}
	m, _ := out.(map[string]any)
	return m, nil
}

// startQueuedTick starts the run a schedule queued (overlap: queue) once
// the run it waited for has finished.
func (e *Engine) startQueuedTick(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, depth int) error {
	name, ok := strings.CutPrefix(run.CreatedBy, scheduleActor)
	if !ok {
		return nil
	}
	s, err := tx.ScheduleGet(ctx, run.Namespace, run.Workflow, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || s.LastRunID != run.ID || s.QueuedRunID == "" {
		return err
	}
	next := s.QueuedRunID
	s.LastRunID, s.QueuedRunID = next, ""
	if err := tx.ScheduleUpsert(ctx, s); err != nil {
		return err
	}
	r, err := tx.RunGet(ctx, next)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || r.Status != store.RunQueued {
		return err
	}
	return e.apply(ctx, tx, fx, next, Start{}, run.CreatedBy, depth+1)
}

// BackfillParams asks for the runs a window of a workflow's schedules
// would have started.
type BackfillParams struct {
	Namespace string
	Workflow  string
	// Schedule limits the backfill to one cron trigger ("" is all).
	Schedule string
	// From and To bound the window: ticks t with From <= t < To.
	From, To time.Time
	Actor    string
}

// Backfilled is one run a backfill started.
type Backfilled struct {
	Schedule string
	Time     time.Time
	Run      *store.Run
}

// Backfill starts, in one transaction, a run for every tick of the
// workflow's cron triggers (latest version) in the window, oldest first,
// each with its schedule.time; overlap and catchup policies do not apply.
// A window with more than MaxBackfill ticks is refused and starts nothing.
func (e *Engine) Backfill(ctx context.Context, p *BackfillParams) ([]Backfilled, error) {
	if !p.From.Before(p.To) {
		return nil, fmt.Errorf("%w: from (%s) must be before to (%s)", ErrBadWindow, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	var out []Backfilled
	err := e.tx(ctx, func(tx store.Tx, fx *effects) error {
		out = nil
		w, v, err := e.workflow(ctx, tx, p.Namespace, p.Workflow, 0)
		if err != nil {
			return err
		}
		for i := range w.Triggers {
			name := w.CronName(i)
			if name == "" || (p.Schedule != "" && name != p.Schedule) {
				continue
			}
			t := &w.Triggers[i]
			sched, err := cron.Parse(t.Cron, t.Timezone)
			if err != nil {
				return err
			}
			ticks, _ := sched.Between(p.From.Add(-time.Nanosecond), p.To, MaxBackfill+1)
			for _, tick := range ticks {
				if tick.Before(p.To) {
					out = append(out, Backfilled{Schedule: name, Time: tick})
				}
			}
			if len(out) > MaxBackfill {
				return fmt.Errorf("%w: it holds more than %d ticks; narrow it", ErrBackfillTooLarge, MaxBackfill)
			}
		}
		if len(out) == 0 {
			if p.Schedule != "" && cronTrigger(w, p.Schedule) == nil {
				return fmt.Errorf("%w: %s/%s has no cron trigger %s", ErrScheduleNotFound, p.Namespace, p.Workflow, p.Schedule)
			}
			if !slices.ContainsFunc(w.Triggers, func(t spec.Trigger) bool { return t.Cron != "" }) {
				return fmt.Errorf("%w: %s/%s has no cron trigger", ErrScheduleNotFound, p.Namespace, p.Workflow)
			}
		}
		slices.SortStableFunc(out, func(a, b Backfilled) int { return a.Time.Compare(b.Time) })
		for i := range out {
			b := &out[i]
			inputs, err := scheduleInputs(cronTrigger(w, b.Schedule), b.Schedule, b.Time, e.env)
			if err != nil {
				return &InputError{Problems: []string{err.Error()}}
			}
			b.Run = &store.Run{ID: e.newID(), Namespace: p.Namespace, Workflow: p.Workflow, Inputs: inputs, ParentIndex: -1, CreatedBy: p.Actor}
			if err := e.createRun(ctx, tx, fx, b.Run, v.Version, p.Actor, 0); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
