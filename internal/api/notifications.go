package api

import (
	"encoding/json"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// Notification is one message of a run to one channel, and how its
// delivery went.
type Notification struct {
	ID         int64     `json:"id"`
	Event      string    `json:"event" enum:"failure,success,sla_breach"`
	Task       string    `json:"task,omitempty" doc:"The task whose SLA was breached"`
	Channel    string    `json:"channel"`
	Status     string    `json:"status" enum:"pending,delivered,failed" doc:"failed: delivery gave up"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	NextAt     time.Time `json:"next_at,omitzero" doc:"When a pending notification is tried next"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Message    string    `json:"message"`
}

func toNotifications(ns []*store.Notification) []Notification {
	out := make([]Notification, 0, len(ns))
	for _, n := range ns {
		v := Notification{
			ID: n.ID, Event: n.Event, Task: n.Task, Channel: n.Channel, Status: string(n.Status),
			Attempts: n.Attempts, LastError: n.LastError, CreatedAt: utc(n.CreatedAt), FinishedAt: utc(n.FinishedAt),
			Message: messageOf(n.Payload),
		}
		if n.Status == store.NotificationPending {
			v.NextAt = utc(n.NextAt)
		}
		out = append(out, v)
	}
	return out
}

// messageOf reads the sentence of a notification's payload.
func messageOf(payload []byte) string {
	var p struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(payload, &p) // the engine wrote it: it is JSON
	return p.Message
}
