package engine_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

// crashable is a store whose node can be made to vanish: once dead, every
// transaction fails, so the node neither renews its duty nor gives it up,
// as if its process had been killed.
type crashable struct {
	store.Store
	dead atomic.Bool
}

var errCrashed = errors.New("the node crashed")

func (c *crashable) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.Tx(ctx, fn)
}

func (c *crashable) View(ctx context.Context, fn func(store.Tx) error) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.View(ctx, fn)
}

// Two servers on one PostgreSQL database and a schedule that ticks every
// second: every tick starts exactly one run, including the ticks around a
// crash of the duty holder, which the other node fires when it takes the
// duty over (they are late by seconds: on time for the default catchup).
func TestScheduleFiresOncePerTickAcrossServers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	node := func(id string) (*engine.Engine, *crashable, context.CancelFunc, chan struct{}) {
		st, err := postgres.Open(t.Context(), dsn, postgres.Schema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		c := &crashable{Store: st}
		e, cancel, done := runNode(t, c, id)
		return e, c, cancel, done
	}
	a, stA, stopA, doneA := node("a")
	require.Eventually(t, a.Leader, 10*time.Second, time.Millisecond)
	b, stB, stopB, doneB := node("b")

	src := `name: every-second
inputs: {at: {type: string, required: true}}
triggers:
  - cron: "* * * * * *"
    inputs: {at: "${{ schedule.time }}"}
tasks: [{id: a, type: noop}]
`
	w, err := spec.Parse("every-second.yaml", []byte(src))
	require.NoError(t, err)
	_, _, err = a.Apply(t.Context(), w, src, "test")
	require.NoError(t, err)
	applied := time.Now()

	time.Sleep(3 * time.Second)
	require.True(t, a.Leader())
	require.False(t, b.Leader())
	stA.dead.Store(true) // a is gone without a word
	crashed := time.Now()
	stopA()
	<-doneA
	require.Eventually(t, b.Leader, 15*time.Second, 10*time.Millisecond)
	tookOver := time.Now()
	t.Logf("b took the duty %s after a crashed", time.Since(crashed).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	stopB()
	<-doneB
	stopped := time.Now()

	var ticks []time.Time
	var lags []time.Duration // from the tick to its run's creation
	require.NoError(t, stB.View(t.Context(), func(tx store.Tx) error {
		runs, err := tx.RunList(t.Context(), &store.RunListParams{Workflow: "every-second", Limit: 1000})
		for _, r := range runs {
			at, err := time.Parse(time.RFC3339, r.Inputs["at"].(string))
			if err != nil {
				return err
			}
			ticks = append(ticks, at)
			lags = append(lags, r.CreatedAt.Sub(at))
		}
		return err
	}))
	slices.Sort(lags)
	t.Logf("tick to run created: median %s, max %s (the handover's ticks)", lags[len(lags)/2], lags[len(lags)-1])
	slices.SortFunc(ticks, time.Time.Compare)
	require.NotEmpty(t, ticks)
	first, last := ticks[0], ticks[len(ticks)-1]
	t.Logf("%d runs for the ticks %s to %s", len(ticks), first.Format(time.TimeOnly), last.Format(time.TimeOnly))
	for i := 1; i < len(ticks); i++ {
		require.Equal(t, time.Second, ticks[i].Sub(ticks[i-1]), "ticks %d and %d: a duplicate or a gap", i-1, i)
	}
	require.WithinDuration(t, applied, first, 2*time.Second, "the first tick after the apply fired")
	require.WithinDuration(t, stopped, last, 2*time.Second, "ticks fired until the end")
	require.True(t, slices.ContainsFunc(ticks, func(at time.Time) bool { return at.After(crashed) && at.Before(tookOver.Add(-time.Second)) }),
		"the ticks while no node held the duty were fired after the handover")
}
