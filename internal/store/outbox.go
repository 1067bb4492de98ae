package store

import (
	"encoding/json"
	"time"
)

// NotificationStatus is the delivery status of an outbox notification.
type NotificationStatus string

// Notification statuses.
const (
	NotificationPending   NotificationStatus = "pending"   // to be sent (again) at NextAt
	NotificationDelivered NotificationStatus = "delivered" // the channel accepted it
	NotificationFailed    NotificationStatus = "failed"    // delivery gave up after its tries
)

// Notification is one message to one channel, written to the outbox in the
// same transaction as the transition that caused it (a run failed or
// succeeded, an SLA breach) and delivered later by the scheduler duty's
// holder.
type Notification struct {
	ID    int64
	RunID string
	// Task and Index name the task run an SLA breach is about; Task is
	// empty for the run itself.
	Task  string
	Index int
	// Event is "failure", "success" or "sla_breach".
	Event string
	// Channel is the name of a channel of the server's notification
	// configuration.
	Channel string
	// Payload is the message as JSON (the channel formats it).
	Payload  json.RawMessage
	Status   NotificationStatus
	Attempts int
	// NextAt is when a pending notification is due.
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	// FinishedAt is when it was delivered or given up.
	FinishedAt time.Time
}
