package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
	"github.com/legatohq/legato/internal/store/storetest"
	"github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/internal/worker"
)

// probes records, per group, how many probe attempts run at once (from
// inside the task: after the claim committed, before the completion
// commits, so what it sees never exceeds what the store held) and when
// each started.
var probes = struct {
	sync.Mutex
	cur, max map[string]int
	starts   map[string][]time.Time
}{cur: map[string]int{}, max: map[string]int{}, starts: map[string][]time.Time{}}

func init() {
	tasks.Register(tasks.Type{Name: "probe", Executor: tasks.ExecutorFunc(func(ctx context.Context, req *tasks.Request) (any, error) {
		g, _ := req.Params["group"].(string)
		probes.Lock()
		probes.cur[g]++
		probes.max[g] = max(probes.max[g], probes.cur[g])
		probes.starts[g] = append(probes.starts[g], time.Now())
		probes.Unlock()
		defer func() {
			probes.Lock()
			probes.cur[g]--
			probes.Unlock()
		}()
		select {
		case <-time.After(20 * time.Millisecond):
			return map[string]any{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})})
}

var probeSeq atomic.Int64

// probeGroup names the probes of one test invocation (tests may run again
// in the same process with -count).
func probeGroup(t testing.TB) string {
	return fmt.Sprintf("%s#%d", t.Name(), probeSeq.Add(1))
}

func probeMax(g string) int {
	probes.Lock()
	defer probes.Unlock()
	return probes.max[g]
}

func probeStarts(g string) []time.Time {
	probes.Lock()
	defer probes.Unlock()
	return slices.Clone(probes.starts[g])
}

// addWorkers runs n more in-process workers of the queues until the test ends.
func addWorkers(t testing.TB, b *testBundle, n, each int, queues ...string) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(b.ctx)
	for i := range n {
		w := worker.New(b.eng, worker.Options{ID: fmt.Sprintf("extra:%d", i), Queues: queues, Concurrency: each, LeaseFor: 3 * time.Second, Poll: 200 * time.Millisecond})
		wg.Go(func() { _ = w.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

const keyedFlow = `
name: keyed
inputs:
  customer: string
  group: string
concurrency: {key: "${{ inputs.customer }}", limit: 1}
tasks:
  - id: call
    type: probe
    with: {group: "${{ inputs.group }}"}
`

func TestLimitsConcurrencyKey(t *testing.T) { onBothStores(t, testLimitsConcurrencyKey) }

func testLimitsConcurrencyKey(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 8)
	b.apply(t, keyedFlow)
	prefix := probeGroup(t)
	runs := startKeyed(t, []*testBundle{b}, prefix, 3, 5)
	for _, id := range runs {
		r, _ := b.wait(t, id)
		require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	}
	for c := range 3 {
		require.Equal(t, 1, probeMax(fmt.Sprintf("%s/c%d", prefix, c)), "customer %d", c)
	}
}

// startKeyed starts perCustomer runs of each of customers concurrently,
// spread over the engines, and returns their ids. The starts' errors are
// collected and checked on the test's goroutine: FailNow must not run on
// another.
func startKeyed(t *testing.T, bs []*testBundle, prefix string, customers, perCustomer int) []string {
	var mu sync.Mutex
	var ids []string
	var errs []error
	var wg sync.WaitGroup
	for c := range customers {
		for i := range perCustomer {
			b := bs[(c+i)%len(bs)]
			wg.Go(func() {
				r, err := b.eng.StartRun(b.ctx, &engine.StartRunParams{Workflow: "keyed", Actor: "test", Inputs: map[string]any{
					"customer": fmt.Sprint("c", c), "group": fmt.Sprintf("%s/c%d", prefix, c),
				}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("start run %d of customer %d: %w", i, c, err))
					return
				}
				ids = append(ids, r.ID)
			})
		}
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Len(t, ids, customers*perCustomer)
	return ids
}

func TestLimitsPriority(t *testing.T) { onBothStores(t, testLimitsPriority) }

func testLimitsPriority(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	// No worker until the three runs exist: the first one holds the slot
	// (its task cannot finish) while the other two queue.
	b := setup(t, 0)
	b.apply(t, `
name: one-at-a-time
concurrency: 1
tasks:
  - id: call
    type: probe
    with: {group: x}
`)
	start := func(prio int) *store.Run {
		r, err := b.eng.StartRun(b.ctx, &engine.StartRunParams{Workflow: "one-at-a-time", Actor: "test", Priority: prio})
		require.NoError(t, err)
		return r
	}
	first := start(0)
	low := start(0)
	high := start(5)
	require.Equal(t, store.RunQueued, high.Status)
	require.Equal(t, 5, high.Priority)
	addWorkers(t, b, 1, 1, "default")
	b.wait(t, first.ID)
	rl, _ := b.wait(t, low.ID)
	rh, _ := b.wait(t, high.ID)
	require.True(t, rh.StartedAt.Before(rl.StartedAt), "the high-priority run starts first")
}

func TestLimitsQueueAndResource(t *testing.T) { onBothStores(t, testLimitsQueueAndResource) }

func testLimitsQueueAndResource(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 4)
	runLimitLoad(t, []*testBundle{b})
}

// runLimitLoad puts a queue limit and a rate-limited resource on the
// store, runs 40 attempts through each on several workers of every
// engine, and checks the limits held.
func runLimitLoad(t *testing.T, bs []*testBundle) {
	const rate, burst = 40.0, 3.0
	require.NoError(t, bs[0].eng.PutLimits(bs[0].ctx, []*store.Limit{
		{Kind: store.LimitQueue, Name: "billing", MaxRunning: 2},
		{Kind: store.LimitResource, Name: "crm", MaxRunning: 3, Rate: rate, Burst: burst},
		{Kind: store.LimitType, Name: "nothing-runs-this", MaxRunning: 1},
	}))
	for _, b := range bs {
		addWorkers(t, b, 3, 4, "billing", "default")
	}
	g := probeGroup(t)
	bs[0].apply(t, `
name: load
inputs:
  g: string
tasks:
  - id: bill
    type: probe
    queue: billing
    for_each: "${{ [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40] }}"
    with: {group: "${{ inputs.g }}/billing"}
  - id: crm
    type: probe
    resource: crm
    for_each: "${{ [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40] }}"
    with: {group: "${{ inputs.g }}/crm"}
`)
	r := bs[0].start(t, "load", map[string]any{"g": g})
	got, trs := bs[0].wait(t, r.ID)
	require.Equal(t, store.RunSucceeded, got.Status, got.Error)
	require.Equal(t, 2, probeMax(g+"/billing"), "the queue limit is reached and held")
	require.LessOrEqual(t, probeMax(g+"/crm"), 3)
	require.Equal(t, 40, len(probeStarts(g+"/crm")), "crm attempts started")
	// The rate holds over the claim times the store recorded (a task's
	// own start lags its claim by a varying delay).
	var starts []time.Time
	for i := range 40 {
		starts = append(starts, trs[fmt.Sprintf("crm[%d]", i)].StartedAt)
	}
	storetest.CheckRate(t, starts, rate, burst)
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	// 40 attempts at 40/s with a burst of 3 take about a second: no faster.
	require.Greater(t, starts[len(starts)-1].Sub(starts[0]), 800*time.Millisecond)
}

// TestLimitsTwoEnginesOnePostgres runs the concurrency-key and the
// limit loads on two engines (two servers) sharing one PostgreSQL store.
func TestLimitsTwoEnginesOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	var bs []*testBundle
	for i := range 2 {
		st, err := postgres.Open(t.Context(), dsn, postgres.Schema(schema))
		require.NoError(t, err)
		bs = append(bs, startNode(t, st, fmt.Sprint("node-", i)))
	}
	require.Eventually(t, func() bool { return bs[0].eng.Leader() || bs[1].eng.Leader() }, 10*time.Second, time.Millisecond)
	bs[0].apply(t, keyedFlow)
	prefix := probeGroup(t)
	for _, id := range startKeyed(t, bs, prefix, 3, 6) {
		r, _ := bs[1].wait(t, id)
		require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	}
	for c := range 3 {
		require.Equal(t, 1, probeMax(fmt.Sprintf("%s/c%d", prefix, c)), "customer %d", c)
	}
	runLimitLoad(t, bs)
}

// startNode runs an engine and a worker on st as the node id.
func startNode(t *testing.T, st store.Store, id string) *testBundle {
	ctx, cancel := context.WithCancel(t.Context())
	eng := engine.New(st, engine.Options{Node: engine.NodeInfo{ID: id}})
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	w := worker.New(eng, worker.Options{ID: "local:" + id, Concurrency: 4, LeaseFor: 3 * time.Second, Poll: 200 * time.Millisecond})
	wg.Go(func() { _ = w.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		require.NoError(t, st.Close())
	})
	return &testBundle{eng: eng, st: st, ctx: ctx}
}
