package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// slaTimers replays the SLA timer commands of a harness: what is armed now.
func slaTimers(h *harness) map[Key]time.Time {
	out := map[Key]time.Time{}
	for _, c := range h.all {
		switch c := c.(type) {
		case SetTimer:
			if c.Kind == store.TimerRunSLA || c.Kind == store.TimerTaskSLA {
				out[Key{c.Task, c.Index}] = c.At
			}
		case DeleteTimer:
			if c.Kind == store.TimerRunSLA || c.Kind == store.TimerTaskSLA {
				delete(out, Key{c.Task, c.Index})
			}
		case DeleteRunTimers:
			clear(out)
		}
	}
	return out
}

func notifies(d Decision) []Notify {
	var out []Notify
	for _, c := range d.Commands {
		if n, ok := c.(Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

func journalTypes(evs []*store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func slaWorkflow() *spec.Workflow {
	w := wf(task("a"), task("b", "a"))
	w.SLA = &spec.SLA{Deadline: spec.Duration(10 * time.Minute)}
	w.Tasks[0].SLA = &spec.SLA{Deadline: spec.Duration(time.Minute)}
	w.Notify = &spec.Notify{
		OnFailure:   &spec.NotifyRule{Channels: []string{"ops"}},
		OnSLABreach: &spec.NotifyRule{Channels: []string{"ops", "mail"}, Message: "late: ${{ run.id }} ${{ inputs.order }}"},
		OnSuccess:   &spec.NotifyRule{Channels: []string{"mail"}},
	}
	return w
}

func TestRunSLABreachIsRecordedAndNotifiedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, slaWorkflow(), map[string]any{"order": "o-7"})
	h.start()
	require.Equal(t, map[Key]time.Time{{"", -1}: t0.Add(10 * time.Minute), {"a", -1}: t0.Add(time.Minute)}, slaTimers(h))
	h.ok("a", nil)
	require.NotContains(t, slaTimers(h), Key{"a", -1}, "a finished in time: its SLA timer is gone")

	h.st.Now = t0.Add(10 * time.Minute)
	d := h.do(TimerFired{Index: -1, Kind: store.TimerRunSLA})
	require.Equal(t, t0.Add(10*time.Minute), h.st.Run.SLABreachedAt)
	require.Equal(t, store.RunRunning, h.st.Run.Status, "a breach does not stop the run")
	require.Contains(t, journalTypes(d.Journal), "run.sla_breached")
	ns := notifies(d)
	require.Len(t, ns, 1)
	require.Equal(t, NotifySLABreach, ns[0].Event)
	require.Equal(t, []string{"ops", "mail"}, ns[0].Channels)
	require.Equal(t, "late: run1 o-7", ns[0].Payload["message"])
	require.Equal(t, "10m0s", ns[0].Payload["deadline"])
	require.Equal(t, "run1", ns[0].Payload["run_id"])

	// Fired again (a repeated timer): nothing more.
	d = h.do(TimerFired{Index: -1, Kind: store.TimerRunSLA})
	require.Empty(t, notifies(d))

	d = h.ok("b", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
	ns = notifies(d)
	require.Len(t, ns, 1)
	require.Equal(t, NotifySuccess, ns[0].Event)
	require.Equal(t, "run run1 of default/test succeeded", ns[0].Payload["message"])
	require.Empty(t, slaTimers(h))
}

func TestRunInTimeNeitherBreachesNorKeepsTimers(t *testing.T) {
	t.Parallel()
	w := slaWorkflow()
	w.Notify.OnSuccess = nil
	h := newHarness(t, w, nil)
	h.start()
	h.ok("a", nil)
	d := h.ok("b", nil)
	require.Equal(t, store.RunSucceeded, h.st.Run.Status)
	require.Empty(t, notifies(d), "no on_success rule")
	require.Empty(t, slaTimers(h))
	// A late timer (deleted, but already listed) does nothing.
	d = h.do(TimerFired{Index: -1, Kind: store.TimerRunSLA})
	require.Empty(t, notifies(d))
	require.Zero(t, h.st.Run.SLABreachedAt)
}

func TestTaskSLABreach(t *testing.T) {
	t.Parallel()
	h := newHarness(t, slaWorkflow(), nil)
	h.start()
	h.st.Now = t0.Add(time.Minute)
	d := h.do(TimerFired{Task: "a", Index: -1, Kind: store.TimerTaskSLA})
	require.Contains(t, journalTypes(d.Journal), "task.sla_breached")
	ns := notifies(d)
	require.Len(t, ns, 1)
	require.Equal(t, "a", ns[0].Task)
	require.Equal(t, "a", ns[0].Payload["task"])
	require.Equal(t, "1m0s", ns[0].Payload["deadline"])
	require.Zero(t, h.st.Run.SLABreachedAt, "a task's breach is not the run's")
	// A task that finished has no breach.
	h.ok("a", nil)
	d = h.do(TimerFired{Task: "a", Index: -1, Kind: store.TimerTaskSLA})
	require.Empty(t, notifies(d))
}

func TestFailureNotifiesAndRetryRearmsUnlessBreached(t *testing.T) {
	t.Parallel()
	h := newHarness(t, slaWorkflow(), nil)
	h.start()
	d := h.bad("a", "boom")
	require.Equal(t, store.RunFailed, h.st.Run.Status)
	ns := notifies(d)
	require.Len(t, ns, 1)
	require.Equal(t, NotifyFailure, ns[0].Event)
	require.Equal(t, []string{"ops"}, ns[0].Channels)
	require.Equal(t, "task a failed: boom", ns[0].Payload["error"])
	require.Empty(t, slaTimers(h))

	h.st.Now = t0.Add(time.Hour)
	h.do(Retry{})
	require.Equal(t, t0.Add(time.Hour+10*time.Minute), slaTimers(h)[Key{"", -1}], "the deadline counts again from the retry")

	h.st.Run.SLABreachedAt = t0
	h.st.Run.Status = store.RunFailed
	before := len(h.all)
	h.do(Retry{})
	for _, c := range h.all[before:] {
		if st, ok := c.(SetTimer); ok {
			require.NotEqual(t, store.TimerRunSLA, st.Kind, "a run breaches at most once")
		}
	}
}

func TestBadMessageTemplateFallsBack(t *testing.T) {
	t.Parallel()
	w := slaWorkflow()
	w.Notify.OnFailure.Message = "${{ tasks.a.output.missing }}"
	h := newHarness(t, w, nil)
	h.start()
	d := h.bad("a", "boom")
	ns := notifies(d)
	require.Len(t, ns, 1)
	require.Contains(t, ns[0].Payload["message"], "failed: task a failed: boom (the notify message template failed:")
}
