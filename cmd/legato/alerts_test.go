package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/sdk/client"
)

func TestPrintRunShowsSLAAndNotifications(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printRun(&b, &client.Run{
		ID: "r1", Namespace: "default", Workflow: "close", Version: 1, Status: "running",
		CreatedAt: time.Now(), SLABreachedAt: time.Now().Add(-time.Minute),
		Notifications: []client.Notification{
			{Event: "sla_breach", Channel: "ops", Status: "delivered", Attempts: 1},
			{Event: "sla_breach", Task: "load", Channel: "mail", Status: "pending", Attempts: 2, LastError: "smtp: 451 try later"},
		},
	})
	out := b.String()
	require.Contains(t, out, "SLA:")
	require.Regexp(t, `SLA: +breached at \S`, out)
	require.Contains(t, out, "sla_breach → ops: delivered\n")
	require.Contains(t, out, "sla_breach (task load) → mail: pending after 2 tries: smtp: 451 try later\n")
}
