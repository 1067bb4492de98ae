package worker

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry delays of calls that failed for a reason that may pass: from
// retryMin, doubling up to retryMax, each drawn between half and all of it.
const (
	retryMin = 200 * time.Millisecond
	retryMax = 10 * time.Second
)

// backoff counts consecutive failures.
type backoff struct{ failures int }

// next returns the delay before the next try.
func (b *backoff) next() time.Duration {
	d := min(retryMin<<min(b.failures, 16), retryMax)
	b.failures++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.failures = 0 }

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
