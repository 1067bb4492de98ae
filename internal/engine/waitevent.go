package engine

import (
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

const typeWaitEvent = "wait_event"

// DefaultLookBack is how far before its start a wait_event task looks for
// an event that already arrived, when its `look_back` is not set.
const DefaultLookBack = 5 * time.Minute

// waitParams are a wait_event task's rendered `with`.
type waitParams struct {
	typ, match string
	timeout    time.Duration
	lookBack   time.Duration
	succeed    bool // on_timeout: succeed
}

// readWait reads a wait_event task's parameters; the task's own `timeout:`
// stands in for `with.timeout` when that is not set.
func readWait(params map[string]any, def *spec.Task) (waitParams, error) {
	w := waitParams{lookBack: DefaultLookBack}
	w.typ, _ = params["type"].(string)
	if w.typ == "" {
		return w, fmt.Errorf("wait_event: needs type")
	}
	w.match, _ = params["match"].(string)
	if w.match == "" {
		w.match = "true"
	}
	var err error
	if w.timeout, err = durationParam(params, "timeout"); err != nil {
		return w, err
	}
	if w.timeout == 0 && def != nil {
		w.timeout = def.Timeout.D()
	}
	if _, ok := params["look_back"]; ok {
		if w.lookBack, err = durationParam(params, "look_back"); err != nil {
			return w, err
		}
	}
	switch v, _ := params["on_timeout"].(string); v {
	case "", "fail":
	case "succeed":
		w.succeed = true
	default:
		return w, fmt.Errorf("wait_event: on_timeout %q: want fail or succeed", v)
	}
	return w, nil
}

func durationParam(params map[string]any, name string) (time.Duration, error) {
	switch v := params[name].(type) {
	case nil:
		return 0, nil
	case string:
		d, err := spec.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("wait_event: %s: %w", name, err)
		}
		return d, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	case int64:
		return time.Duration(v) * time.Second, nil
	}
	return 0, fmt.Errorf("wait_event: %s must be a duration such as 1h", name)
}

func (s *State) isWaitEvent(k Key) bool {
	def := s.def(k.Task)
	return def != nil && def.Type == typeWaitEvent
}

// startWait puts a wait_event task run in a durable wait: a row the shell
// matches events against, a timer for its timeout, and a look-back over
// the events that arrived just before.
func (s *State) startWait(d *Decision, k Key, tr *store.TaskRun, params map[string]any, item any) {
	w, err := readWait(params, s.def(k.Task))
	if err != nil {
		s.failLaunch(d, k, tr, err)
		return
	}
	deadline := timeZero
	if w.timeout > 0 {
		deadline = s.Now.Add(w.timeout)
	}
	s.waitUntil(d, k, tr, store.TimerEventWait, deadline)
	ctx := map[string]any(s.vars(k, item))
	delete(ctx, "env") // the server's, read when an event arrives
	d.Commands = append(d.Commands, WaitEvent{
		Task: k.Task, Index: k.Index, Type: w.typ, Match: w.match, Context: ctx,
		Deadline: tr.WakeAt, LookBackFrom: s.Now.Add(-w.lookBack),
	})
}

func (s *State) onEventMatched(d *Decision, ev EventMatched) {
	k := Key{ev.Task, ev.Index}
	tr := s.Tasks[k]
	if tr == nil || tr.Status != store.TaskWaiting || !s.isWaitEvent(k) {
		return
	}
	if !tr.WakeAt.IsZero() {
		d.Commands = append(d.Commands, DeleteTimer{Task: k.Task, Index: k.Index, Kind: store.TimerEventWait})
	}
	d.Commands = append(d.Commands, DeleteEventWait{Task: k.Task, Index: k.Index})
	out := make(map[string]any, len(ev.Event)+1)
	for n, v := range ev.Event {
		out[n] = v
	}
	out["timed_out"] = false
	s.succeed(k, out)
}

// onEventTimeout ends a wait that saw no matching event in time: the task
// fails (no retry: a new attempt would wait again), or succeeds with
// {timed_out: true} when on_timeout is succeed.
func (s *State) onEventTimeout(d *Decision, k Key) {
	tr := s.Tasks[k]
	if tr == nil || tr.Status != store.TaskWaiting || !s.isWaitEvent(k) {
		return
	}
	d.Commands = append(d.Commands, DeleteEventWait{Task: k.Task, Index: k.Index})
	params, err := s.render(k, s.def(k.Task), s.itemOf(k))
	var w waitParams
	if err == nil {
		w, err = readWait(params, s.def(k.Task))
	}
	if err == nil && w.succeed {
		s.succeed(k, map[string]any{"timed_out": true})
		return
	}
	msg := fmt.Sprintf("wait_event: no %s event matched within %s", w.typ, w.timeout)
	if err != nil {
		msg = err.Error()
	}
	s.fail(d, k, msg, true)
}
