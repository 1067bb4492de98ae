package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// An embedded store has one writer at a time, so a duty's work and its
// takeover never interleave: DutyCheck only reads.

var (
	qNodeHeartbeat = prep(`INSERT INTO nodes (id, address, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET address = excluded.address, version = excluded.version,
			heartbeat_at = excluded.heartbeat_at`)
	qNodeList   = prep(`SELECT id, address, version, started_at, heartbeat_at FROM nodes WHERE heartbeat_at >= ? ORDER BY id`)
	qNodeDelete = prep(`DELETE FROM nodes WHERE id = ?`)
	qNodePrune  = prep(`DELETE FROM nodes WHERE heartbeat_at < ?`)
	// One statement decides: insert when absent; take over when expired
	// or renew when held by the caller; else leave the row as it is.
	qDutyAcquire = prep(`INSERT INTO duties (name, holder, fence, expires_at) VALUES (?1, ?2, 1, ?4)
		ON CONFLICT (name) DO UPDATE SET
			fence = CASE WHEN duties.holder = ?2 THEN duties.fence ELSE duties.fence + 1 END,
			holder = ?2, expires_at = ?4
		WHERE duties.holder = ?2 OR duties.expires_at <= ?3`)
	qDutyGet     = prep(`SELECT name, holder, fence, expires_at FROM duties WHERE name = ?`)
	qDutyRelease = prep(`UPDATE duties SET expires_at = 0 WHERE name = ? AND holder = ?`)
)

func (t *tx) NodeHeartbeat(ctx context.Context, n *store.Node) error {
	if _, err := t.exec(ctx, qNodeHeartbeat, n.ID, n.Address, n.Version, toMicros(n.StartedAt), toMicros(n.HeartbeatAt)); err != nil {
		return fmt.Errorf("sqlite: node %s heartbeat: %w", n.ID, interpretError(err))
	}
	return nil
}

func (t *tx) NodeList(ctx context.Context, since time.Time) ([]*store.Node, error) {
	rows, err := t.query(ctx, qNodeList, toMicros(since))
	return collect(rows, err, func(sc scanner) (*store.Node, error) {
		var n store.Node
		var started, beat int64
		if err := sc.Scan(&n.ID, &n.Address, &n.Version, &started, &beat); err != nil {
			return nil, err
		}
		n.StartedAt, n.HeartbeatAt = fromMicros(started), fromMicros(beat)
		return &n, nil
	})
}

func (t *tx) NodeDelete(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, qNodeDelete, id); err != nil {
		return fmt.Errorf("sqlite: node %s delete: %w", id, interpretError(err))
	}
	return nil
}

func (t *tx) NodePrune(ctx context.Context, before time.Time) (int, error) {
	res, err := t.exec(ctx, qNodePrune, toMicros(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: node prune: %w", interpretError(err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) DutyAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (*store.Duty, error) {
	if _, err := t.exec(ctx, qDutyAcquire, name, holder, toMicros(now), toMicros(now.Add(ttl))); err != nil {
		return nil, fmt.Errorf("sqlite: duty %s acquire: %w", name, interpretError(err))
	}
	return t.DutyGet(ctx, name)
}

func (t *tx) DutyGet(ctx context.Context, name string) (*store.Duty, error) {
	var d store.Duty
	var expires int64
	if err := t.queryRow(ctx, qDutyGet, name).Scan(&d.Name, &d.Holder, &d.Fence, &expires); err != nil {
		return nil, fmt.Errorf("sqlite: duty %s: %w", name, interpretError(err))
	}
	d.ExpiresAt = fromMicros(expires)
	return &d, nil
}

func (t *tx) DutyRelease(ctx context.Context, name, holder string) error {
	if _, err := t.exec(ctx, qDutyRelease, name, holder); err != nil {
		return fmt.Errorf("sqlite: duty %s release: %w", name, interpretError(err))
	}
	return nil
}

func (t *tx) DutyCheck(ctx context.Context, name, holder string, fence int64, now time.Time) error {
	d, err := t.DutyGet(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sqlite: duty %s is not held: %w", name, store.ErrStaleLease)
	}
	if err != nil {
		return err
	}
	if d.Holder != holder || d.Fence != fence || !d.ExpiresAt.After(now) {
		return fmt.Errorf("sqlite: duty %s: held by %s with fence %d until %s: %w",
			name, d.Holder, d.Fence, d.ExpiresAt.Format(time.RFC3339Nano), store.ErrStaleLease)
	}
	return nil
}
