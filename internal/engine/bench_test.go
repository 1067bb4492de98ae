package engine_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// The engine's benchmarks run whole workflows of noop tasks with an
// in-process worker on a real SQLite file (durable commits:
// synchronous=FULL) and on PostgreSQL (LEGATO_TEST_POSTGRES_DSN, or a
// throwaway cluster), and measure in the same benchmark the store's floor:
// one single-row commit. Figures and method: bench/README.md.

// BenchmarkChain40 is one run of 40 sequential noop tasks per op.
func BenchmarkChain40(b *testing.B) {
	const steps = 40
	var src strings.Builder
	src.WriteString("name: chain\ntasks:\n")
	for i := range steps {
		fmt.Fprintf(&src, "  - id: t%02d\n    type: noop\n", i)
		if i > 0 {
			fmt.Fprintf(&src, "    needs: [t%02d]\n", i-1)
		}
	}
	onStores(b, func(b *testing.B, setup func(testing.TB, int) *testBundle) {
		runWorkflow(b, setup, src.String(), steps)
	})
}

// onStores runs f on SQLite and on PostgreSQL, as sub-benchmarks.
func onStores(b *testing.B, f func(*testing.B, func(testing.TB, int) *testBundle)) {
	b.Run("sqlite", func(b *testing.B) { f(b, setup) })
	b.Run("postgres", func(b *testing.B) { f(b, setupPostgres) })
}

// BenchmarkFanout1000 is one run of a 1,000-item for_each and a join per op.
func BenchmarkFanout1000(b *testing.B) {
	const items = 1000
	list := make([]string, items)
	for i := range list {
		list[i] = strconv.Itoa(i)
	}
	src := fmt.Sprintf(`name: fanout
tasks:
  - id: each
    type: noop
    for_each: [%s]
    with: {i: "${{ item }}"}
  - id: join
    needs: [each]
    type: noop
`, strings.Join(list, ", "))
	onStores(b, func(b *testing.B, setup func(testing.TB, int) *testBundle) { runWorkflow(b, setup, src, items+1) })
}

// benchWorkers is the attempts the benchmarks' in-process worker runs at
// once: the server's default (legato server --workers).
const benchWorkers = 128

// runWorkflow applies src, measures the commit floor, then runs the
// workflow once per op and reports per-task figures beside the floor.
func runWorkflow(b *testing.B, setup func(testing.TB, int) *testBundle, src string, tasks int) {
	bundle := setup(b, benchWorkers)
	bundle.apply(b, src)
	name := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(src, "\n", 2)[0], "name:"))
	floor := commitFloor(b, bundle.st)

	var mu sync.Mutex
	done := map[string]chan struct{}{}
	bundle.eng.OnRunFinished(func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if ch := done[id]; ch != nil {
				close(ch)
				delete(done, id)
			}
		}
	})
	var total time.Duration
	n := 0
	txs := bundle.txs.Load()
	for b.Loop() {
		began := time.Now()
		ch := make(chan struct{})
		// The run id is only known after StartRun: a finish announced
		// before the waiter is registered is caught by the status check.
		r := bundle.start(b, name, nil)
		mu.Lock()
		done[r.ID] = ch
		mu.Unlock()
		if got := getRun(b, bundle, r.ID); !got.Status.Terminal() {
			select {
			case <-ch:
			case <-time.After(time.Minute):
				b.Fatalf("run %s not finished after a minute", r.ID)
			}
		}
		if got := getRun(b, bundle, r.ID); got.Status != store.RunSucceeded {
			b.Fatalf("run %s: %s", got.Status, got.Error)
		}
		total += time.Since(began)
		n++
	}
	txs = bundle.txs.Load() - txs
	perTask := total / time.Duration(n*tasks)
	b.ReportMetric(float64(txs)/float64(n*tasks), "tx/task")
	b.ReportMetric(float64(perTask.Microseconds())/1000, "ms/task")
	b.ReportMetric(float64(tasks)/(total.Seconds()/float64(n)), "tasks/s")
	b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms/commit")
	b.ReportMetric(float64(perTask)/float64(floor), "task/floor")
}

// commitFloor is the median time of one durable single-row commit on st.
func commitFloor(b *testing.B, st store.Store) time.Duration {
	ctx := b.Context()
	const samples = 200
	ds := make([]time.Duration, samples)
	for i := range ds {
		began := time.Now()
		require.NoError(b, st.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "bench.floor", strconv.Itoa(i)) }))
		ds[i] = time.Since(began)
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func getRun(b *testing.B, bundle *testBundle, id string) *store.Run {
	var r *store.Run
	require.NoError(b, bundle.st.View(bundle.ctx, func(tx store.Tx) error {
		var err error
		r, err = tx.RunGet(bundle.ctx, id)
		return err
	}))
	return r
}
