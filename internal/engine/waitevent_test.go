package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

func waitTask(with map[string]any) spec.Task {
	return spec.Task{ID: "pay", Type: "wait_event", With: with}
}

func commandOf[C Command](d Decision) (C, bool) {
	for _, c := range d.Commands {
		if c, ok := c.(C); ok {
			return c, true
		}
	}
	var zero C
	return zero, false
}

func TestWaitEventWaitsWithContextTimerAndLookBack(t *testing.T) {
	h := newHarness(t, wf(waitTask(map[string]any{
		"type": "payment.received", "match": "event.data.order_id == inputs.order_id", "timeout": "1h", "look_back": "2m",
	}), task("ship", "pay")), map[string]any{"order_id": "o-1"})
	d := h.start()
	require.Equal(t, store.TaskWaiting, h.status("pay"))
	require.Equal(t, store.RunWaiting, h.st.Run.Status)
	w, ok := commandOf[WaitEvent](d)
	require.True(t, ok)
	require.Equal(t, "payment.received", w.Type)
	require.Equal(t, "event.data.order_id == inputs.order_id", w.Match)
	require.Equal(t, map[string]any{"order_id": "o-1"}, w.Context["inputs"])
	require.NotContains(t, w.Context, "env")
	require.Equal(t, t0.Add(time.Hour), w.Deadline)
	require.Equal(t, t0.Add(-2*time.Minute), w.LookBackFrom)
	require.Equal(t, SetTimer{Task: "pay", Index: -1, Kind: store.TimerEventWait, At: t0.Add(time.Hour)}, h.timers[Key{"pay", -1}])

	d = h.do(EventMatched{Task: "pay", Index: -1, Event: map[string]any{"id": "e1", "data": map[string]any{"amount": 3.0}}})
	require.Equal(t, store.TaskSucceeded, h.status("pay"))
	require.Equal(t, map[string]any{"id": "e1", "data": map[string]any{"amount": 3.0}, "timed_out": false}, h.st.Tasks[Key{"pay", -1}].Output)
	require.Empty(t, h.timers)
	_, ok = commandOf[DeleteEventWait](d)
	require.True(t, ok)
	h.requireQueued("ship")

	// A second match changes nothing.
	d = h.do(EventMatched{Task: "pay", Index: -1, Event: map[string]any{"id": "e2"}})
	require.Empty(t, d.Commands)
	require.Equal(t, "e1", h.st.Tasks[Key{"pay", -1}].Output.(map[string]any)["id"])
}

func TestWaitEventTimeoutFailsOrSucceeds(t *testing.T) {
	h := newHarness(t, wf(waitTask(map[string]any{"type": "x", "timeout": "10m"})), nil)
	h.start()
	h.st.Now = t0.Add(10 * time.Minute)
	d := h.do(TimerFired{Task: "pay", Index: -1, Kind: store.TimerEventWait})
	require.Equal(t, store.TaskFailed, h.status("pay"))
	require.Equal(t, "wait_event: no x event matched within 10m0s", h.st.Tasks[Key{"pay", -1}].Error)
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	_, ok := commandOf[DeleteEventWait](d)
	require.True(t, ok)

	h = newHarness(t, wf(waitTask(map[string]any{"type": "x", "timeout": "10m", "on_timeout": "succeed"})), nil)
	h.start()
	h.do(TimerFired{Task: "pay", Index: -1, Kind: store.TimerEventWait})
	require.Equal(t, store.TaskSucceeded, h.status("pay"))
	require.Equal(t, map[string]any{"timed_out": true}, h.st.Tasks[Key{"pay", -1}].Output)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
}

func TestWaitEventTaskTimeoutStandsIn(t *testing.T) {
	task := waitTask(map[string]any{"type": "x"})
	task.Timeout = spec.Duration(time.Minute)
	h := newHarness(t, wf(task), nil)
	h.start()
	require.Equal(t, t0.Add(time.Minute), h.timers[Key{"pay", -1}].At)
	h.do(TimerFired{Task: "pay", Index: -1, Kind: store.TimerEventWait})
	require.Equal(t, "wait_event: no x event matched within 1m0s", h.st.Tasks[Key{"pay", -1}].Error)
}

func TestWaitEventCancelRemovesTheWait(t *testing.T) {
	h := newHarness(t, wf(waitTask(map[string]any{"type": "x"})), nil)
	d := h.start()
	_, ok := commandOf[SetTimer](d)
	require.False(t, ok, "no timeout, no timer")
	d = h.do(Cancel{Reason: "stop"})
	require.Equal(t, store.TaskCanceled, h.status("pay"))
	dw, ok := commandOf[DeleteEventWait](d)
	require.True(t, ok)
	require.Equal(t, DeleteEventWait{Task: "pay", Index: -1}, dw)
}

func TestWaitEventBadParamsFail(t *testing.T) {
	h := newHarness(t, wf(waitTask(map[string]any{"type": "x", "timeout": "soon"})), nil)
	h.start()
	require.Equal(t, store.TaskFailed, h.status("pay"))
	require.Contains(t, h.st.Tasks[Key{"pay", -1}].Error, "wait_event: timeout")
}
