package engine_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

func (b *testBundle) runs(t *testing.T, workflow string) []*store.Run {
	t.Helper()
	var runs []*store.Run
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		runs, err = tx.RunList(b.ctx, &store.RunListParams{Workflow: workflow})
		return err
	}))
	return runs
}

func (b *testBundle) ingest(t *testing.T, ev *store.InboxEvent) *engine.IngestResult {
	t.Helper()
	res, err := b.eng.IngestEvent(b.ctx, ev)
	require.NoError(t, err)
	return res
}

// waiting polls until a task run of a run is waiting.
func (b *testBundle) waiting(t *testing.T, runID, task string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var trs []*store.TaskRun
		require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
			var err error
			trs, err = tx.TaskRunList(b.ctx, runID)
			return err
		}))
		for _, tr := range trs {
			if tr.Task == task && tr.Status == store.TaskWaiting {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
}

func TestShellIdempotencyKeyStartsOneRun(t *testing.T) { onBothStores(t, testShellIdempotencyKey) }

func testShellIdempotencyKey(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 0)
	b.apply(t, "name: once\ntasks: [{id: a, type: noop}]\n")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	created := make([]bool, 8)
	for i := range ids {
		wg.Go(func() {
			r, c, err := b.eng.Start(b.ctx, &engine.StartRunParams{Workflow: "once", IdempotencyKey: "k1"})
			if err == nil {
				ids[i], created[i] = r.ID, c
			}
		})
	}
	wg.Wait()
	n := 0
	for i := range ids {
		require.Equal(t, ids[0], ids[i])
		if created[i] {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one start created the run")
	require.Len(t, b.runs(t, "once"), 1)
	r, c, err := b.eng.Start(b.ctx, &engine.StartRunParams{Workflow: "once", IdempotencyKey: "k2"})
	require.NoError(t, err)
	require.True(t, c)
	require.NotEqual(t, ids[0], r.ID)
}

func TestShellEventTriggersWithFilterAndDedupe(t *testing.T) {
	onBothStores(t, testShellEventTriggers)
}

func testShellEventTriggers(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, `
name: big-orders
inputs: {order_id: {type: string, required: true}, amount: {type: number}}
triggers:
  - event: order.created
    filter: event.data.amount > 100
    inputs: {order_id: "${{ event.data.id }}", amount: "${{ event.data.amount }}"}
tasks: [{id: a, type: noop, with: {order: "${{ inputs.order_id }}"}}]
outputs: {order: "${{ tasks.a.output.order }}"}
`)
	b.apply(t, `
name: all-orders
triggers: [{event: order.created}]
tasks: [{id: a, type: noop}]
`)
	order := func(id string, amount float64) *store.InboxEvent {
		return &store.InboxEvent{ID: "evt-" + id, Source: "shop", Type: "order.created", Data: map[string]any{"id": id, "amount": amount}}
	}
	res := b.ingest(t, order("o1", 500))
	require.False(t, res.Duplicate)
	require.Len(t, res.Runs, 2)
	res = b.ingest(t, order("o2", 5))
	require.Len(t, res.Runs, 1, "the filter keeps big-orders out")
	res = b.ingest(t, &store.InboxEvent{ID: "x", Source: "shop", Type: "order.updated"})
	require.Empty(t, res.Runs)

	// Redelivered, also concurrently: accepted once, no second effect.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			res, err := b.eng.IngestEvent(b.ctx, order("o1", 500))
			if err == nil {
				require.True(t, res.Duplicate)
				require.Empty(t, res.Runs)
			}
		})
	}
	wg.Wait()
	big := b.runs(t, "big-orders")
	require.Len(t, big, 1)
	require.Len(t, b.runs(t, "all-orders"), 2)
	r, _ := b.wait(t, big[0].ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, "o1", r.Outputs["order"])
	require.Equal(t, map[string]any{"order_id": "o1", "amount": 500.0}, r.Inputs)

	rt, latency, ok, err := b.eng.TriggerLatency(b.ctx, r.ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "event", rt.Kind)
	require.Equal(t, "evt-o1", rt.EventID)
	require.GreaterOrEqual(t, latency, time.Duration(0))
	require.Less(t, latency, 10*time.Second)
}

const payWorkflow = `
name: pay
inputs: {order_id: {type: string, required: true}}
tasks:
  - id: payment
    type: wait_event
    with:
      type: payment.received
      match: event.data.order_id == inputs.order_id
      timeout: %s
      on_timeout: %s
  - id: done
    needs: [payment]
    type: noop
    with: {amount: "${{ tasks.payment.output.data.amount }}"}
outputs: {amount: "${{ tasks.done.output.amount }}", timed_out: "${{ tasks.payment.output.timed_out }}"}
`

func payment(id, order string, amount float64) *store.InboxEvent {
	return &store.InboxEvent{ID: id, Source: "bank", Type: "payment.received", Data: map[string]any{"order_id": order, "amount": amount}}
}

func TestShellWaitEventMatches(t *testing.T) { onBothStores(t, testShellWaitEventMatches) }

func testShellWaitEventMatches(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, fmt.Sprintf(payWorkflow, "1h", "fail"))
	r1 := b.start(t, "pay", map[string]any{"order_id": "o1"})
	r2 := b.start(t, "pay", map[string]any{"order_id": "o2"})
	b.waiting(t, r1.ID, "payment")
	b.waiting(t, r2.ID, "payment")

	res := b.ingest(t, payment("p1", "o-other", 1))
	require.Empty(t, res.Woke)
	res = b.ingest(t, payment("p2", "o2", 20))
	require.Equal(t, []string{r2.ID + "/payment"}, res.Woke)
	r, trs := b.wait(t, r2.ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, 20.0, r.Outputs["amount"])
	require.Equal(t, "p2", trs["payment"].Output.(map[string]any)["id"])

	// The other run still waits; its timer and row are in place.
	var waits []*store.EventWait
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		waits, err = tx.EventWaitList(b.ctx, "default", "payment.received")
		return err
	}))
	require.Len(t, waits, 1)
	require.Equal(t, r1.ID, waits[0].RunID)

	// Canceling removes the wait.
	_, err := b.eng.CancelRun(b.ctx, r1.ID, "test")
	require.NoError(t, err)
	require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
		var err error
		waits, err = tx.EventWaitList(b.ctx, "default", "payment.received")
		return err
	}))
	require.Empty(t, waits)
}

func TestShellWaitEventTimeout(t *testing.T) { onBothStores(t, testShellWaitEventTimeout) }

func testShellWaitEventTimeout(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, fmt.Sprintf(payWorkflow, "200ms", "fail"))
	r, trs := b.wait(t, b.start(t, "pay", map[string]any{"order_id": "o1"}).ID)
	require.Equal(t, store.RunFailed, r.Status)
	require.Equal(t, "wait_event: no payment.received event matched within 200ms", trs["payment"].Error)

	b.apply(t, fmt.Sprintf(payWorkflow, "200ms", "succeed"))
	r, _ = b.wait(t, b.start(t, "pay", map[string]any{"order_id": "o1"}).ID)
	require.Equal(t, store.RunFailed, r.Status, "done reads the missing amount")
	r, trs = b.wait(t, r.ID)
	require.Equal(t, map[string]any{"timed_out": true}, trs["payment"].Output)
}

func TestShellWaitEventLooksBack(t *testing.T) { onBothStores(t, testShellWaitEventLooksBack) }

func testShellWaitEventLooksBack(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, fmt.Sprintf(payWorkflow, "300ms", "fail"))
	now := time.Now().UTC()
	// Before the default 5-minute window: not seen.
	old := payment("p-old", "o1", 1)
	old.ReceivedAt = now.Add(-6 * time.Minute)
	b.ingest(t, old)
	r, _ := b.wait(t, b.start(t, "pay", map[string]any{"order_id": "o1"}).ID)
	require.Equal(t, store.RunFailed, r.Status)

	// Inside the window: the run that starts after it still gets it.
	recent := payment("p-recent", "o2", 7)
	recent.ReceivedAt = now.Add(-4 * time.Minute)
	b.ingest(t, recent)
	r, trs := b.wait(t, b.start(t, "pay", map[string]any{"order_id": "o2"}).ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, 7.0, r.Outputs["amount"])
	require.Equal(t, "p-recent", trs["payment"].Output.(map[string]any)["id"])
}

func TestShellWaitEventLooksBackPastAPage(t *testing.T) {
	onBothStores(t, testShellWaitEventLooksBackPastAPage)
}

// testShellWaitEventLooksBackPastAPage: the matching event comes after
// more events of its type than one read of the look-back takes.
func testShellWaitEventLooksBackPastAPage(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, fmt.Sprintf(payWorkflow, "1h", "fail"))
	for i := range 520 {
		b.ingest(t, payment(fmt.Sprintf("other-%d", i), "nobody", 1))
	}
	b.ingest(t, payment("mine", "o1", 9))
	r, _ := b.wait(t, b.start(t, "pay", map[string]any{"order_id": "o1"}).ID)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
	require.Equal(t, 9.0, r.Outputs["amount"])
}

// BenchmarkIngestEvent stores one event per op that starts a run of one
// subscribed workflow and completes the wait of another run: the whole
// ingestion transaction.
func BenchmarkIngestEvent(b *testing.B) {
	onStores(b, func(b *testing.B, setup func(testing.TB, int) *testBundle) {
		tb := setup(b, 0)
		tb.apply(b, "name: on-paid\ntriggers: [{event: payment.received}]\ntasks: [{id: a, type: noop}]\n")
		tb.apply(b, fmt.Sprintf(payWorkflow, "1h", "fail"))
		ids := make([]string, b.N)
		for i := range b.N {
			r, err := tb.eng.StartRun(tb.ctx, &engine.StartRunParams{Workflow: "pay", Inputs: map[string]any{"order_id": fmt.Sprint(i)}})
			require.NoError(b, err)
			ids[i] = r.ID
		}
		b.ResetTimer()
		for i := range b.N {
			res, err := tb.eng.IngestEvent(tb.ctx, payment(fmt.Sprint("p", i), fmt.Sprint(i), 1))
			require.NoError(b, err)
			if len(res.Runs) != 1 || len(res.Woke) != 1 {
				b.Fatalf("event %d: %+v", i, res)
			}
		}
	})
}

func TestShellWaitEventForEachItems(t *testing.T) { onBothStores(t, testShellWaitEventForEachItems) }

// testShellWaitEventForEachItems: one wait per item, each matched by its
// own event through item, and one event may wake several waits.
func testShellWaitEventForEachItems(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 1)
	b.apply(t, `
name: batch
tasks:
  - id: pay
    type: wait_event
    for_each: ["a", "b", "c"]
    with: {type: paid, match: "event.data.order == item || event.data.order == 'all'"}
outputs: {ids: "${{ tasks.pay.output.map(o, o.id) }}"}
`)
	r := b.start(t, "batch", nil)
	b.waiting(t, r.ID, "pay")
	res := b.ingest(t, &store.InboxEvent{ID: "1", Source: "s", Type: "paid", Data: map[string]any{"order": "b"}})
	require.Equal(t, []string{r.ID + "/pay/1"}, res.Woke)
	res = b.ingest(t, &store.InboxEvent{ID: "2", Source: "s", Type: "paid", Data: map[string]any{"order": "all"}})
	require.Equal(t, []string{r.ID + "/pay/0", r.ID + "/pay/2"}, res.Woke)
	done, _ := b.wait(t, r.ID)
	require.Equal(t, store.RunSucceeded, done.Status, done.Error)
	require.Equal(t, []any{"2", "1", "2"}, done.Outputs["ids"])
}
