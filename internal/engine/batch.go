package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// maxBatch bounds the operations committed in one transaction.
const maxBatch = 256

// batcher is the engine's group commit: the run starts and attempt
// completions submitted while a commit is in flight are committed
// together, in the next transaction. Under load many share one durable
// commit; alone, an operation commits at once.
type batcher struct {
	e *Engine

	mu      sync.Mutex
	pending []*op
	// flushing counts the goroutines committing batches, at most writers
	// (1 unless the store takes concurrent writers: store.Writers).
	flushing int
	writers  int
}

// op is one operation of a batch: an attempt's result (r) or a run to
// start (start).
type op struct {
	r *AttemptResult
	// claim, when not nil, asks for the worker's next attempts in the
	// completion's transaction (see CompleteAndClaim).
	claim *ClaimParams
	start *StartRunParams
	done  chan completed
	// queued is when the operation was submitted.
	queued time.Time
}

type completed struct {
	next    []*store.Attempt
	started *Started
	err     error
}

// submit queues r and waits for its commit. The wait does not end with
// ctx: once queued, the completion is committed or refused, and the
// caller learns which.
func (b *batcher) submit(ctx context.Context, r *AttemptResult, claim *ClaimParams) ([]*store.Attempt, error) {
	res := b.do(ctx, &op{r: r, claim: claim})
	return res.next, res.err
}

// startRun queues a run start and waits for its commit.
func (b *batcher) startRun(ctx context.Context, p *StartRunParams) (*Started, error) {
	res := b.do(ctx, &op{start: p})
	return res.started, res.err
}

func (b *batcher) do(ctx context.Context, c *op) completed {
	if err := ctx.Err(); err != nil {
		return completed{err: err}
	}
	c.done = make(chan completed, 1)
	c.queued = time.Now()
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if b.flushing < max(b.writers, 1) {
		b.flushing++
		go b.flush(context.WithoutCancel(ctx))
	}
	b.mu.Unlock()
	return <-c.done
}

// flush commits batches until none is pending.
func (b *batcher) flush(ctx context.Context) {
	for {
		b.mu.Lock()
		batch := b.take(time.Now())
		if len(batch) == 0 {
			b.flushing--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.commit(ctx, batch)
	}
}

// startDelay is how long a run start may be held back while completions
// keep the writer busy (see take).
const startDelay = 20 * time.Millisecond

// take removes from pending the next batch: the completions, and the
// starts only when no completion is pending or once they have waited
// startDelay. Work already admitted finishes before new work starts:
// under load fewer runs are in flight and each finishes sooner — a run
// advances a step per commit instead of every few (runs10k in
// bench/README.md: p99 from 54 to 35 ms on SQLite) — while a start waits
// at most startDelay longer, and commits are smaller (about 15 % fewer
// runs per second there).
func (b *batcher) take(now time.Time) []*op {
	var batch, rest []*op
	completions := 0
	for _, c := range b.pending {
		if c.r != nil {
			completions++
		}
	}
	for _, c := range b.pending {
		if len(batch) < maxBatch && (c.r != nil || completions == 0 || now.Sub(c.queued) >= startDelay) {
			batch = append(batch, c)
		} else {
			rest = append(rest, c)
		}
	}
	b.pending = rest
	return batch
}

// commit applies a batch in one transaction. Should that fail (one stale
// lease, or one start with bad inputs, aborts the whole transaction),
// each operation is retried alone so that one refusal does not refuse
// the others.
func (b *batcher) commit(ctx context.Context, batch []*op) {
	out, err := b.apply(ctx, batch)
	if err == nil || len(batch) == 1 {
		for i, c := range batch {
			out[i].err = err
			c.done <- out[i]
		}
		return
	}
	for _, c := range batch {
		out, err := b.apply(ctx, []*op{c})
		out[0].err = err
		c.done <- out[0]
	}
}

// apply commits the operations of batch, and the claims the completions
// carry, in one transaction: the completions first (completeIn locks
// their runs in id order), then the starts, then the claims.
func (b *batcher) apply(ctx context.Context, batch []*op) ([]completed, error) {
	var rs []*AttemptResult
	for _, c := range batch {
		if c.r != nil {
			rs = append(rs, c.r)
		}
	}
	var out []completed
	err := b.e.tx(ctx, func(tx store.Tx, fx *effects) error {
		out = make([]completed, len(batch))
		if err := b.e.completeIn(ctx, tx, fx, rs...); err != nil {
			return err
		}
		for i, c := range batch {
			if c.start == nil {
				continue
			}
			run, created, err := b.e.startIn(ctx, tx, fx, c.start)
			if err != nil {
				return err
			}
			out[i].started = &Started{Run: run, Created: created}
			if st := fx.states[run.ID]; created && st != nil {
				out[i].started.Tasks = st.taskRuns()
			}
		}
		return b.e.handOff(ctx, tx, fx, batch, out)
	})
	if err != nil {
		return make([]completed, len(batch)), err
	}
	return out, nil
}

// handOff claims, after the completions of a transaction, the attempts
// their workers asked for, so that a worker that finished an attempt gets
// its next one in the same commit instead of a transaction of its own.
// The claim is the one ClaimAttempts makes, in the same order and under
// the same limits: an attempt queued earlier goes first, whichever run
// the completion belonged to. Completions of one worker with the same
// claim share one claim; its attempts are dealt out in claim order.
func (e *Engine) handOff(ctx context.Context, tx store.Tx, fx *effects, batch []*op, out []completed) error {
	type group struct {
		p       ClaimParams
		members []int
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, c := range batch {
		if c.claim == nil || c.claim.Limit <= 0 {
			continue
		}
		k := claimKey(c.claim)
		g := byKey[k]
		if g == nil {
			g = &group{p: *c.claim}
			g.p.Limit = 0
			byKey[k] = g
			groups = append(groups, g)
		}
		g.p.Limit += c.claim.Limit
		g.members = append(g.members, i)
	}
	for _, g := range groups {
		claimed, err := e.claimIn(ctx, tx, &g.p)
		if err != nil {
			return err
		}
		fx.handed(claimed)
		for _, i := range g.members {
			n := min(batch[i].claim.Limit, len(claimed))
			out[i].next, claimed = claimed[:n:n], claimed[n:]
		}
	}
	return nil
}

// claimKey identifies claims that can be made as one.
func claimKey(p *ClaimParams) string {
	q, t := slices.Clone(p.Queues), slices.Clone(p.Types)
	slices.Sort(q)
	slices.Sort(t)
	return p.WorkerID + "\x00" + strings.Join(q, "\x01") + "\x00" + strings.Join(t, "\x01") + "\x00" + p.LeaseFor.String()
}
