package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNoop(t *testing.T) {
	t.Parallel()
	noop, _ := Lookup("noop")
	run := func(ctx context.Context, attempt int, with map[string]any) (any, error) {
		return noop.Executor.Execute(ctx, &Request{Attempt: attempt, Index: -1, Params: with})
	}

	t.Run("echoes", func(t *testing.T) {
		t.Parallel()
		out, err := run(t.Context(), 1, map[string]any{"greeting": "hi", "n": 1.0})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"greeting": "hi", "n": 1.0}, out)
		out, err = run(t.Context(), 1, nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{}, out)
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		_, err := run(t.Context(), 3, map[string]any{"fail": "boom"})
		require.EqualError(t, err, "boom")
		require.False(t, IsNonRetryable(err))
	})
	t.Run("fail_attempts", func(t *testing.T) {
		t.Parallel()
		for attempt, fails := range map[int]bool{1: true, 2: true, 3: false} {
			_, err := run(t.Context(), attempt, map[string]any{"fail_attempts": int64(2), "fail": "flaky"})
			if fails {
				require.EqualError(t, err, "flaky")
			} else {
				require.NoError(t, err)
			}
		}
		_, err := run(t.Context(), 1, map[string]any{"fail_attempts": 1.0})
		require.ErrorContains(t, err, "failing attempt 1")
	})
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := run(t.Context(), 1, map[string]any{"delay": "50ms"})
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err = run(ctx, 1, map[string]any{"delay": "1h"})
		require.ErrorIs(t, err, ErrCanceled)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("bad params", func(t *testing.T) {
		t.Parallel()
		_, err := run(t.Context(), 1, map[string]any{"delay": 5.0})
		require.True(t, IsNonRetryable(err))
	})
}
