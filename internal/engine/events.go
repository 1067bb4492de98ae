package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// lookBackPage is how many stored events a beginning wait reads at a time.
const lookBackPage = 500

// IngestResult is what storing one event did.
type IngestResult struct {
	// Event is the stored event: the first one when Duplicate.
	Event *store.InboxEvent
	// Duplicate says an event with the same source and id was stored
	// before: this one changed nothing.
	Duplicate bool
	// Runs are the runs the event started (one per subscribed workflow
	// whose filter it passed).
	Runs []string
	// Woke names the wait_event task runs it completed ("run/task/index").
	Woke []string
	// Problems are the triggers and waits the event could not be applied
	// to (a filter or an input that failed to evaluate): the event is
	// stored all the same.
	Problems []string
}

// IngestEvent stores an event and, in the same transaction, starts a run
// of every workflow of its namespace whose latest version subscribes to
// its type (`triggers: - event: TYPE`, when its filter passes) and
// completes every wait_event task waiting for it whose match is true. An
// event whose (source, id) was stored before changes nothing: delivering
// an event twice has the effects of delivering it once, whichever server
// receives it.
func (e *Engine) IngestEvent(ctx context.Context, ev *store.InboxEvent) (*IngestResult, error) {
	if ev.Namespace == "" {
		ev.Namespace = "default"
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = e.now().UTC()
	}
	var res *IngestResult
	err := e.tx(ctx, func(tx store.Tx, fx *effects) error {
		res = &IngestResult{}
		stored, created, err := tx.InboxInsert(ctx, ev)
		if err != nil {
			return err
		}
		res.Event, res.Duplicate = stored, !created
		if !created {
			return nil
		}
		if err := e.triggerRuns(ctx, tx, fx, stored, res); err != nil {
			return err
		}
		return e.wakeWaits(ctx, tx, fx, stored, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// EventVar is what expressions see as `event`.
func EventVar(ev *store.InboxEvent) map[string]any {
	t := ""
	if !ev.Time.IsZero() {
		t = ev.Time.UTC().Format(timeLayout)
	}
	return map[string]any{
		"id": ev.ID, "source": ev.Source, "type": ev.Type, "subject": ev.Subject, "time": t,
		"datacontenttype": ev.DataContentType, "data": ev.Data, "namespace": ev.Namespace,
		"received_at": ev.ReceivedAt.UTC().Format(timeLayout),
	}
}

func (e *Engine) envVar() map[string]any { return envVar(e.env) }

// envVar is what expressions see as `env`: the allow-listed variables.
func envVar(env map[string]string) map[string]any {
	out := make(map[string]any, len(env))
	for n, v := range env {
		out[n] = v
	}
	return out
}

// triggerRuns starts the runs of the workflows subscribed to ev's type.
func (e *Engine) triggerRuns(ctx context.Context, tx store.Tx, fx *effects, ev *store.InboxEvent, res *IngestResult) error {
	versions, err := tx.WorkflowList(ctx, ev.Namespace)
	if err != nil {
		return err
	}
	vars := expr.Vars{"event": EventVar(ev), "env": e.envVar()}
	for _, v := range versions {
		w, _, err := e.workflow(ctx, tx, v.Namespace, v.Name, v.Version)
		if err != nil {
			return err
		}
		for i, t := range w.Triggers {
			if t.Event != ev.Type {
				continue
			}
			where := fmt.Sprintf("workflow %s/%s trigger %d", v.Namespace, v.Name, i+1)
			inputs, ok, err := TriggerInputs(t.Filter, t.Inputs, vars)
			if err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			if !ok {
				continue
			}
			run, _, err := e.startIn(ctx, tx, fx, &StartRunParams{
				Namespace: v.Namespace, Workflow: v.Name, Version: v.Version, Inputs: inputs, Actor: "event:" + ev.Source,
				Trigger: &store.RunTrigger{Kind: "event", Name: ev.Type, EventSource: ev.Source, EventID: ev.ID, ReceivedAt: ev.ReceivedAt},
			})
			var ie *InputError
			if errors.As(err, &ie) {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			if err != nil {
				return err
			}
			res.Runs = append(res.Runs, run.ID)
			break // one run per workflow and event
		}
	}
	return nil
}

// TriggerInputs evaluates a trigger's filter (empty: always) and, when it
// passes, its inputs over vars (event or request, and env).
func TriggerInputs(filter string, inputs map[string]any, vars expr.Vars) (map[string]any, bool, error) {
	if filter != "" {
		ok, err := expr.EvalBool(filter, vars)
		if err != nil {
			return nil, false, fmt.Errorf("filter: %w", err)
		}
		if !ok {
			return nil, false, nil
		}
	}
	if len(inputs) == 0 {
		return map[string]any{}, true, nil
	}
	v, err := expr.Render(inputs, vars)
	if err != nil {
		return nil, false, fmt.Errorf("inputs: %w", err)
	}
	m, _ := v.(map[string]any)
	return m, true, nil
}

// wakeWaits completes the waits that ev matches.
func (e *Engine) wakeWaits(ctx context.Context, tx store.Tx, fx *effects, ev *store.InboxEvent, res *IngestResult) error {
	waits, err := tx.EventWaitList(ctx, ev.Namespace, ev.Type)
	if err != nil {
		return err
	}
	event := EventVar(ev)
	for _, w := range waits {
		ok, err := e.matches(w.Match, w.Context, event)
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("wait %s: match: %v", store.IdempotencyKey(w.RunID, w.Task, w.Index), err))
			continue
		}
		if !ok {
			continue
		}
		if err := e.matched(ctx, tx, fx, w.RunID, w.Task, w.Index, event, "event:"+ev.Source, 0); err != nil {
			return err
		}
		res.Woke = append(res.Woke, store.IdempotencyKey(w.RunID, w.Task, w.Index))
	}
	return nil
}

// matches evaluates a wait's match over the run's context as the wait
// began, the event and the server's env.
func (e *Engine) matches(match string, context map[string]any, event map[string]any) (bool, error) {
	vars := make(expr.Vars, len(context)+2)
	maps.Copy(vars, context)
	vars["event"] = event
	vars["env"] = e.envVar()
	return expr.EvalBool(match, vars)
}

// matched completes a wait and removes its row (also when the task run no
// longer waits and Decide ignores the match).
func (e *Engine) matched(ctx context.Context, tx store.Tx, fx *effects, runID, task string, index int, event map[string]any, actor string, depth int) error {
	if err := e.apply(ctx, tx, fx, runID, EventMatched{Task: task, Index: index, Event: event}, actor, depth); err != nil {
		return err
	}
	return tx.EventWaitDelete(ctx, runID, task, index)
}

// waitEvent stores a wait_event task run's wait, then looks back over the
// events of its type received since c.LookBackFrom: the oldest that
// matches completes the wait at once. The store serializes this with
// InboxInsert of the same type, so an event arriving meanwhile is either
// seen here or sees the wait.
func (e *Engine) waitEvent(ctx context.Context, tx store.Tx, fx *effects, run *store.Run, c WaitEvent, actor string, depth int) error {
	now := e.now().UTC()
	if err := tx.EventWaitPut(ctx, &store.EventWait{
		RunID: run.ID, Task: c.Task, Index: c.Index, Namespace: run.Namespace, Type: c.Type, Match: c.Match,
		Context: c.Context, Deadline: c.Deadline, CreatedAt: now,
	}); err != nil {
		return err
	}
	if !c.LookBackFrom.Before(now) {
		return nil
	}
	p := &store.InboxListParams{Namespace: run.Namespace, Type: c.Type, Since: c.LookBackFrom, Limit: lookBackPage}
	for {
		recent, err := tx.InboxList(ctx, p)
		if err != nil {
			return err
		}
		for _, ev := range recent {
			event := EventVar(ev)
			ok, err := e.matches(c.Match, c.Context, event)
			if err != nil {
				continue // a match that fails on an event does not match it
			}
			if ok {
				return e.matched(ctx, tx, fx, run.ID, c.Task, c.Index, event, actor, depth+1)
			}
		}
		if len(recent) < p.Limit {
			return nil
		}
		p.AfterSeq = recent[len(recent)-1].Seq
	}
}

// TriggerLatency returns what started a run (nil for the API) and, once
// one of its tasks started, the time from the webhook request or event
// arriving to that first task start: the event-to-start latency metrics
// export. A metrics collector can observe it when runs finish:
// OnRunFinished(func(ids) { for each id: TriggerLatency(ctx, id) }).
func (e *Engine) TriggerLatency(ctx context.Context, runID string) (*store.RunTrigger, time.Duration, bool, error) {
	var rt *store.RunTrigger
	var first time.Time
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		rt, err = tx.RunTriggerGet(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			rt = nil
			return nil
		}
		if err != nil {
			return err
		}
		trs, err := tx.TaskRunList(ctx, runID)
		first = FirstTaskStart(trs)
		return err
	})
	if err != nil || rt == nil || first.IsZero() {
		return rt, 0, false, err
	}
	return rt, first.Sub(rt.ReceivedAt), true, nil
}

// FirstTaskStart is the earliest start among task runs (zero when none
// started).
func FirstTaskStart(trs []*store.TaskRun) time.Time {
	var first time.Time
	for _, tr := range trs {
		if !tr.StartedAt.IsZero() && (first.IsZero() || tr.StartedAt.Before(first)) {
			first = tr.StartedAt
		}
	}
	return first
}

// Env returns the allow-listed environment expressions see as `env`.
func (e *Engine) Env() map[string]string { return e.env }

// LatestWorkflow returns the latest version of a workflow
// (ErrWorkflowNotFound).
func (e *Engine) LatestWorkflow(ctx context.Context, namespace, name string) (*spec.Workflow, int, error) {
	var w *spec.Workflow
	var version int
	err := e.store.View(ctx, func(tx store.Tx) error {
		var v *store.WorkflowVersion
		var err error
		w, v, err = e.workflow(ctx, tx, namespace, name, 0)
		if v != nil {
			version = v.Version
		}
		return err
	})
	return w, version, err
}
