package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
)

// TestConnector runs the connector against a real server (with in-process
// workers for the built-in noop step) and a flaky fake CRM: every first
// answer is lost, so every task takes two attempts, and the CRM must still
// hold one record per idempotency key.
func TestConnector(t *testing.T) {
	t.Parallel()
	srv := apitest.Run(t, 2)
	ctx := t.Context()
	c := client.New(srv.URL, srv.Token)
	src, err := os.ReadFile("crm-onboarding.yaml")
	require.NoError(t, err)
	_, _, err = c.Apply(ctx, "crm-onboarding.yaml", src)
	require.NoError(t, err)

	crm := newFakeCRM(true)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(wctx, config{server: srv.URL, token: srv.Token, crmAddr: "127.0.0.1:0", id: "crm-test", concurrency: 4}, crm, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("the connector did not stop")
		}
	})

	r := startAndWait(t, c, nil)
	require.Equal(t, client.StatusSucceeded, r.Status, r.Error)
	outputs := r.Outputs.(map[string]any)
	require.Equal(t, "C-1", outputs["contact_id"])
	require.ElementsMatch(t, []any{"N-1", "N-2"}, outputs["note_ids"])
	require.Equal(t, "Ada Lovelace is in the CRM as C-1", outputs["message"])
	for _, tr := range r.Tasks {
		if tr.ID == "contact" || tr.Kind == "item" {
			require.Equal(t, 2, tr.Attempts, "%s: the first answer was lost, so a second attempt ran", tr.Name())
		}
	}

	crm.mu.Lock()
	require.Len(t, crm.contacts, 1, "one contact, although it was asked twice")
	require.Len(t, crm.notes, 2)
	require.Equal(t, map[string]int{r.ID + "/contact": 2, r.ID + "/notes/0": 2, r.ID + "/notes/1": 2}, crm.requests,
		"each key was sent by both attempts of its task run")
	require.Len(t, crm.byKey, 3, "one record per idempotency key")
	crm.mu.Unlock()

	// A bad email is refused with a 4xx: final, no retry.
	r = startAndWait(t, c, map[string]any{"email": "not-an-email"})
	require.Equal(t, client.StatusFailed, r.Status)
	require.Equal(t, "contact", r.Tasks[0].ID)
	require.Equal(t, 1, r.Tasks[0].Attempts)
	require.Contains(t, r.Tasks[0].Error, `CRM answered 422: "not-an-email" is not an email address`)

	// The handlers' log lines are the run's logs.
	lines, _, err := c.Logs(ctx, r.ID, client.LogsQuery{Task: "contact"})
	require.NoError(t, err)
	require.NotEmpty(t, lines)
	require.Equal(t, "creating contact not-an-email (attempt 1)", lines[0].Line)
}

func startAndWait(t *testing.T, c *client.Client, inputs map[string]any) *client.Run {
	t.Helper()
	r, err := c.StartRun(t.Context(), client.StartRunRequest{Workflow: "crm-onboarding", Inputs: inputs})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	final, err := c.Wait(ctx, r.ID, nil)
	require.NoError(t, err)
	return final
}
