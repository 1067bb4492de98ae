package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

// Two nodes on one store: one holds the scheduler duty, the other takes it
// when the first leaves, and timers fire once.
func TestSchedulerDutyMovesBetweenNodes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "legato.db")
	node := func(id string) (*engine.Engine, store.Store, context.CancelFunc, chan struct{}) {
		st, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		e, cancel, done := runNode(t, st, id)
		return e, st, cancel, done
	}
	a, st, stopA, doneA := node("a")
	require.Eventually(t, a.Leader, 10*time.Second, time.Millisecond)
	b, _, stopB, doneB := node("b")
	defer func() { stopB(); <-doneB }()
	require.Eventually(t, func() bool {
		nodes, err := b.Nodes(t.Context())
		require.NoError(t, err)
		return len(nodes) == 2
	}, 10*time.Second, 10*time.Millisecond)
	nodes, err := b.Nodes(t.Context())
	require.NoError(t, err)
	require.Equal(t, "a", nodes[0].ID)
	require.True(t, nodes[0].Leader)
	require.Equal(t, "b:8420", nodes[1].Address)
	require.False(t, nodes[1].Leader)
	require.False(t, b.Leader())

	// A timer set through b fires once, on a.
	bb := &testBundle{eng: b, st: st, ctx: t.Context()}
	bb.apply(t, "name: nap\ntasks: [{id: z, type: sleep, with: {duration: 100ms}}]\n")
	run := bb.start(t, "nap", nil)
	r, _ := bb.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)

	// a leaves gracefully: b takes the duty at its next beat.
	stopA()
	<-doneA
	left := time.Now()
	require.Eventually(t, b.Leader, 10*time.Second, 10*time.Millisecond)
	t.Logf("b took the duty %s after a left", time.Since(left).Round(time.Millisecond))
	run = bb.start(t, "nap", nil)
	r, _ = bb.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	nodes, err = b.Nodes(t.Context())
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	require.True(t, nodes[0].Leader)

	var fired int
	require.NoError(t, st.View(t.Context(), func(tx store.Tx) error {
		for _, id := range []string{run.ID} {
			evs, err := tx.EventList(t.Context(), id, 0, 0)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if ev.Type == "timer.fired" {
					fired++
				}
			}
		}
		return nil
	}))
	require.Equal(t, 1, fired)
}

// runNode runs an engine as node id on st until the returned cancel; done
// closes when its loop has returned.
func runNode(t *testing.T, st store.Store, id string) (*engine.Engine, context.CancelFunc, chan struct{}) {
	e := engine.New(st, engine.Options{Node: engine.NodeInfo{ID: id, Address: id + ":8420", Version: "test"}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	return e, cancel, done
}
