package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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
	_ "github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/internal/worker"
)

// testBundle is an engine on a real SQLite file with in-process workers.
type testBundle struct {
	eng *engine.Engine
	st  store.Store
	ctx context.Context
	// txs counts the write transactions the engine and its worker ran.
	txs *atomic.Int64
}

// countingStore counts write transactions, committed or not: the
// benchmarks report them per task, a figure no machine's speed moves.
type countingStore struct {
	store.Store
	n *atomic.Int64
}

func (c countingStore) Writers() int { return store.WritersOf(c.Store) }

func (c countingStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	c.n.Add(1)
	return c.Store.Tx(ctx, fn)
}

func TestMain(m *testing.M) { pgtest.Main(m) }

func setup(t testing.TB, workers int) *testBundle {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	return setupOn(t, st, workers)
}

// setupPostgres is setup on a fresh schema of the test PostgreSQL database.
func setupPostgres(t testing.TB, workers int) *testBundle {
	t.Helper()
	dsn := pgtest.DSN(t)
	st, err := postgres.Open(t.Context(), dsn, postgres.Schema(pgtest.Schema(t, dsn)))
	require.NoError(t, err)
	return setupOn(t, st, workers)
}

// onBothStores runs a test on SQLite and on PostgreSQL.
func onBothStores(t *testing.T, f func(*testing.T, func(testing.TB, int) *testBundle)) {
	t.Run("sqlite", func(t *testing.T) { f(t, setup) })
	t.Run("postgres", func(t *testing.T) { f(t, setupPostgres) })
}

// setupOn runs an engine (and workers) on st, which it closes at cleanup.
func setupOn(t testing.TB, st store.Store, workers int) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	txs := new(atomic.Int64)
	eng := engine.New(countingStore{st, txs}, engine.Options{})
	done := make(chan struct{}, 2)
	go func() { _ = eng.Run(ctx); done <- struct{}{} }()
	n := 1
	if workers > 0 {
		w := worker.New(eng, worker.Options{ID: "local:test", Concurrency: workers, LeaseFor: 3 * time.Second})
		go func() { _ = w.Run(ctx); done <- struct{}{} }()
		n = 2
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
		require.NoError(t, st.Close())
	})
	// The only node takes the scheduler duty at its first beat.
	require.Eventually(t, eng.Leader, 10*time.Second, time.Millisecond)
	return &testBundle{eng: eng, st: st, ctx: ctx, txs: txs}
}

func (b *testBundle) apply(t testing.TB, src string) {
	t.Helper()
	w, err := spec.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	_, _, err = b.eng.Apply(b.ctx, w, src, "test")
	require.NoError(t, err)
}

func (b *testBundle) start(t testing.TB, name string, inputs map[string]any) *store.Run {
	t.Helper()
	r, err := b.eng.StartRun(b.ctx, &engine.StartRunParams{Workflow: name, Inputs: inputs, Actor: "test"})
	require.NoError(t, err)
	return r
}

// wait polls a run until it is final (bounded).
func (b *testBundle) wait(t *testing.T, id string) (*store.Run, map[string]*store.TaskRun) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r *store.Run
		var trs []*store.TaskRun
		require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
			var err error
			if r, err = tx.RunGet(b.ctx, id); err != nil {
				return err
			}
			trs, err = tx.TaskRunList(b.ctx, id)
			return err
		}))
		if r.Status.Terminal() {
			m := map[string]*store.TaskRun{}
			for _, tr := range trs {
				key := tr.Task
				if tr.Index >= 0 {
					key = fmt.Sprintf("%s[%d]", tr.Task, tr.Index)
				}
				m[key] = tr
			}
			return r, m
		}
		require.True(t, time.Now().Before(deadline), "run %s still %s", id, r.Status)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShellRunsAWorkflowEndToEnd(t *testing.T) { onBothStores(t, testShellRunsAWorkflowEndToEnd) }

func testShellRunsAWorkflowEndToEnd(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 4)
	b.apply(t, `
name: flow
inputs:
  n: {type: number, default: 1}
tasks:
  - id: a
    type: shell
    with: {run: "echo '{\"v\": ${{ inputs.n }}}'", output: json}
  - id: b
    needs: [a]
    type: noop
    with: {double: "${{ tasks.a.output.json.v * 2.0 }}"}
  - id: fan
    needs: [a]
    type: noop
    for_each: ${{ [1, 2, 3] }}
    with: {i: "${{ item }}"}
outputs:
  double: ${{ tasks.b.output.double }}
  fan: ${{ tasks.fan.output }}
`)
	r := b.start(t, "flow", map[string]any{"n": 21.0})
	r, trs := b.wait(t, r.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.EqualValues(t, 42, r.Outputs["double"])
	require.Len(t, r.Outputs["fan"], 3)
	require.Equal(t, store.TaskSucceeded, trs["fan[2]"].Status)
}

func TestShellRetriesThenSucceeds(t *testing.T) { onBothStores(t, testShellRetriesThenSucceeds) }

func testShellRetriesThenSucceeds(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 2)
	b.apply(t, `
name: flaky
tasks:
  - id: a
    type: noop
    with: {fail_attempts: 2, fail: "not yet"}
    retry: {attempts: 3, initial: 10ms, max: 20ms}
`)
	r, trs := b.wait(t, b.start(t, "flaky", nil).ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, 3, trs["a"].Attempts)
}

func TestShellChildWorkflowAndSleep(t *testing.T) { onBothStores(t, testShellChildWorkflowAndSleep) }

func testShellChildWorkflowAndSleep(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 2)
	b.apply(t, `
name: child
inputs: {who: {type: string, required: true}}
tasks:
  - id: nap
    type: sleep
    with: {duration: 50ms}
  - id: hi
    needs: [nap]
    type: noop
    with: {msg: "hi ${{ inputs.who }}"}
outputs: {msg: "${{ tasks.hi.output.msg }}"}
`)
	b.apply(t, `
name: parent
tasks:
  - id: sub
    type: workflow
    with: {workflow: child, inputs: {who: ada}}
outputs: {msg: "${{ tasks.sub.output.msg }}"}
`)
	r, trs := b.wait(t, b.start(t, "parent", nil).ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, "hi ada", r.Outputs["msg"])
	child, _ := b.wait(t, trs["sub"].ChildRunID)
	require.Equal(t, r.ID, child.ParentRunID)
}

func TestShellConcurrencyLimitQueuesRuns(t *testing.T) {
	onBothStores(t, testShellConcurrencyLimitQueuesRuns)
}

func testShellConcurrencyLimitQueuesRuns(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 4)
	b.apply(t, `
name: limited
concurrency: {limit: 1}
tasks:
  - id: nap
    type: sleep
    with: {duration: 100ms}
`)
	first := b.start(t, "limited", nil)
	second := b.start(t, "limited", nil)
	require.Equal(t, store.RunWaiting, first.Status)
	require.Equal(t, store.RunQueued, second.Status)
	r1, _ := b.wait(t, first.ID)
	r2, _ := b.wait(t, second.ID)
	require.Equal(t, store.RunSucceeded, r2.Status)
	require.False(t, r2.StartedAt.Before(r1.FinishedAt), "the second run starts after the first finished")
}

func TestShellCancelAndRetry(t *testing.T) { onBothStores(t, testShellCancelAndRetry) }

func testShellCancelAndRetry(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 2)
	b.apply(t, `
name: slow
tasks:
  - id: a
    type: shell
    with: {run: "sleep 30"}
  - id: b
    needs: [a]
    type: noop
`)
	run := b.start(t, "slow", nil)
	require.Eventually(t, func() bool {
		var tr []*store.TaskRun
		_ = b.st.View(b.ctx, func(tx store.Tx) error { tr, _ = tx.TaskRunList(b.ctx, run.ID); return nil })
		return len(tr) == 1 && tr[0].Status == store.TaskRunning
	}, 10*time.Second, 10*time.Millisecond)
	started := time.Now()
	c, err := b.eng.CancelRun(b.ctx, run.ID, "tester")
	require.NoError(t, err)
	require.Equal(t, store.RunCanceled, c.Status)
	require.Equal(t, "canceled by tester", c.Error)
	_, err = b.eng.CancelRun(b.ctx, run.ID, "tester")
	require.ErrorIs(t, err, engine.ErrInvalidState)
	// The attempt is told: its process group dies quickly, not after 30s.
	require.Eventually(t, func() bool {
		var a *store.Attempt
		_ = b.st.View(b.ctx, func(tx store.Tx) error { a, _ = tx.AttemptGet(b.ctx, 1); return nil })
		return a != nil && a.Status == store.AttemptCanceled
	}, 10*time.Second, 10*time.Millisecond)
	require.Less(t, time.Since(started), 10*time.Second)

	_, err = b.eng.RetryRun(b.ctx, "nope", "tester")
	require.ErrorIs(t, err, engine.ErrRunNotFound)
}

func TestShellRefusesStaleLeases(t *testing.T) { onBothStores(t, testShellRefusesStaleLeases) }

func testShellRefusesStaleLeases(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0) // no worker: the test claims by hand
	b.apply(t, "name: one\ntasks: [{id: a, type: noop}]\n")
	run := b.start(t, "one", nil)
	claim := func() *store.Attempt {
		var got []*store.Attempt
		require.NoError(t, b.st.Tx(b.ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.AttemptClaim(b.ctx, &store.AttemptClaimParams{Queues: []string{"default"}, WorkerID: "w", Limit: 1, Now: time.Now().UTC(), LeaseFor: time.Millisecond})
			return err
		}))
		require.Len(t, got, 1)
		return got[0]
	}
	a := claim()
	time.Sleep(5 * time.Millisecond)
	n, err := b.eng.ExpireLeases(b.ctx) // the lease ran out: attempt failed, no retry policy
	require.NoError(t, err)
	require.Equal(t, 1, n)
	err = b.eng.CompleteAttempt(b.ctx, &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken})
	require.True(t, errors.Is(err, store.ErrStaleLease), "got %v", err)
	r, _ := b.wait(t, run.ID)
	require.Equal(t, store.RunFailed, r.Status)
	require.Contains(t, r.Error, "lease expired")
}

func TestShellRecoversAttemptsOfAStoppedProcess(t *testing.T) {
	onBothStores(t, testShellRecoversAttemptsOfAStoppedProcess)
}

func testShellRecoversAttemptsOfAStoppedProcess(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0) // no worker: the test claims by hand
	b.apply(t, "name: one\ntasks: [{id: a, type: noop}]\n")
	run := b.start(t, "one", nil)
	claim := func(worker string) *store.Attempt {
		var got []*store.Attempt
		require.NoError(t, b.st.Tx(b.ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.AttemptClaim(b.ctx, &store.AttemptClaimParams{Queues: []string{"default"}, WorkerID: worker, Limit: 1, Now: time.Now().UTC(), LeaseFor: time.Hour})
			return err
		}))
		require.Len(t, got, 1)
		return got[0]
	}
	first := claim("local:1")
	// Another worker's attempts are not this process's to recover.
	n, err := b.eng.ExpireWorker(b.ctx, "remote:")
	require.NoError(t, err)
	require.Zero(t, n)
	// The lease still runs for an hour: recovery does not wait for it.
	n, err = b.eng.ExpireWorker(b.ctx, "local:")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	err = b.eng.CompleteAttempt(b.ctx, &engine.AttemptResult{ID: first.ID, Token: first.LeaseToken})
	require.ErrorIs(t, err, store.ErrStaleLease, "the old process's result is refused")

	// An interruption is not the task's fault: a new attempt runs although
	// the task has no retry policy.
	second := claim("local:2")
	require.Equal(t, 2, second.Number)
	require.NoError(t, b.eng.InterruptAttempt(b.ctx, second.ID, second.LeaseToken, "test"))
	require.ErrorIs(t, b.eng.InterruptAttempt(b.ctx, second.ID, second.LeaseToken, "test"), store.ErrStaleLease)
	third := claim("w")
	require.Equal(t, 3, third.Number)
	require.NoError(t, b.eng.CompleteAttempt(b.ctx, &engine.AttemptResult{ID: third.ID, Token: third.LeaseToken, Output: "done"}))
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, 3, trs["a"].Attempts)
	require.Equal(t, "done", trs["a"].Output)
}

func TestShellConcurrentCompletionsCommitTogetherAndOneRefusalRefusesOnlyItself(t *testing.T) {
	onBothStores(t, testShellConcurrentCompletionsCommitTogetherAndOneRefusalRefusesOnlyItself)
}

func testShellConcurrentCompletionsCommitTogetherAndOneRefusalRefusesOnlyItself(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0) // no worker: the test claims by hand
	b.apply(t, "name: fan\ntasks:\n  - {id: each, type: noop, for_each: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]}\n")
	run := b.start(t, "fan", nil)
	claimed, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "w", Limit: 100})
	require.NoError(t, err)
	require.Len(t, claimed, 16)
	stale := claimed[5]
	require.NoError(t, b.eng.InterruptAttempt(b.ctx, stale.ID, stale.LeaseToken, "test"))

	errs := make([]error, len(claimed))
	var wg sync.WaitGroup
	for i, a := range claimed {
		wg.Go(func() {
			errs[i] = b.eng.CompleteAttempt(b.ctx, &engine.AttemptResult{ID: a.ID, Token: a.LeaseToken, Output: a.Index})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			require.ErrorIs(t, err, store.ErrStaleLease)
		} else {
			require.NoError(t, err, "completion %d", i)
		}
	}
	again, err := b.eng.ClaimAttempts(b.ctx, &engine.ClaimParams{WorkerID: "w", Limit: 100})
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, stale.Index, again[0].Index)
	require.NoError(t, b.eng.CompleteAttempt(b.ctx, &engine.AttemptResult{ID: again[0].ID, Token: again[0].LeaseToken, Output: again[0].Index}))
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	out := trs["each"].Output.([]any)
	require.Len(t, out, 16)
	for i, v := range out {
		require.EqualValues(t, i, v)
	}
}
