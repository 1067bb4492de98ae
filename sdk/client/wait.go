package client

import (
	"context"
	"encoding/json"
	"time"
)

// Poll intervals of Wait: the first poll follows the first fetch after
// waitMin; each poll that sees no change doubles the interval up to
// waitMax; a change brings it back to waitMin.
const (
	waitMin = 100 * time.Millisecond
	waitMax = time.Second
)

// Wait polls a run until it reaches a final status and returns it. It calls
// onChange (when not nil) with the run as first fetched and again each time
// anything in it changed (its status, a task run, an output). Wait returns
// early with the error of a failed poll or ctx.Err(); the run returned
// with an error is the last one seen (nil if none was).
func (c *Client) Wait(ctx context.Context, id string, onChange func(*Run)) (*Run, error) {
	var (
		last     *Run
		lastJSON []byte
		delay    = waitMin
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-timer.C:
		}
		r, err := c.Run(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		b, _ := json.Marshal(r)
		if last == nil || string(b) != string(lastJSON) {
			last, lastJSON = r, b
			delay = waitMin
			if onChange != nil {
				onChange(r)
			}
		} else {
			delay = min(2*delay, waitMax)
		}
		if r.Final() {
			return r, nil
		}
		timer.Reset(delay)
	}
}
