package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// The scheduler duty: of all the nodes sharing a store, the one holding it
// fires timers and expires leases. A holder renews it every dutyRenew; a
// node that dies stops renewing and another takes it over once dutyTTL has
// passed, with a higher fence, so the dead holder's late transactions are
// refused (DutyCheck) and no timer fires twice.
const (
	DutyScheduler = "scheduler"
	dutyTTL       = 6 * time.Second
	dutyRenew     = 1500 * time.Millisecond
	// nodeForget is how long a silent node stays listed before the
	// duty holder removes it.
	nodeForget = 24 * time.Hour
)

// errNotLeader: this node does not hold the scheduler duty (now).
var errNotLeader = errors.New("this node does not hold the scheduler duty")

// NodeInfo describes this node to the others.
type NodeInfo struct {
	// ID names the node; it must differ between the nodes sharing a store
	// and stay the same across restarts of one node.
	ID      string
	Address string
	Version string
}

// dutyState is what this node knows of its duty.
type dutyState struct {
	fence   int64
	held    bool
	expires time.Time
}

// fence returns the duty's fence and whether this node holds it now.
func (e *Engine) fence() (int64, bool) {
	e.dutyMu.Lock()
	defer e.dutyMu.Unlock()
	if !e.duty.held || !e.now().Before(e.duty.expires) {
		return 0, false
	}
	return e.duty.fence, true
}

// Leader reports whether this node holds the scheduler duty now.
func (e *Engine) Leader() bool {
	_, ok := e.fence()
	return ok
}

// beat records this node's heartbeat and takes or renews the scheduler
// duty, in one transaction.
func (e *Engine) beat(ctx context.Context) error {
	now := e.now().UTC()
	var d *store.Duty
	err := e.store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.NodeHeartbeat(ctx, &store.Node{
			ID: e.node.ID, Address: e.node.Address, Version: e.node.Version, StartedAt: e.started, HeartbeatAt: now,
		}); err != nil {
			return err
		}
		var err error
		if d, err = tx.DutyAcquire(ctx, DutyScheduler, e.node.ID, now, dutyTTL); err != nil {
			return err
		}
		if d.Holder == e.node.ID {
			_, err = tx.NodePrune(ctx, now.Add(-nodeForget))
		}
		return err
	})
	e.dutyMu.Lock()
	defer e.dutyMu.Unlock()
	if err != nil {
		return err // keep what we had: it lapses by its own expiry
	}
	was := e.duty.held
	e.duty = dutyState{fence: d.Fence, held: d.Holder == e.node.ID, expires: d.ExpiresAt}
	switch {
	case e.duty.held && !was:
		e.log.Info("this node now holds the scheduler duty", "node", e.node.ID, "fence", d.Fence)
	case !e.duty.held && was:
		e.log.Warn("this node lost the scheduler duty", "node", e.node.ID, "holder", d.Holder)
	}
	return nil
}

// leave gives the duty up and removes the node, on a graceful stop.
func (e *Engine) leave(ctx context.Context) {
	err := e.store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.DutyRelease(ctx, DutyScheduler, e.node.ID); err != nil {
			return err
		}
		return tx.NodeDelete(ctx, e.node.ID)
	})
	if err != nil {
		e.log.Warn("leave the cluster", "err", err)
	}
	e.dutyMu.Lock()
	e.duty = dutyState{}
	e.dutyMu.Unlock()
}

// dutyTx runs fn in a write transaction fenced by the scheduler duty.
func (e *Engine) dutyTx(ctx context.Context, fn func(tx store.Tx, fx *effects) error) error {
	fence, ok := e.fence()
	if !ok {
		return errNotLeader
	}
	return e.tx(ctx, func(tx store.Tx, fx *effects) error {
		if err := tx.DutyCheck(ctx, DutyScheduler, e.node.ID, fence, e.now().UTC()); err != nil {
			return fmt.Errorf("%w: %w", errNotLeader, err)
		}
		return fn(tx, fx)
	})
}

// Node is a server node as the cluster sees it.
type Node struct {
	store.Node
	// Leader: the node holds the scheduler duty.
	Leader bool
}

// Nodes lists the nodes that reported in the last three duty periods,
// marking the duty holder.
func (e *Engine) Nodes(ctx context.Context) ([]Node, error) {
	now := e.now().UTC()
	var nodes []*store.Node
	var duty *store.Duty
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		if nodes, err = tx.NodeList(ctx, now.Add(-3*dutyRenew)); err != nil {
			return err
		}
		duty, err = tx.DutyGet(ctx, DutyScheduler)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		out[i] = Node{Node: *n, Leader: duty != nil && duty.Holder == n.ID && duty.ExpiresAt.After(now)}
	}
	return out, nil
}
