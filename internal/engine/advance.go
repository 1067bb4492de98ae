package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

const (
	suffixOnFailure  = ".on_failure"
	suffixCompensate = ".compensate"
	timeLayout       = time.RFC3339Nano
	defaultQueue     = "default"
)

var timeZero time.Time

type role int

const (
	roleMain role = iota
	roleFallback
	roleCompensate
)

// splitRole maps a task-run name to its workflow task and its role.
func splitRole(task string) (string, role) {
	if b, ok := strings.CutSuffix(task, suffixOnFailure); ok {
		return b, roleFallback
	}
	if b, ok := strings.CutSuffix(task, suffixCompensate); ok {
		return b, roleCompensate
	}
	return task, roleMain
}

// def returns the definition behind a task-run name.
func (s *State) def(task string) *spec.Task {
	base, r := splitRole(task)
	t := s.Workflow.Task(base)
	if t == nil {
		return nil
	}
	switch r {
	case roleFallback:
		return t.OnFailure
	case roleCompensate:
		return t.Compensate
	}
	return t
}

func (s *State) touch(k Key) {
	s.changed[k] = true
	delete(s.deleted, k)
	s.noteItem(k)
}

func (s *State) remove(k Key) {
	delete(s.Tasks, k)
	delete(s.changed, k)
	s.deleted[k] = true
	s.noteItem(k)
}

func (s *State) sortedKeys() []Key {
	keys := make([]Key, 0, len(s.Tasks))
	for k := range s.Tasks {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// blocks reports whether a finished task stops its dependents: it failed
// (without continue_on_error), was not run because of a failure, or was
// canceled. A skipped task does not block.
func blocks(def *spec.Task, tr *store.TaskRun) bool {
	switch tr.Status {
	case store.TaskFailed:
		return !def.ContinueOnError
	case store.TaskUpstreamFailed, store.TaskCanceled:
		return true
	}
	return false
}

// advance starts every task that became ready, moves for_each tasks on, and
// finishes the run when nothing is left to do.
func (s *State) advance(d *Decision) {
	if s.Run.Compensating {
		s.advanceCompensation(d)
		s.refreshRunStatus()
		return
	}
	for progress := true; progress; {
		progress = false
		for i := range s.Workflow.Tasks {
			t := &s.Workflow.Tasks[i]
			tr := s.Tasks[Key{t.ID, -1}]
			switch {
			case tr == nil:
				progress = s.tryStart(d, t) || progress
			case t.ForEach != nil && tr.Status == store.TaskRunning && tr.Items > 0 && !s.fallingBack(t):
				progress = s.advanceForEach(d, t, tr) || progress
			}
		}
	}
	var failure string
	for i := range s.Workflow.Tasks {
		t := &s.Workflow.Tasks[i]
		tr := s.Tasks[Key{t.ID, -1}]
		if tr == nil || !tr.Status.Terminal() {
			s.refreshRunStatus()
			return
		}
		if failure == "" && tr.Status == store.TaskFailed && !t.ContinueOnError {
			failure = fmt.Sprintf("task %s failed: %s", t.ID, tr.Error)
		}
	}
	if failure != "" {
		s.Run.Error = failure
		s.startCompensation()
		s.advanceCompensation(d)
		return
	}
	outputs, err := s.outputs()
	if err != nil {
		s.Run.Error = err.Error()
		s.startCompensation()
		s.advanceCompensation(d)
		return
	}
	s.Run.Outputs = outputs
	s.finish(d, store.RunSucceeded, "")
}

// refreshRunStatus derives running or waiting from the task runs.
func (s *State) refreshRunStatus() {
	if s.Run.Status.Terminal() || s.Run.Status == store.RunQueued {
		return
	}
	waiting := false
	for _, tr := range s.Tasks {
		switch tr.Status {
		case store.TaskQueued, store.TaskRunning, store.TaskPending:
			s.Run.Status = store.RunRunning
			return
		case store.TaskWaiting:
			waiting = true
		}
	}
	if waiting {
		s.Run.Status = store.RunWaiting
	} else {
		s.Run.Status = store.RunRunning
	}
}

// fallingBack reports whether t's on_failure fallback was launched: a
// for_each whose items failed then waits for it, and its items are not
// counted again (the fallback's result is the for_each's).
func (s *State) fallingBack(t *spec.Task) bool {
	return t.OnFailure != nil && s.Tasks[Key{t.ID + suffixOnFailure, -1}] != nil
}

// tryStart starts a task whose needs are all finished; it reports whether
// the task got a task run.
func (s *State) tryStart(d *Decision, t *spec.Task) bool {
	for _, n := range t.Needs {
		if ntr := s.Tasks[Key{n, -1}]; ntr == nil || !ntr.Status.Terminal() {
			return false
		}
	}
	k := Key{t.ID, -1}
	for _, n := range t.Needs {
		ntr := s.Tasks[Key{n, -1}]
		if blocks(s.Workflow.Task(n), ntr) {
			s.settle(k, store.TaskUpstreamFailed, fmt.Sprintf("not run: need %s %s", n, ntr.Status))
			return true
		}
	}
	if t.When != "" {
		ok, err := evalWhen(t.When, s.vars(k, nil))
		if err != nil {
			s.settle(k, store.TaskFailed, fmt.Sprintf("when: %v", err))
			return true
		}
		if !ok {
			s.settle(k, store.TaskSkipped, "")
			return true
		}
	}
	s.armTaskSLA(d, t)
	if t.ForEach != nil {
		items, err := s.items(t)
		if err != nil {
			s.settle(k, store.TaskFailed, fmt.Sprintf("for_each: %v", err))
			return true
		}
		agg := s.newTaskRun(k)
		agg.Status = store.TaskRunning
		agg.Items = len(items)
		agg.StartedAt = s.Now
		if len(items) == 0 {
			s.succeed(k, []any{})
			return true
		}
		s.advanceForEach(d, t, agg)
		return true
	}
	s.launch(d, k, t, timeZero, nil)
	return true
}

// settle gives a task a final status without running it.
func (s *State) settle(k Key, status store.TaskStatus, msg string) {
	tr := s.newTaskRun(k)
	tr.Status = status
	tr.Error = msg
	tr.FinishedAt = s.Now
}

func (s *State) newTaskRun(k Key) *store.TaskRun {
	tr := s.Tasks[k]
	if tr == nil {
		tr = &store.TaskRun{RunID: s.Run.ID, Task: k.Task, Index: k.Index, Status: store.TaskPending}
		s.Tasks[k] = tr
	}
	s.touch(k)
	return tr
}

// advanceForEach starts items up to max_parallel and settles the task when
// every item is finished. It reports whether anything changed. Its cost is
// that of the items it launches (the counts are kept: foreach.go), but
// for the outputs, assembled once when every item finished.
func (s *State) advanceForEach(d *Decision, t *spec.Task, agg *store.TaskRun) bool {
	c := s.forEachCounts(t, agg)
	progress := false
	if c.missing() > 0 && (t.MaxParallel <= 0 || c.active < t.MaxParallel) {
		items, err := s.forEachItems(t, c)
		if err != nil || len(items) != agg.Items {
			s.dropForEach(t.ID)
			s.fail(d, Key{t.ID, -1}, fmt.Sprintf("for_each: items changed: %v", err), true)
			return true
		}
		for i := c.nextMissing(); i < agg.Items && (t.MaxParallel <= 0 || c.active < t.MaxParallel); i = c.nextMissing() {
			k := Key{t.ID, i}
			s.launch(d, k, t, timeZero, items[i])
			c.count(i, classOf(s.Tasks[k]))
			progress = true
		}
	}
	if c.finished < agg.Items {
		return progress
	}
	s.dropForEach(t.ID)
	outputs := make([]any, agg.Items)
	var failure string
	for i := range outputs {
		tr := s.Tasks[Key{t.ID, i}]
		outputs[i] = tr.Output
		if failure == "" && blocks(t, tr) {
			failure = fmt.Sprintf("item %d %s: %s", i, tr.Status, tr.Error)
		}
	}
	if failure != "" {
		agg.Output = outputs
		s.fail(d, Key{t.ID, -1}, failure, true)
		return true
	}
	s.succeed(Key{t.ID, -1}, outputs)
	return true
}

// launch makes a new attempt of a task run: queued for a worker, or a
// durable wait for sleep and workflow tasks.
func (s *State) launch(d *Decision, k Key, def *spec.Task, notBefore time.Time, item any) {
	tr := s.newTaskRun(k)
	tr.Attempts++
	tr.Error = ""
	params, err := s.render(k, def, item)
	if err != nil {
		s.failLaunch(d, k, tr, err)
		return
	}
	switch def.Type {
	case "sleep":
		wake, err := wakeTime(params, s.Now)
		if err != nil {
			s.failLaunch(d, k, tr, err)
			return
		}
		s.waitUntil(d, k, tr, store.TimerSleep, wake)
	case "workflow":
		s.startChild(d, k, def, tr, params)
	case typeWaitEvent:
		s.startWait(d, k, tr, params, item)
	default:
		tr.Status = store.TaskQueued
		queue := def.Queue
		if queue == "" {
			queue = defaultQueue
		}
		d.Commands = append(d.Commands, Enqueue{
			Task: k.Task, Index: k.Index, Attempt: tr.Attempts, Type: def.Type, Params: params,
			Timeout: def.Timeout.D(), Queue: queue, Resource: def.Resource, NotBefore: notBefore,
		})
	}
}

// waitUntil puts a task run in a durable wait, with a timer of kind at
// `at` (none when at is zero).
func (s *State) waitUntil(d *Decision, k Key, tr *store.TaskRun, kind store.TimerKind, at time.Time) {
	tr.Status = store.TaskWaiting
	tr.StartedAt = s.Now
	tr.WakeAt = at
	if !at.IsZero() {
		d.Commands = append(d.Commands, SetTimer{Task: k.Task, Index: k.Index, Kind: kind, At: at})
	}
}

// failLaunch fails a task run whose parameters were wrong, for good.
func (s *State) failLaunch(d *Decision, k Key, tr *store.TaskRun, err error) {
	tr.Status = store.TaskRunning
	s.fail(d, k, err.Error(), true)
}

func (s *State) startChild(d *Decision, k Key, def *spec.Task, tr *store.TaskRun, params map[string]any) {
	name, _ := params["workflow"].(string)
	ns, _ := params["namespace"].(string)
	if ns == "" {
		ns = s.Run.Namespace
	}
	inputs, _ := params["inputs"].(map[string]any)
	id := s.NewID()
	tr.ChildRunID = id
	tr.StartedAt = s.Now
	d.Commands = append(d.Commands, StartChild{Task: k.Task, Index: k.Index, RunID: id, Namespace: ns, Workflow: name, Inputs: inputs})
	if wait, ok := params["wait"].(bool); ok && !wait {
		s.succeed(k, map[string]any{"run_id": id})
		return
	}
	tr.Status = store.TaskWaiting
	if t := def.Timeout.D(); t > 0 {
		d.Commands = append(d.Commands, SetTimer{Task: k.Task, Index: k.Index, Kind: store.TimerTaskTimeout, At: s.Now.Add(t)})
	}
}

// succeed records a task run's success; a fallback's success is its task's.
func (s *State) succeed(k Key, output any) {
	tr := s.Tasks[k]
	tr.Status = store.TaskSucceeded
	tr.Output = output
	tr.Error = ""
	tr.FinishedAt = s.Now
	s.touch(k)
	base, r := splitRole(k.Task)
	switch {
	case r == roleMain && k.Index < 0:
		s.Run.Seq++
		tr.Seq = s.Run.Seq
	case r == roleFallback:
		p := s.Tasks[Key{base, -1}]
		p.Status = store.TaskSucceeded
		p.Output = output
		p.Error = "recovered by on_failure: " + p.Error
		p.FinishedAt = s.Now
		s.Run.Seq++
		p.Seq = s.Run.Seq
		s.touch(Key{base, -1})
	}
}

// fail records a failed attempt: a retry when the policy allows it, else
// the fallback when there is one, else the task run's failure.
func (s *State) fail(d *Decision, k Key, msg string, nonRetryable bool) {
	tr := s.Tasks[k]
	def := s.def(k.Task)
	s.touch(k)
	if !nonRetryable && def.Retry != nil && tr.Attempts < def.Retry.Attempts {
		delay := Backoff(def.Retry, tr.Attempts, store.IdempotencyKey(s.Run.ID, k.Task, k.Index))
		s.launch(d, k, def, s.Now.Add(delay), s.itemOf(k))
		s.Tasks[k].Error = msg
		return
	}
	tr.Error = msg
	base, r := splitRole(k.Task)
	if r == roleMain && k.Index < 0 && def.OnFailure != nil {
		if _, tried := s.Tasks[Key{base + suffixOnFailure, -1}]; !tried && !s.Run.Compensating {
			tr.Status = store.TaskRunning
			s.launch(d, Key{base + suffixOnFailure, -1}, def.OnFailure, timeZero, nil)
			return
		}
	}
	tr.Status = store.TaskFailed
	tr.FinishedAt = s.Now
	if r == roleFallback {
		p := s.Tasks[Key{base, -1}]
		p.Status = store.TaskFailed
		p.Error = fmt.Sprintf("%s; on_failure failed: %s", p.Error, msg)
		p.FinishedAt = s.Now
		s.touch(Key{base, -1})
	}
}

// itemOf returns the for_each item of an item task run (nil otherwise).
func (s *State) itemOf(k Key) any {
	if k.Index < 0 {
		return nil
	}
	base, _ := splitRole(k.Task)
	items, err := s.items(s.Workflow.Task(base))
	if err != nil || k.Index >= len(items) {
		return nil
	}
	return items[k.Index]
}

func (s *State) startCompensation() {
	s.Run.Compensating = true
	s.Run.Status = store.RunRunning
}

// advanceCompensation runs the compensations of succeeded tasks one at a
// time, latest completion first, and fails the run when none is left.
func (s *State) advanceCompensation(d *Decision) {
	var done []*store.TaskRun
	for _, tr := range s.Tasks {
		if tr.Index < 0 && tr.Status == store.TaskSucceeded {
			if def := s.def(tr.Task); def != nil && def.Compensate != nil {
				if _, r := splitRole(tr.Task); r == roleMain {
					done = append(done, tr)
				}
			}
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Seq > done[j].Seq })
	var failures []string
	for _, tr := range done {
		ck := Key{tr.Task + suffixCompensate, -1}
		c := s.Tasks[ck]
		if c == nil {
			s.launch(d, ck, s.def(tr.Task).Compensate, timeZero, nil)
			c = s.Tasks[ck]
		}
		if !c.Status.Terminal() {
			return
		}
		if c.Status == store.TaskFailed {
			failures = append(failures, fmt.Sprintf("compensation of %s failed: %s", tr.Task, c.Error))
		}
	}
	msg := s.Run.Error
	if len(failures) > 0 {
		msg += "; " + strings.Join(failures, "; ")
	}
	s.finish(d, store.RunFailed, msg)
}
