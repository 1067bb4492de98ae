package engine

import (
	"context"

	"github.com/legatohq/legato/internal/store"
)

// PutLimits stores the limits of queues, task types and resources that
// claims obey, in one transaction: a limit with neither MaxRunning nor
// Rate removes the limit of its (Kind, Name). Every server sharing the
// store sees them at its next claim.
func (e *Engine) PutLimits(ctx context.Context, limits []*store.Limit) error {
	return e.store.Tx(ctx, func(tx store.Tx) error {
		for _, l := range limits {
			var err error
			if l.MaxRunning <= 0 && l.Rate <= 0 {
				err = tx.LimitDelete(ctx, l.Kind, l.Name)
			} else {
				err = tx.LimitPut(ctx, l)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Limits returns the limits claims obey, by kind and name.
func (e *Engine) Limits(ctx context.Context) ([]*store.Limit, error) {
	var out []*store.Limit
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.LimitList(ctx)
		return err
	})
	return out, err
}
