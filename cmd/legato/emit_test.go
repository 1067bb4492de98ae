package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
)

const onSignupYAML = `
name: on-signup
inputs: {email: {type: string, required: true}}
triggers:
  - event: user.signed_up
    inputs: {email: "${{ event.data.email }}"}
tasks: [{id: a, type: noop}]
`

func TestEmit(t *testing.T) {
	t.Parallel()
	srv := apitest.Run(t, 0)
	_, _, err := client.New(srv.URL, srv.Token).Apply(t.Context(), "on-signup.yaml", []byte(onSignupYAML))
	require.NoError(t, err)
	emit := func(args ...string) result {
		return runCLI(append([]string{"--server", srv.URL, "--token", srv.Token, "emit"}, args...)...)
	}

	r := emit("user.signed_up", "--id", "u-1", "--source", "web", "--subject", "users/1", "--data", `{"email": "ada@example.com"}`)
	require.Equal(t, 0, r.code, r.err)
	require.Regexp(t, `^event u-1 \(web\) stored\nstarted run \S+\n$`, r.out)
	run, err := client.New(srv.URL, srv.Token).Run(t.Context(), strings.Fields(r.out)[len(strings.Fields(r.out))-1])
	require.NoError(t, err)
	require.Equal(t, "event", run.Trigger.Kind)
	require.Equal(t, "user.signed_up", run.Trigger.Name)
	require.Equal(t, "u-1", run.Trigger.EventID)

	r = emit("user.signed_up", "--id", "u-1", "--source", "web", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	var res client.EmitResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &res))
	require.True(t, res.Duplicate)
	require.Empty(t, res.Runs)
	require.Equal(t, "users/1", res.Event.Subject)
	require.Equal(t, map[string]any{"email": "ada@example.com"}, res.Event.Data)

	// An event its workflow cannot take is stored, with a warning.
	r = emit("user.signed_up", "--data", `{"name": "no email"}`)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.err, "warning: workflow default/on-signup trigger 1: inputs: email:")

	r = emit("user.signed_up", "--data", "{not json")
	require.Equal(t, 1, r.code)
	require.Equal(t, "legato: --data is not JSON: invalid character 'n' looking for beginning of object key string\n", r.err)
	r = emit()
	require.Equal(t, 2, r.code)
}
