package engine

import (
	"context"
	"sync"

	"github.com/legatohq/legato/internal/store"
)

// LocalWorker is an in-process worker that takes attempts straight from
// the transaction that queues them: a start, an event, a timer or a
// completion that queues attempts nobody took in it hands them to the
// local worker's free slots in the same commit, instead of waking it for
// a claim of its own (one commit less between an event and its first
// task).
type LocalWorker interface {
	// Reserve takes up to n of the worker's free slots and returns the
	// claim to make for them; zero slots when none is free (or the worker
	// is not running).
	Reserve(n int) (p *ClaimParams, slots int)
	// Deliver hands over the attempts claimed for a reservation (fewer
	// than reserved, or none when the transaction failed) and frees the
	// rest of its slots.
	Deliver(as []*store.Attempt, reserved int)
}

// SetLocalWorker registers the in-process worker that takes attempts in
// the transactions that queue them (nil: none).
func (e *Engine) SetLocalWorker(w LocalWorker) {
	e.localMu.Lock()
	e.local = w
	e.localMu.Unlock()
}

// UnsetLocalWorker removes w if it is the registered local worker.
func (e *Engine) UnsetLocalWorker(w LocalWorker) {
	e.localMu.Lock()
	if e.local == w {
		e.local = nil
	}
	e.localMu.Unlock()
}

// localHandOff claims, at the end of a transaction, the attempts it
// queued that no worker took, for the local worker's free slots.
func (e *Engine) localHandOff(ctx context.Context, tx store.Tx, fx *effects) error {
	e.localMu.Lock()
	w := e.local
	e.localMu.Unlock()
	n := fx.unhanded()
	if w == nil || n == 0 {
		return nil
	}
	p, slots := w.Reserve(n)
	if slots == 0 {
		return nil
	}
	fx.localWorker, fx.reserved = w, slots
	c := *p
	c.Limit = slots
	claimed, err := e.claimIn(ctx, tx, &c)
	if err != nil {
		return err
	}
	fx.handed(claimed)
	fx.local = claimed
	return nil
}

// deliverLocal hands the local worker what the transaction claimed for
// it, or gives its reservation back when the transaction did not commit.
func (fx *effects) deliverLocal(committed bool) {
	if fx.localWorker == nil {
		return
	}
	as := fx.local
	if !committed {
		as = nil
	}
	fx.localWorker.Deliver(as, fx.reserved)
	fx.localWorker, fx.local, fx.reserved = nil, nil, 0
}

// localState is the engine's part of the local hand-off.
type localState struct {
	localMu sync.Mutex
	local   LocalWorker
}
