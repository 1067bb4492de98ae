package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// CloudEvent is an event to post: ID, Source and Type are required by
// CloudEvents (Emit fills an empty ID with a random one and an empty
// Source with "legato-client"). Namespace selects the workflows it
// reaches (default "default").
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time,omitzero"`
	DataContentType string    `json:"datacontenttype,omitempty"`
	Data            any       `json:"data,omitempty"`
	Namespace       string    `json:"namespace,omitempty"`
	// Seq and ReceivedAt are set on stored events.
	Seq        int64     `json:"seq,omitempty"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

// EmitResult is what posting an event did.
type EmitResult struct {
	Event CloudEvent `json:"event"`
	// Duplicate: an event with the same source and id was stored before;
	// this one changed nothing (Event is the stored one).
	Duplicate bool     `json:"duplicate"`
	Runs      []string `json:"runs"`
	Woke      []string `json:"woke"`
	Problems  []string `json:"problems"`
}

// Emit posts an event (POST /events, CloudEvents structured mode).
func (c *Client) Emit(ctx context.Context, ev CloudEvent) (*EmitResult, error) {
	ev.SpecVersion = "1.0"
	if ev.ID == "" {
		ev.ID = newEventID()
	}
	if ev.Source == "" {
		ev.Source = "legato-client"
	}
	var out EmitResult
	if _, err := c.do(ctx, http.MethodPost, "/events", nil, ev, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// newEventID returns 128 random bits in hex.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
