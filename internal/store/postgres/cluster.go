package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// A duty's work and its takeover must not interleave across servers:
// DutyCheck holds the duty row FOR SHARE until its transaction ends, and
// DutyAcquire's UPDATE waits for that lock.

const (
	qNodeHeartbeat = `INSERT INTO nodes (id, address, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET address = excluded.address, version = excluded.version,
			heartbeat_at = excluded.heartbeat_at`
	qNodeList   = `SELECT id, address, version, started_at, heartbeat_at FROM nodes WHERE heartbeat_at >= $1 ORDER BY id`
	qNodeDelete = `DELETE FROM nodes WHERE id = $1`
	qNodePrune  = `DELETE FROM nodes WHERE heartbeat_at < $1`
	// Insert when absent; take over when expired or renew when held by
	// the caller; else leave the row as it is.
	qDutyAcquire = `INSERT INTO duties AS d (name, holder, fence, expires_at) VALUES ($1, $2, 1, $4)
		ON CONFLICT (name) DO UPDATE SET
			fence = CASE WHEN d.holder = $2 THEN d.fence ELSE d.fence + 1 END,
			holder = $2, expires_at = $4
		WHERE d.holder = $2 OR d.expires_at <= $3`
	qDutyGet       = `SELECT name, holder, fence, expires_at FROM duties WHERE name = $1`
	qDutyGetShared = qDutyGet + ` FOR SHARE`
	qDutyRelease   = `UPDATE duties SET expires_at = '-infinity' WHERE name = $1 AND holder = $2`
)

func (t *tx) NodeHeartbeat(ctx context.Context, n *store.Node) error {
	if _, err := t.tx.Exec(ctx, qNodeHeartbeat, n.ID, n.Address, n.Version, tz(n.StartedAt), tz(n.HeartbeatAt)); err != nil {
		return fmt.Errorf("postgres: node %s heartbeat: %w", n.ID, interpretError(err))
	}
	return nil
}

func (t *tx) NodeList(ctx context.Context, since time.Time) ([]*store.Node, error) {
	nodes, err := queryAll(ctx, t, func(sc scanner) (*store.Node, error) {
		var n store.Node
		err := sc.Scan(&n.ID, &n.Address, &n.Version, tsCol{&n.StartedAt}, tsCol{&n.HeartbeatAt})
		return &n, err
	}, qNodeList, tz(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: node list: %w", err)
	}
	return nodes, nil
}

func (t *tx) NodeDelete(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, qNodeDelete, id); err != nil {
		return fmt.Errorf("postgres: node %s delete: %w", id, interpretError(err))
	}
	return nil
}

func (t *tx) NodePrune(ctx context.Context, before time.Time) (int, error) {
	tag, err := t.tx.Exec(ctx, qNodePrune, tz(before))
	if err != nil {
		return 0, fmt.Errorf("postgres: node prune: %w", interpretError(err))
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) DutyAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (*store.Duty, error) {
	if _, err := t.tx.Exec(ctx, qDutyAcquire, name, holder, tz(now), tz(now.Add(ttl))); err != nil {
		return nil, fmt.Errorf("postgres: duty %s acquire: %w", name, interpretError(err))
	}
	return t.duty(ctx, qDutyGet, name)
}

func (t *tx) DutyGet(ctx context.Context, name string) (*store.Duty, error) {
	return t.duty(ctx, qDutyGet, name)
}

func (t *tx) duty(ctx context.Context, q, name string) (*store.Duty, error) {
	var d store.Duty
	if err := t.tx.QueryRow(ctx, q, name).Scan(&d.Name, &d.Holder, &d.Fence, tsCol{&d.ExpiresAt}); err != nil {
		return nil, fmt.Errorf("postgres: duty %s: %w", name, interpretError(err))
	}
	return &d, nil
}

func (t *tx) DutyRelease(ctx context.Context, name, holder string) error {
	if _, err := t.tx.Exec(ctx, qDutyRelease, name, holder); err != nil {
		return fmt.Errorf("postgres: duty %s release: %w", name, interpretError(err))
	}
	return nil
}

func (t *tx) DutyCheck(ctx context.Context, name, holder string, fence int64, now time.Time) error {
	q := qDutyGet
	if t.write {
		q = qDutyGetShared
	}
	d, err := t.duty(ctx, q, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("postgres: duty %s is not held: %w", name, store.ErrStaleLease)
	}
	if err != nil {
		return err
	}
	if d.Holder != holder || d.Fence != fence || !d.ExpiresAt.After(now) {
		return fmt.Errorf("postgres: duty %s: held by %s with fence %d until %s: %w",
			name, d.Holder, d.Fence, d.ExpiresAt.Format(time.RFC3339Nano), store.ErrStaleLease)
	}
	return nil
}
