package sqlite

import (
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// queryPlan returns the EXPLAIN QUERY PLAN details of query with args on
// the writer, one line each.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.wc.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		out = append(out, detail)
	}
	require.NoError(t, rows.Err())
	return out
}

// openTest opens a store in a temporary directory, closed with the test.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// addAttempts inserts run r when it is missing, then n attempts of it,
// attempt(i) with a queued task run each.
func addAttempts(t *testing.T, s *Store, n int, attempt func(i int) *store.Attempt) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, &store.Run{ID: "r", Namespace: "ns", Workflow: "wf", Status: store.RunRunning, CreatedAt: time.Now()}); err != nil {
			return err
		}
		for i := range n {
			a := attempt(i)
			a.RunID, a.Task, a.Index, a.Number = "r", "t", i, 1
			tr := &store.TaskRun{RunID: "r", Task: "t", Index: i, Status: store.TaskQueued}
			if err := tx.TaskRunUpsert(ctx, []*store.TaskRun{tr}); err != nil {
				return err
			}
			if err := tx.AttemptInsert(ctx, a); err != nil {
				return err
			}
		}
		return nil
	}))
}

// TestClaimPlans pins the plans of the claim's and AttemptNextDue's
// statements, on an empty database and on one the planner has statistics
// of: the claim reads one queue along the claim order's index, with no
// sort, however many types; nothing scans the attempts.
func TestClaimPlans(t *testing.T) {
	t.Parallel()
	s := openTest(t)

	types := `["shell","http","noop"]`
	blocked := [3]string{`["q2"]`, `["http"]`, `["gpu"]`}
	type want struct {
		query string
		args  []any
		// uses are the starts of lines the plan must have; sort: whether
		// it may sort.
		uses []string
		sort bool
	}
	// The indexes are partial (queued attempts only): the status is in
	// their WHERE, not among their columns.
	claimIndex := "SEARCH attempts USING INDEX attempts_claim_priority (queue=?)"
	nextDueIndex := "SEARCH attempts USING INDEX attempts_claim (queue=?)"
	cases := map[string]want{
		"claim one queue":          {qClaimOne, []any{"q", types, "[]", "[]", "[]", 1, 8}, []string{claimIndex}, false},
		"claim one queue any type": {qClaimOne, []any{"q", "[]", "[]", "[]", "[]", 1, 8}, []string{claimIndex}, false},
		"claim one queue blocked":  {qClaimOne, []any{"q", types, blocked[0], blocked[1], blocked[2], 1, 8}, []string{claimIndex}, false},
		"claim many queues": {qClaimMany, []any{`["q","q2"]`, types, "[]", "[]", "[]", 1, 8},
			[]string{"SEARCH attempts USING INDEX attempts_claim_priority ("}, true},
		"next due one queue":        {qNextDueOne, []any{"q", types, "[]", "[]", "[]"}, []string{nextDueIndex}, false},
		"next due many queues":      {qNextDueMany, []any{`["q","q2"]`, types, "[]", "[]", "[]"}, []string{nextDueIndex}, false},
		"next due held one queue":   {qNextDueHeldOne, []any{"q", types, blocked[0], blocked[1], blocked[2]}, []string{nextDueIndex}, false},
		"next due held many queues": {qNextDueHeldMany, []any{`["q","q2"]`, types, blocked[0], "[]", "[]"}, []string{nextDueIndex}, false},
		// The running attempts' partial index, in order: expiry reads
		// the expired ones first and sorts nothing.
		"expired": {qAttemptListExpired, []any{1, 10},
			[]string{"SEARCH attempts USING INDEX attempts_lease (lease_expires_at<?)"}, false},
		"running count": {qRunningCount, nil, []string{"SCAN attempts USING INDEX attempts_lease"}, true},
		// A batch's kept states checked: each run by its key, each
		// run's running task runs from the partial index.
		"run revisions": {qRunRevs, []any{`["r1","r2"]`},
			[]string{"SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)"}, true},
		"running task runs": {qTaskRunsRunning, []any{`["r1","r2"]`},
			[]string{"SEARCH task_runs USING INDEX task_runs_running (run_id=?)"}, false},
		"lease": {qAttemptLease, []any{`[[1,"a"],[2,"b"]]`, 1, 2, "w"},
			[]string{"SEARCH attempts USING INTEGER PRIMARY KEY (rowid=?)"}, false},
		// The finishes of a batch: each looked up by id, the JSON read once.
		"finish all": {qAttemptFinishAll, []any{`[{"i":1,"t":"x","s":"succeeded","e":"","n":1},{"i":2,"t":"y","s":"failed","e":"boom","n":1}]`},
			[]string{"SCAN p VIRTUAL TABLE", "SEARCH attempts USING INTEGER PRIMARY KEY (rowid=?)"}, false},
		"task runs": {qTaskRunsStart, []any{store.TaskRunning, 1, `[1,2]`},
			[]string{"SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
				"SEARCH task_runs USING INDEX sqlite_autoindex_task_runs_1 (run_id=? AND task=? AND idx=?)"}, false},
	}
	check := func(t *testing.T) {
		for name, c := range cases {
			plan := queryPlan(t, s, c.query, c.args...)
			text := strings.Join(plan, "\n")
			for _, u := range c.uses {
				require.True(t, slices.ContainsFunc(plan, func(line string) bool { return strings.HasPrefix(line, u) }),
					"%s does not %s:\n%s", name, u, text)
			}
			for _, line := range plan {
				// Scanning the running attempts' partial index reads
				// no other attempt.
				scansAttempts := strings.HasPrefix(line, "SCAN attempts") && line != "SCAN attempts USING INDEX attempts_lease"
				require.False(t, scansAttempts || strings.HasPrefix(line, "SCAN a ") ||
					strings.HasPrefix(line, "SCAN task_runs"), "%s scans a table:\n%s", name, text)
				if !c.sort {
					require.NotContains(t, line, "TEMP B-TREE", "%s sorts:\n%s", name, text)
				}
			}
		}
	}
	t.Run("Empty", check)

	addAttempts(t, s, 2000, func(i int) *store.Attempt {
		a := &store.Attempt{Queue: "q" + strconv.Itoa(i%3), Type: []string{"shell", "http", "noop", "docker"}[i%4],
			Priority: i % 5}
		if i%7 == 0 {
			a.Status = store.AttemptSucceeded
		}
		return a
	})
	_, err := s.wc.ExecContext(t.Context(), "ANALYZE")
	require.NoError(t, err)
	t.Run("Analyzed", check)
}

// TestClaimPrepared checks that claims and AttemptNextDue, with and
// without limits, with one queue and several, run prepared statements
// only.
func TestClaimPrepared(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	addAttempts(t, s, 40, func(i int) *store.Attempt {
		return &store.Attempt{Queue: "q" + strconv.Itoa(i%2), Type: []string{"shell", "noop"}[i/2%2],
			Resource: []string{"", "gpu"}[i/4%2]}
	})
	ctx := t.Context()

	exercise := func() {
		t.Helper()
		before := s.unprepared.Load()
		for _, queues := range [][]string{{"q0"}, {"q0", "q1"}} {
			for _, types := range [][]string{nil, {"shell"}, {"shell", "noop"}} {
				require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.AttemptClaim(ctx, &store.AttemptClaimParams{Queues: queues, Types: types,
						WorkerID: "w", Limit: 2, Now: time.Now(), LeaseFor: time.Minute})
					return err
				}))
				require.NoError(t, s.View(ctx, func(tx store.Tx) error {
					_, err := tx.AttemptNextDue(ctx, queues, types)
					return err
				}))
			}
		}
		require.Zero(t, s.unprepared.Load()-before, "statements run unprepared")
	}
	exercise()

	// A full queue, an empty bucket and a limited resource: the budget's
	// reads, the blocked lists, and AttemptNextDue's looks at what is held.
	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		for _, l := range []*store.Limit{
			{Kind: store.LimitQueue, Name: "q1", MaxRunning: 1},
			{Kind: store.LimitType, Name: "noop", Rate: 0.001, Burst: 1},
			{Kind: store.LimitResource, Name: "gpu", MaxRunning: 2},
		} {
			if err := tx.LimitPut(ctx, l); err != nil {
				return err
			}
		}
		return nil
	}))
	exercise()
	exercise()
}

// TestClaimSeesNewLimits: a claim that found no limits skips reading them
// afterwards, until a transaction writes one; a write that rolled back
// leaves them as they were.
func TestClaimSeesNewLimits(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	addAttempts(t, s, 6, func(int) *store.Attempt { return &store.Attempt{Queue: "q", Type: "noop"} })
	claim := func(n int) []*store.Attempt {
		var got []*store.Attempt
		require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.AttemptClaim(ctx, &store.AttemptClaimParams{Queues: []string{"q"}, WorkerID: "w", Limit: n, Now: time.Now(), LeaseFor: time.Minute})
			return err
		}))
		return got
	}
	require.Len(t, claim(1), 1) // no limits: remembered
	require.True(t, s.noLimits.Load())

	boom := errors.New("boom")
	require.ErrorIs(t, s.Tx(ctx, func(tx store.Tx) error {
		require.NoError(t, tx.LimitPut(ctx, &store.Limit{Kind: store.LimitQueue, Name: "q", MaxRunning: 1}))
		return boom
	}), boom)
	require.Len(t, claim(1), 1, "the rolled back limit does not apply")
	require.True(t, s.noLimits.Load())

	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error {
		return tx.LimitPut(ctx, &store.Limit{Kind: store.LimitQueue, Name: "q", MaxRunning: 3})
	}))
	require.Len(t, claim(5), 1, "two running, a limit of three: one more")
	require.False(t, s.noLimits.Load())

	require.NoError(t, s.Tx(ctx, func(tx store.Tx) error { return tx.LimitDelete(ctx, store.LimitQueue, "q") }))
	require.Len(t, claim(5), 3, "the limit is gone")
}
