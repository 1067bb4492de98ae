package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// take puts completions before starts: a start goes in a batch when no
// completion is pending or once it waited startDelay; the rest stays
// pending, in order, and a batch holds at most maxBatch operations.
func TestBatchTakeCompletionsFirst(t *testing.T) {
	t.Parallel()
	now := time.Now()
	start := func(waited time.Duration) *op { return &op{start: &StartRunParams{}, queued: now.Add(-waited)} }
	done := func() *op { return &op{r: &AttemptResult{}, queued: now} }

	fresh, old, fresh2 := start(time.Millisecond), start(startDelay), start(0)
	c1, c2 := done(), done()
	b := &batcher{pending: []*op{fresh, c1, old, fresh2, c2}}
	require.Equal(t, []*op{c1, old, c2}, b.take(now))
	require.Equal(t, []*op{fresh, fresh2}, b.pending)
	// No completion pending: the starts go, whatever their age.
	require.Equal(t, []*op{fresh, fresh2}, b.take(now))
	require.Empty(t, b.pending)
	require.Empty(t, b.take(now))

	many := make([]*op, maxBatch+3)
	for i := range many {
		many[i] = done()
	}
	b.pending = many
	require.Equal(t, many[:maxBatch], b.take(now))
	require.Equal(t, many[maxBatch:], b.pending)
}
