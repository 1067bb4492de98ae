package engine_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

// twoServers opens two stores on one PostgreSQL schema, each with its own
// engine, as two `legato server` processes share a database.
func twoServers(t *testing.T) [2]*engine.Engine {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	var engs [2]*engine.Engine
	for i := range engs {
		st, err := postgres.Open(t.Context(), dsn, postgres.Schema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		engs[i] = engine.New(st, engine.Options{Node: engine.NodeInfo{ID: fmt.Sprintf("node%d", i)}})
	}
	return engs
}

func applyOn(t *testing.T, e *engine.Engine, src string) {
	t.Helper()
	w, err := spec.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	_, _, err = e.Apply(t.Context(), w, src, "test")
	require.NoError(t, err)
}

// TestPostgresEventsExactlyOnceAcrossServers: the same event delivered to
// two servers at once starts one run; the same idempotency key too.
func TestPostgresEventsExactlyOnceAcrossServers(t *testing.T) {
	t.Parallel()
	engs := twoServers(t)
	applyOn(t, engs[0], "name: on-order\ntriggers: [{event: order.created}]\ntasks: [{id: a, type: noop}]\n")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var runs []string
	for i := range 10 {
		wg.Go(func() {
			res, err := engs[i%2].IngestEvent(t.Context(), &store.InboxEvent{ID: "e1", Source: "shop", Type: "order.created"})
			require.NoError(t, err)
			mu.Lock()
			runs = append(runs, res.Runs...)
			mu.Unlock()
			r, _, err := engs[i%2].Start(t.Context(), &engine.StartRunParams{Workflow: "on-order", IdempotencyKey: "k"})
			require.NoError(t, err)
			mu.Lock()
			runs = append(runs, r.ID)
			mu.Unlock()
		})
	}
	wg.Wait()
	distinct := map[string]bool{}
	for _, r := range runs {
		distinct[r] = true
	}
	require.Len(t, distinct, 2, "one run from the event, one from the key")
}

// TestPostgresWaitsNeverMissConcurrentEvents: runs begin to wait on one
// server while their events arrive on the other at the same moment; every
// wait completes (the event is seen by the wait's look-back or the wait by
// the event). Without the (namespace, type) lock of InboxInsert and
// EventWaitPut this test fails: 200 pairs are enough to hit the window.
func TestPostgresWaitsNeverMissConcurrentEvents(t *testing.T) {
	t.Parallel()
	engs := twoServers(t)
	applyOn(t, engs[0], `
name: pay
inputs: {order: {type: string, required: true}}
tasks:
  - id: p
    type: wait_event
    with: {type: paid, match: "event.data.order == inputs.order"}
`)
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		order := fmt.Sprintf("o%d", i)
		wg.Go(func() {
			r, err := engs[0].StartRun(t.Context(), &engine.StartRunParams{Workflow: "pay", Inputs: map[string]any{"order": order}})
			require.NoError(t, err)
			ids[i] = r.ID
		})
		wg.Go(func() {
			_, err := engs[1].IngestEvent(t.Context(), &store.InboxEvent{ID: order, Source: "bank", Type: "paid", Data: map[string]any{"order": order}})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.NoError(t, engs[0].Store().View(t.Context(), func(tx store.Tx) error {
		for _, id := range ids {
			r, err := tx.RunGet(t.Context(), id)
			require.NoError(t, err)
			require.Equal(t, store.RunSucceeded, r.Status, "run %s missed its event", id)
		}
		waits, err := tx.EventWaitList(t.Context(), "default", "paid")
		require.NoError(t, err)
		require.Empty(t, waits)
		return nil
	}))
}
