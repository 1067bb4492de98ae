package engine

import (
	"context"
	"sync"

	"github.com/legatohq/legato/internal/store"
)

// maxBatch bounds the completions committed in one transaction.
const maxBatch = 256

// batcher commits the completions reported while a commit is in flight
// together, in the next transaction: under load, many completions share
// one durable commit; alone, a completion commits at once.
type batcher struct {
	e *Engine

	mu      sync.Mutex
	pending []*completion
	busy    bool
}

type completion struct {
	r    *AttemptResult
	done chan error
}

// submit queues r and waits for its commit. The wait does not end with
// ctx: once queued, the completion is committed or refused, and the
// caller learns which.
func (b *batcher) submit(ctx context.Context, r *AttemptResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &completion{r: r, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if !b.busy {
		b.busy = true
		go b.flush(context.WithoutCancel(ctx))
	}
	b.mu.Unlock()
	return <-c.done
}

// flush commits batches until none is pending.
func (b *batcher) flush(ctx context.Context) {
	for {
		b.mu.Lock()
		batch := b.pending
		if len(batch) > maxBatch {
			batch = batch[:maxBatch]
		}
		b.pending = b.pending[len(batch):]
		if len(batch) == 0 {
			b.busy = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.commit(ctx, batch)
	}
}

// commit applies a batch in one transaction. Should that fail (one stale
// lease aborts the whole transaction), each completion is retried alone
// so that one refusal does not refuse the others.
func (b *batcher) commit(ctx context.Context, batch []*completion) {
	rs := make([]*AttemptResult, len(batch))
	for i, c := range batch {
		rs[i] = c.r
	}
	err := b.e.tx(ctx, func(tx store.Tx, fx *effects) error {
		return b.e.completeIn(ctx, tx, fx, rs...)
	})
	if err == nil || len(batch) == 1 {
		for _, c := range batch {
			c.done <- err
		}
		return
	}
	for _, c := range batch {
		c.done <- b.e.tx(ctx, func(tx store.Tx, fx *effects) error {
			return b.e.completeIn(ctx, tx, fx, c.r)
		})
	}
}
