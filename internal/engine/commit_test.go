package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// observed collects what OnCommit tells.
type observed struct {
	mu       sync.Mutex
	events   []string // type/task
	runs     map[string]string
	types    map[string]string
	attempts []*store.Attempt
}

func (o *observed) observe(c *engine.Commit) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, ev := range c.Journal {
		o.events = append(o.events, ev.Type+"/"+ev.Task)
		if r := c.Run(ev.RunID); r != nil {
			o.runs[ev.Type] = r.Namespace + "/" + r.Workflow
		}
		if ev.Task != "" {
			o.types[ev.Task] = c.TaskType(ev.RunID, ev.Task)
			if c.TaskRun(ev.RunID, ev.Task, ev.Index) == nil {
				o.events = append(o.events, "missing task run "+ev.Task)
			}
		}
	}
	o.attempts = append(o.attempts, c.Attempts...)
}

func TestOnCommitTellsJournalAndAttempts(t *testing.T) {
	onBothStores(t, testOnCommitTellsJournalAndAttempts)
}

func testOnCommitTellsJournalAndAttempts(t *testing.T, setup func(testing.TB, int) *testBundle) {
	t.Parallel()
	b := setup(t, 2)
	o := &observed{runs: map[string]string{}, types: map[string]string{}}
	b.eng.OnCommit(o.observe)
	b.apply(t, `name: observed
tasks:
  - id: a
    type: shell
    with: {run: "exit 1"}
    retry: {attempts: 2, initial: 10ms}
    on_failure: {type: noop}
  - id: b
    needs: [a]
    type: noop
`)
	run := b.start(t, "observed", nil)
	r, _ := b.wait(t, run.ID)
	require.Equal(t, store.RunSucceeded, r.Status)
	// Observers run just after the commit the store already shows.
	require.Eventually(t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.runs["run.succeeded"] != ""
	}, 10*time.Second, time.Millisecond)

	o.mu.Lock()
	defer o.mu.Unlock()
	require.Equal(t, "default/observed", o.runs["run.created"])
	require.Equal(t, "default/observed", o.runs["run.succeeded"])
	require.Contains(t, o.events, "task.succeeded/b")
	for _, e := range o.events {
		require.NotContains(t, e, "missing task run")
	}
	require.Contains(t, o.events, "task.succeeded/a.on_failure")
	require.Equal(t, "shell", o.types["a"])
	require.Equal(t, "noop", o.types["a.on_failure"], "a fallback's type is its own")
	var statuses []string
	for _, a := range o.attempts {
		require.Equal(t, run.ID, a.RunID)
		require.False(t, a.StartedAt.IsZero())
		require.False(t, a.FinishedAt.Before(a.StartedAt))
		statuses = append(statuses, a.Task+":"+string(a.Status))
	}
	require.ElementsMatch(t, []string{"a:failed", "a:failed", "a.on_failure:succeeded", "b:succeeded"}, statuses)
}
