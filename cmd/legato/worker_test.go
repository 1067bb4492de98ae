package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
)

func TestWorkerFlags(t *testing.T) {
	t.Parallel()
	for msg, args := range map[string][]string{
		"legato: --concurrency must be 1 or more, not 0\n":                                             {"--concurrency", "0"},
		"legato: --lease must be 3s or more, not 1s\n":                                                 {"--lease", "1s"},
		"legato: --type \"sleep\" is not a built-in type this worker runs; known: http, noop, shell\n": {"--type", "sleep"},
	} {
		r := runCLI(append([]string{"--server", "127.0.0.1:1", "worker"}, args...)...)
		require.Equal(t, exitUsage, r.code, r.err)
		require.Equal(t, msg+"legato: run \"legato --help\" for usage\n", r.err)
	}
}

func TestWorkerBadToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := runCLI("--server", b.srv.URL, "--token", "wrong", "worker", "--log-level", "error")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.err, "legato: worker: claim attempts: unauthenticated: a bearer token is required")
}

// remoteShellYAML runs the built-in types a remote worker takes.
const remoteShellYAML = `name: remote-shell
tasks:
  - id: greet
    type: shell
    with: {run: "echo hello from $LEGATO_IDEMPOTENCY_KEY"}
  - id: done
    needs: [greet]
    type: noop
`

func TestWorkerRunsBuiltinTypes(t *testing.T) {
	t.Parallel()
	srv := apitest.Run(t, 0)
	ctx := t.Context()
	c := client.New(srv.URL, srv.Token)
	_, _, err := c.Apply(ctx, "remote-shell.yaml", []byte(remoteShellYAML))
	require.NoError(t, err)

	// The command as `legato worker` runs it, stopped by its context as
	// SIGINT stops it.
	wctx, stop := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		a := &app{stdout: &bytes.Buffer{}, stderr: &stderr}
		root := a.rootCmd()
		root.SetArgs([]string{"--server", srv.URL, "--token", srv.Token, "worker", "--id", "cli-test", "--concurrency", "2"})
		done <- root.ExecuteContext(wctx)
	}()

	run, err := c.StartRun(ctx, client.StartRunRequest{Workflow: "remote-shell"})
	require.NoError(t, err)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	final, err := c.Wait(wait, run.ID, nil)
	require.NoError(t, err)
	require.Equal(t, client.StatusSucceeded, final.Status, final.Error)
	greet := final.Tasks[0]
	require.Equal(t, "greet", greet.ID)
	require.Equal(t, "hello from "+run.ID+"/greet", greet.Output.(map[string]any)["stdout"])

	evs, _, err := c.Events(ctx, run.ID, 0)
	require.NoError(t, err)
	var actors []string
	for _, e := range evs {
		if e.Type == "attempt.done" {
			actors = append(actors, e.Actor)
		}
	}
	require.Equal(t, []string{"worker:cli-test", "worker:cli-test"}, actors)

	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		require.FailNow(t, "legato worker did not stop")
	}
	require.Contains(t, stderr.String(), "worker stopped")
}
