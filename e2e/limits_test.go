package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const limitedWorkflow = `name: limited
tasks:
  - id: slow
    type: shell
    for_each: "${{ [1, 2, 3, 4, 5, 6, 7, 8] }}"
    with: {run: "sleep 0.2"}
  - id: crm
    type: noop
    resource: crm
    for_each: "${{ [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] }}"
`

// TestServerLimitFlags starts the real binary with a queue limit and a
// resource rate and checks that a run's items obey them.
func TestServerLimitFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "limited.yaml"), []byte(limitedWorkflow), 0o644))
	s := newServer(t, dir)
	s.args = []string{"--queue-limit", "default=2", "--rate-limit", "crm=10/s:2"}
	s.start()
	t.Cleanup(s.stop)

	res := s.cli("run", "limited", "--wait", "-o", "json")
	require.Equal(t, 0, res.code, "%s", res)
	r := decodeRun(t, res.stdout)
	slow := requireItems(t, r, "slow", 8)
	requireMaxOverlap(t, slow, 2)
	crm := requireItems(t, r, "crm", 12)
	first, last := crm[0].StartedAt, crm[0].StartedAt
	for _, tr := range crm {
		first, last = minTime(first, tr.StartedAt), maxTime(last, tr.StartedAt)
	}
	// 12 starts at 10/s with a burst of 2: the last at least a second
	// after the first.
	require.GreaterOrEqual(t, last.Sub(first), 900*time.Millisecond, "tasks: %s", taskSummary(r))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
