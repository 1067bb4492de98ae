package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// ParseLimit reads one limit as the server's flags write it, for kind:
//
//	NAME=N                  at most N attempts in flight (0: no limit)
//	NAME=N/INTERVAL[:BURST] a token bucket: N attempts per INTERVAL (s, m, h,
//	                        or a duration such as 10s), up to BURST at once
//	                        (default N); 0/s removes the rate
//
// A rate given for kind resource may name a queue instead as queue:NAME.
// The spec is a rate when it holds a '/'.
func ParseLimit(kind store.LimitKind, s string) (*store.Limit, error) {
	name, val, ok := strings.Cut(s, "=")
	if k, n, found := strings.Cut(name, ":"); found && kind == store.LimitResource {
		switch store.LimitKind(k) {
		case store.LimitQueue, store.LimitType, store.LimitResource:
			kind, name = store.LimitKind(k), n
		default:
			return nil, fmt.Errorf("limit %q: %q is not queue, type or resource", s, k)
		}
	}
	if !ok || name == "" || val == "" {
		return nil, fmt.Errorf("limit %q: want NAME=N or NAME=N/INTERVAL[:BURST]", s)
	}
	l := &store.Limit{Kind: kind, Name: name}
	count, per, isRate := strings.Cut(val, "/")
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("limit %q: %q is not a whole number of attempts", s, count)
	}
	if !isRate {
		l.MaxRunning = n
		return l, nil
	}
	interval, burst, hasBurst := strings.Cut(per, ":")
	if interval == "s" || interval == "m" || interval == "h" {
		interval = "1" + interval
	}
	d, err := time.ParseDuration(interval)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("limit %q: interval %q is not s, m, h or a duration such as 10s", s, interval)
	}
	l.Rate = float64(n) / d.Seconds()
	l.Burst = float64(max(n, 1))
	if hasBurst {
		b, err := strconv.Atoi(burst)
		if err != nil || b < 1 {
			return nil, fmt.Errorf("limit %q: burst %q is not a whole number of at least 1", s, burst)
		}
		l.Burst = float64(b)
	}
	return l, nil
}

// MergeLimits folds limits naming the same (Kind, Name) into one: an
// in-flight cap and a rate given apart make one limit.
func MergeLimits(limits []*store.Limit) []*store.Limit {
	var out []*store.Limit
	seen := map[[2]string]*store.Limit{}
	for _, l := range limits {
		k := [2]string{string(l.Kind), l.Name}
		m := seen[k]
		if m == nil {
			c := *l
			seen[k] = &c
			out = append(out, &c)
			continue
		}
		if l.Rate > 0 || l.Burst > 0 {
			m.Rate, m.Burst = l.Rate, l.Burst
		}
		if l.MaxRunning > 0 {
			m.MaxRunning = l.MaxRunning
		}
	}
	return out
}
