package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Completions of one run committed together are decided one by one and
// written once: one update of the run, the journal in the order of the
// decisions, the same end as one at a time.
func TestCompletionsOfOneRunAreWrittenOnce(t *testing.T) {
	forBothStores(t, func(t *testing.T, pg bool) {
		st := schedOpen(t, pg)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		e := New(st, Options{})
		ctx := t.Context()
		src := "name: fan\ntasks:\n  - {id: each, type: noop, for_each: [0, 1, 2, 3, 4, 5]}\n  - {id: join, type: noop, needs: [each]}\n"
		w, err := spec.Parse("fan.yaml", []byte(src))
		require.NoError(t, err)
		_, _, err = e.Apply(ctx, w, src, "test")
		require.NoError(t, err)
		run, err := e.StartRun(ctx, &StartRunParams{Workflow: "fan", Actor: "test"})
		require.NoError(t, err)
		as, err := e.ClaimAttempts(ctx, &ClaimParams{WorkerID: "w", Limit: 10})
		require.NoError(t, err)
		require.Len(t, as, 6)

		before := runRow(t, e, run.ID)
		rs := make([]*AttemptResult, len(as))
		for i, a := range as {
			rs[len(as)-1-i] = &AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: a.Index, Actor: "worker:w"}
		}
		require.NoError(t, e.tx(ctx, func(tx store.Tx, fx *effects) error { return e.completeIn(ctx, tx, fx, rs...) }))
		after := runRow(t, e, run.ID)
		require.Equal(t, before.Revision+1, after.Revision, "the run is written once for the six completions")

		var evs []*store.Event
		require.NoError(t, st.View(ctx, func(tx store.Tx) error {
			var err error
			evs, err = tx.EventList(ctx, run.ID, 0, 0)
			return err
		}))
		var got []string
		for _, ev := range evs {
			if ev.Seq > 0 && ev.Actor == "worker:w" {
				got = append(got, ev.Type+" "+ev.Task+" "+itoa(ev.Index))
			}
		}
		// The results were given in reverse: decided in that order.
		want := []string{}
		for i := 5; i >= 1; i-- {
			want = append(want, "attempt.done each "+itoa(i), "task.succeeded each "+itoa(i))
		}
		// The last one finishes the for_each and queues the join.
		want = append(want, "attempt.done each 0", "task.succeeded each -1", "task.succeeded each 0", "task.queued join -1")
		require.Equal(t, want, got)

		join, err := e.ClaimAttempts(ctx, &ClaimParams{WorkerID: "w", Limit: 10})
		require.NoError(t, err)
		require.Len(t, join, 1)
		require.NoError(t, e.CompleteAttempt(ctx, &AttemptResult{ID: join[0].ID, Token: join[0].LeaseToken}))
		final := runRow(t, e, run.ID)
		require.Equal(t, store.RunSucceeded, final.Status, final.Error)
	})
}

func runRow(t *testing.T, e *Engine, id string) *store.Run {
	var r *store.Run
	require.NoError(t, e.store.View(t.Context(), func(tx store.Tx) error {
		var err error
		r, err = tx.RunGet(t.Context(), id)
		return err
	}))
	return r
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
