package engine

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/legatohq/legato/internal/store"
)

// Decide applies one event to a run's state and returns what to do. It is
// pure: no I/O, no clock, no randomness beyond what State provides. The
// caller commits State.Run, the decision's task-run changes and its
// commands in one transaction.
func Decide(s *State, ev Event) Decision {
	s.changed = map[Key]bool{}
	s.deleted = map[Key]bool{}
	s.runWas = s.Run.Status
	var d Decision
	journal := &store.Event{RunID: s.Run.ID, Type: ev.eventName(), Index: -1, At: s.Now}

	switch ev := ev.(type) {
	case Start:
		s.onStart(&d)
	case AttemptDone:
		journal.Task, journal.Index = ev.Task, ev.Index
		journal.Data = mustJSON(map[string]any{"attempt": ev.Attempt, "error": ev.Err})
		s.onAttemptDone(&d, ev)
	case TimerFired:
		journal.Task, journal.Index = ev.Task, ev.Index
		journal.Data = mustJSON(map[string]any{"kind": ev.Kind})
		s.onTimer(&d, ev)
	case ChildDone:
		journal.Task, journal.Index = ev.Task, ev.Index
		journal.Data = mustJSON(map[string]any{"child": ev.ChildID, "status": ev.Status})
		s.onChildDone(&d, ev)
	case Cancel:
		journal.Data = mustJSON(map[string]any{"reason": ev.Reason})
		s.cancel(&d, ev.Reason)
	case Retry:
		s.onRetry(&d)
	case EventMatched:
		journal.Task, journal.Index = ev.Task, ev.Index
		journal.Data = mustJSON(map[string]any{"event_id": ev.Event["id"], "event_source": ev.Event["source"]})
		s.onEventMatched(&d, ev)
	}
	if !s.Run.Status.Terminal() && s.Run.Status != store.RunQueued {
		s.advance(&d)
	}
	s.disarmTaskSLAs(&d)
	d.Journal = append(d.Journal, journal)
	s.collect(&d)
	return d
}

// collect lists the changed task runs in a stable order and journals every
// status change.
func (s *State) collect(d *Decision) {
	keys := make([]Key, 0, len(s.changed))
	for k := range s.changed {
		if !s.deleted[k] {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for _, k := range keys {
		tr := s.Tasks[k]
		d.Changed = append(d.Changed, tr)
		data := map[string]any{"attempts": tr.Attempts}
		if tr.Error != "" {
			data["error"] = tr.Error
		}
		d.Journal = append(d.Journal, &store.Event{
			RunID: s.Run.ID, Type: "task." + string(tr.Status), Task: k.Task, Index: k.Index,
			Data: mustJSON(data), At: s.Now,
		})
	}
	for k := range s.deleted {
		d.Deleted = append(d.Deleted, k)
	}
	sortKeys(d.Deleted)
	if s.Run.Status != s.runWas {
		data := map[string]any{}
		if s.Run.Error != "" {
			data["error"] = s.Run.Error
		}
		d.Journal = append(d.Journal, &store.Event{
			RunID: s.Run.ID, Type: "run." + string(s.Run.Status), Index: -1, Data: mustJSON(data), At: s.Now,
		})
	}
}

func sortKeys(keys []Key) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Task != keys[j].Task {
			return keys[i].Task < keys[j].Task
		}
		return keys[i].Index < keys[j].Index
	})
}

func (s *State) onStart(d *Decision) {
	if s.Run.Status != store.RunQueued {
		return
	}
	s.Run.Status = store.RunRunning
	if s.Run.StartedAt.IsZero() {
		s.Run.StartedAt = s.Now
	}
	s.armRunSLA(d)
	if t := s.Workflow.Timeout.D(); t > 0 {
		s.Run.Deadline = s.Now.Add(t)
		d.Commands = append(d.Commands, SetTimer{Index: -1, Kind: store.TimerRunTimeout, At: s.Run.Deadline})
	}
}

func (s *State) onRetry(d *Decision) {
	if s.Run.Status != store.RunFailed && s.Run.Status != store.RunCanceled {
		return
	}
	// Task runs that did not succeed start again; so do those whose effects
	// a compensation undid, and the fallback and compensation rows. The
	// for_each counts and items are built again when needed.
	s.dropForEach("")
	// compensated is read before anything is removed: the loop below
	// removes compensation rows in map order.
	reset, compensated := map[string]bool{}, map[string]bool{}
	for k, tr := range s.Tasks {
		base, role := splitRole(k.Task)
		switch {
		case role == roleCompensate:
			reset[base] = true
			compensated[base] = true
		case !tr.Status.Terminal() || (tr.Status != store.TaskSucceeded && tr.Status != store.TaskSkipped):
			reset[base] = true
		}
	}
	for k, tr := range s.Tasks {
		base, role := splitRole(k.Task)
		if !reset[base] {
			continue
		}
		// Succeeded for_each items keep their result unless compensated.
		if role == roleMain && k.Index >= 0 && tr.Status == store.TaskSucceeded && !compensated[base] {
			continue
		}
		s.remove(k)
	}
	s.Run.Status = store.RunRunning
	s.Run.Attempt++
	s.Run.Error = ""
	s.Run.Compensating = false
	s.Run.FinishedAt = timeZero
	s.Run.Outputs = nil
	s.armRunSLA(d)
	if t := s.Workflow.Timeout.D(); t > 0 {
		s.Run.Deadline = s.Now.Add(t)
		d.Commands = append(d.Commands, SetTimer{Index: -1, Kind: store.TimerRunTimeout, At: s.Run.Deadline})
	}
}

// cancel stops every unfinished task run and ends the run as canceled.
func (s *State) cancel(d *Decision, reason string) {
	if s.Run.Status.Terminal() {
		return
	}
	if reason == "" {
		reason = "canceled"
	}
	s.stopAll(d, reason)
	s.finish(d, store.RunCanceled, reason)
}

// stopAll cancels every unfinished task run of the run.
func (s *State) stopAll(d *Decision, reason string) {
	for _, k := range s.sortedKeys() {
		tr := s.Tasks[k]
		if tr.Status.Terminal() {
			continue
		}
		if tr.Status == store.TaskWaiting && tr.ChildRunID != "" {
			d.Commands = append(d.Commands, CancelChild{RunID: tr.ChildRunID})
		}
		if tr.Status == store.TaskWaiting && s.isWaitEvent(k) {
			d.Commands = append(d.Commands, DeleteEventWait{Task: k.Task, Index: k.Index})
		}
		tr.Status = store.TaskCanceled
		tr.Error = reason
		tr.FinishedAt = s.Now
		s.touch(k)
	}
	d.Commands = append(d.Commands, CancelAttempts{Index: -1}, DeleteRunTimers{})
}

// finish moves the run to a final status.
func (s *State) finish(d *Decision, status store.RunStatus, errMsg string) {
	s.Run.Status = status
	s.Run.FinishedAt = s.Now
	if errMsg != "" {
		s.Run.Error = errMsg
	}
	if !s.Run.Deadline.IsZero() {
		d.Commands = append(d.Commands, DeleteTimer{Index: -1, Kind: store.TimerRunTimeout})
	}
	s.finishAlerts(d, status)
	d.Commands = append(d.Commands, RunFinished{})
	if s.Run.ParentRunID != "" {
		d.Commands = append(d.Commands, NotifyParent{
			ParentRunID: s.Run.ParentRunID, Task: s.Run.ParentTask, Index: s.Run.ParentIndex,
			Status: status, Outputs: s.Run.Outputs, Err: s.Run.Error,
		})
	}
}

func (s *State) onTimer(d *Decision, ev TimerFired) {
	switch ev.Kind {
	case store.TimerRunTimeout:
		if s.Run.Status.Terminal() || s.Run.Compensating {
			return
		}
		msg := fmt.Sprintf("run timed out after %s", s.Workflow.Timeout.D())
		s.stopAll(d, msg)
		s.Run.Error = msg
		s.startCompensation()
	case store.TimerSleep:
		tr := s.Tasks[Key{ev.Task, ev.Index}]
		if tr == nil || tr.Status != store.TaskWaiting {
			return
		}
		s.succeed(Key{ev.Task, ev.Index}, map[string]any{"woke_at": s.Now.UTC().Format(timeLayout)})
	case store.TimerEventWait:
		s.onEventTimeout(d, Key{ev.Task, ev.Index})
	case store.TimerTaskTimeout:
		k := Key{ev.Task, ev.Index}
		tr := s.Tasks[k]
		if tr == nil || tr.Status.Terminal() {
			return
		}
		if tr.ChildRunID != "" {
			d.Commands = append(d.Commands, CancelChild{RunID: tr.ChildRunID})
		}
		def := s.def(ev.Task)
		s.fail(d, k, fmt.Sprintf("timed out after %s", def.Timeout.D()), true)
	case store.TimerRunSLA, store.TimerTaskSLA:
		s.onSLATimer(d, ev)
	}
}

func (s *State) onChildDone(d *Decision, ev ChildDone) {
	k := Key{ev.Task, ev.Index}
	tr := s.Tasks[k]
	if tr == nil || tr.Status != store.TaskWaiting || tr.ChildRunID != ev.ChildID {
		return
	}
	if s.def(ev.Task).Timeout > 0 {
		d.Commands = append(d.Commands, DeleteTimer{Task: ev.Task, Index: ev.Index, Kind: store.TimerTaskTimeout})
	}
	if ev.Status == store.RunSucceeded {
		out := ev.Outputs
		if out == nil {
			out = map[string]any{}
		}
		s.succeed(k, out)
		return
	}
	msg := fmt.Sprintf("child run %s %s", ev.ChildID, ev.Status)
	if ev.Err != "" {
		msg += ": " + ev.Err
	}
	s.fail(d, k, msg, false)
}

func (s *State) onAttemptDone(d *Decision, ev AttemptDone) {
	k := Key{ev.Task, ev.Index}
	tr := s.Tasks[k]
	if tr == nil || tr.Attempts != ev.Attempt || (tr.Status != store.TaskQueued && tr.Status != store.TaskRunning) {
		return // a late report for an attempt the run no longer waits for
	}
	if ev.Err == "" {
		s.succeed(k, ev.Output)
		return
	}
	if ev.Interrupted {
		s.touch(k)
		s.launch(d, k, s.def(k.Task), timeZero, s.itemOf(k))
		s.Tasks[k].Error = ev.Err
		return
	}
	if ev.Output != nil {
		tr.Output = ev.Output
	}
	s.fail(d, k, ev.Err, ev.NonRetryable)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
