package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// The worker protocol: what any worker, in-process or remote, asks of the
// engine. Claims and heartbeats are store operations; completions and
// interruptions are transitions (see runs.go).

// ClaimParams says what a worker claims.
type ClaimParams struct {
	WorkerID string
	// Queues the worker serves (default: "default").
	Queues []string
	// Types, when not empty, limits the claim to these task types.
	Types []string
	// Limit is the most attempts returned (at least 1).
	Limit int
	// LeaseFor is the lease length (default 30s); heartbeats renew it.
	LeaseFor time.Duration
}

// DefaultLease is the lease of a claim that does not say.
const DefaultLease = 30 * time.Second

// ClaimAttempts leases up to p.Limit due attempts in one transaction. It
// does not wait: WorkSignal tells when to claim again.
func (e *Engine) ClaimAttempts(ctx context.Context, p *ClaimParams) ([]*store.Attempt, error) {
	if p.WorkerID == "" {
		return nil, errors.New("claim: a worker id is required")
	}
	var out []*store.Attempt
	err := e.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		out, err = e.claimIn(ctx, tx, p)
		return err
	})
	return out, err
}

// CompleteAndClaim is CompleteAttempt that also leases, in the same
// transaction, up to claim.Limit attempts to the worker that reports: a
// worker that finished an attempt takes its next one without a
// transaction of its own, and a step of a chain costs one commit. The
// claim is the one ClaimAttempts makes (the same order, the same limits);
// it is made only when the completion commits. claim nil or with a zero
// Limit claims nothing.
func (e *Engine) CompleteAndClaim(ctx context.Context, r *AttemptResult, claim *ClaimParams) ([]*store.Attempt, error) {
	if claim != nil && claim.Limit > 0 && claim.WorkerID == "" {
		return nil, errors.New("claim: a worker id is required")
	}
	return e.batch.submit(ctx, r, claim)
}

// claimIn leases up to p.Limit due attempts inside tx.
func (e *Engine) claimIn(ctx context.Context, tx store.Tx, p *ClaimParams) ([]*store.Attempt, error) {
	queues := p.Queues
	if len(queues) == 0 {
		queues = []string{defaultQueue}
	}
	lease := p.LeaseFor
	if lease <= 0 {
		lease = DefaultLease
	}
	return tx.AttemptClaim(ctx, &store.AttemptClaimParams{
		Queues: queues, Types: p.Types, WorkerID: p.WorkerID, Limit: max(p.Limit, 1), Now: e.now().UTC(), LeaseFor: lease,
	})
}

// NextDue returns when the earliest queued attempt of the queues (and
// types, unless empty) becomes due (zero when none is queued), so a worker
// knows when to claim again.
func (e *Engine) NextDue(ctx context.Context, queues, types []string) (time.Time, error) {
	if len(queues) == 0 {
		queues = []string{defaultQueue}
	}
	var at time.Time
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		at, err = tx.AttemptNextDue(ctx, queues, types)
		return err
	})
	return at, err
}

// Lease names an attempt a worker holds.
type Lease struct {
	ID    int64
	Token string
}

// LeaseState is what a heartbeat learns of one lease.
type LeaseState struct {
	ID int64
	// Cancel: the run asked the attempt to stop; the worker stops it and
	// acknowledges with a canceled completion.
	Cancel bool
	// Lost: the token no longer holds the attempt (it expired and went to
	// another worker, or was released); the worker drops it silently.
	Lost bool
}

// Heartbeat renews the leases in one transaction until now + leaseFor and
// says which attempts must stop.
func (e *Engine) Heartbeat(ctx context.Context, leases []Lease, leaseFor time.Duration) ([]LeaseState, error) {
	if leaseFor <= 0 {
		leaseFor = DefaultLease
	}
	until := e.now().UTC().Add(leaseFor)
	out := make([]LeaseState, len(leases))
	// In id order, as a batch's completions lock them: a heartbeat and a
	// completion of the same attempts never wait on each other in a
	// cycle (PostgreSQL; SQLite writes one transaction at a time).
	order := make([]int, len(leases))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(leases[i].ID, leases[j].ID) })
	err := e.store.Tx(ctx, func(tx store.Tx) error {
		for _, i := range order {
			l := leases[i]
			cancel, err := tx.AttemptHeartbeat(ctx, l.ID, l.Token, until)
			switch {
			case errors.Is(err, store.ErrStaleLease):
				out[i] = LeaseState{ID: l.ID, Lost: true}
			case err != nil:
				return err
			default:
				out[i] = LeaseState{ID: l.ID, Cancel: cancel}
			}
		}
		return nil
	})
	return out, err
}

// AppendLogs stores task log lines in one transaction. Lines of attempts
// the worker no longer holds are kept too: they tell what happened.
func (e *Engine) AppendLogs(ctx context.Context, lines []*store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	if err := e.store.Tx(ctx, func(tx store.Tx) error { return tx.LogAppend(ctx, lines) }); err != nil {
		return fmt.Errorf("append %d log lines: %w", len(lines), err)
	}
	return nil
}

// WorkSignal returns a channel closed at the next commit that queues an
// attempt: a claimer with nothing to do waits on it (and on a timer for
// attempts whose NotBefore comes later) instead of polling.
func (e *Engine) WorkSignal() <-chan struct{} {
	e.notifyMu.Lock()
	defer e.notifyMu.Unlock()
	if e.work == nil {
		e.work = make(chan struct{})
	}
	return e.work
}
