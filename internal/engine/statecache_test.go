package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
	"github.com/legatohq/legato/internal/store/sqlite"
)

// The engine keeps a run's state between transactions (statecache.go). These
// tests write a run behind an engine's back, or roll back what it decided,
// and check that the next transition still decides on the run as stored.

const cacheFlow = `name: cached
tasks:
  - id: each
    type: noop
    for_each: [1, 2, 3, 4, 5, 6, 7]
  - id: join
    needs: [each]
    type: noop
  - id: last
    needs: [join]
    type: noop
`

// cacheNode is an engine without workers or background loop: the test
// claims and completes attempts itself.
func cacheNode(t *testing.T, st store.Store) *engine.Engine {
	t.Helper()
	e := engine.New(st, engine.Options{})
	w, err := spec.Parse("cached.yaml", []byte(cacheFlow))
	require.NoError(t, err)
	_, _, err = e.Apply(t.Context(), w, cacheFlow, "test")
	require.NoError(t, err)
	return e
}

func claimOne(t *testing.T, e *engine.Engine, worker string) *store.Attempt {
	t.Helper()
	as, err := e.ClaimAttempts(t.Context(), &engine.ClaimParams{WorkerID: worker, Limit: 1, LeaseFor: time.Minute})
	require.NoError(t, err)
	if len(as) == 0 {
		return nil
	}
	return as[0]
}

func complete(t *testing.T, e *engine.Engine, a *store.Attempt) error {
	t.Helper()
	return e.CompleteAttempt(t.Context(), &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: a.Task, Actor: "test"})
}

// requireAllSucceeded checks the run and every task run: succeeded once,
// with the start its claim recorded.
func requireAllSucceeded(t *testing.T, st store.Store, runID string, started map[string]time.Time) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		r, err := tx.RunGet(ctx, runID)
		require.NoError(t, err)
		require.Equal(t, store.RunSucceeded, r.Status, r.Error)
		trs, err := tx.TaskRunList(ctx, runID)
		require.NoError(t, err)
		require.Len(t, trs, 10, "7 items, their aggregate, join and last")
		for _, tr := range trs {
			key := fmt.Sprintf("%s[%d]", tr.Task, tr.Index)
			require.Equal(t, store.TaskSucceeded, tr.Status, key)
			if tr.Task == "each" && tr.Index < 0 {
				continue
			}
			require.Equal(t, 1, tr.Attempts, key)
			require.Equal(t, started[key], tr.StartedAt, "%s: the start its claim recorded", key)
		}
		return nil
	}))
}

// Two engines on one PostgreSQL database write the same run in turns: one
// claims, the other completes; each engine's kept state is stale at almost
// every transition (the other engine transitioned the run, or claimed a
// task run since), and the run still ends as if one engine ran it.
func TestStateCacheTwoEnginesOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	open := func() store.Store {
		st, err := postgres.Open(t.Context(), dsn, postgres.Schema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return st
	}
	stA, stB := open(), open()
	engines := []*engine.Engine{cacheNode(t, stA), cacheNode(t, stB)}
	run, err := engines[0].StartRun(t.Context(), &engine.StartRunParams{Workflow: "cached", Actor: "test"})
	require.NoError(t, err)

	started := map[string]time.Time{}
	for step := 0; ; step++ {
		claimer, other := engines[step%2], engines[(step+1)%2]
		// Claim two when there are two, so that a completion runs on a state
		// in which a claim by the other engine made a task run running.
		var held []*store.Attempt
		for range 2 {
			if a := claimOne(t, claimer, fmt.Sprintf("w%d", step%2)); a != nil {
				held = append(held, a)
				started[fmt.Sprintf("%s[%d]", a.Task, a.Index)] = a.StartedAt
			}
		}
		if len(held) == 0 {
			break
		}
		require.Less(t, step, 20, "more steps than the workflow has tasks")
		for i, a := range held {
			by := other
			if (step/2+i)%2 == 1 {
				by = claimer
			}
			require.NoError(t, complete(t, by, a))
		}
	}
	requireAllSucceeded(t, stA, run.ID, started)
}

// failingCommit rolls back every transaction while fail is set, after the
// engine did all its work in it.
type failingCommit struct {
	store.Store
	fail atomic.Bool
}

var errRolledBack = errors.New("rolled back by the test")

func (f *failingCommit) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Tx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if f.fail.Load() {
			return errRolledBack
		}
		return nil
	})
}

// A completion whose transaction rolls back leaves nothing of what was
// decided in it: here every other completion is first reported, with a
// wrong output, to an engine whose transaction rolls back, then reported
// right to a second engine on the same database; the first engine, which
// transitions the run next, must not take the rolled-back state (of the
// same revision as the committed one) for the run's.
func TestStateCacheDropsRolledBackState(t *testing.T) {
	t.Parallel()
	inner, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, inner.Close()) })
	st := &failingCommit{Store: inner}
	e, other := cacheNode(t, st), cacheNode(t, inner)
	run, err := e.StartRun(t.Context(), &engine.StartRunParams{Workflow: "cached", Actor: "test"})
	require.NoError(t, err)

	started := map[string]time.Time{}
	for n := 0; ; n++ {
		a := claimOne(t, e, "w")
		if a == nil {
			break
		}
		started[fmt.Sprintf("%s[%d]", a.Task, a.Index)] = a.StartedAt
		if n%2 == 0 { // the last item too: e decides the aggregate's output
			require.NoError(t, complete(t, e, a))
			continue
		}
		st.fail.Store(true)
		wrong := &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: "wrong", Actor: "test"}
		require.ErrorIs(t, e.CompleteAttempt(t.Context(), wrong), errRolledBack)
		st.fail.Store(false)
		require.NoError(t, complete(t, other, a), "the lease still holds: nothing was committed")
		require.Less(t, n, 20, "more attempts than the workflow has tasks")
	}
	requireAllSucceeded(t, st, run.ID, started)
	require.NoError(t, inner.View(t.Context(), func(tx store.Tx) error {
		trs, err := tx.TaskRunList(t.Context(), run.ID)
		require.NoError(t, err)
		for _, tr := range trs {
			require.NotContains(t, fmt.Sprint(tr.Output), "wrong", "%s[%d]", tr.Task, tr.Index)
		}
		return nil
	}))
}
