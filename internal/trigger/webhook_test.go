package trigger

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
)

var env = map[string]string{"SECRET": "k", "TOKEN": "t0k"}

func TestAuthenticateHMAC(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	empty := ""
	for name, c := range map[string]struct {
		sig    *spec.Signature
		header string
	}{
		"default": {nil, "X-Hub-Signature-256"},
		"sha1":    {&spec.Signature{Header: "X-Hub-Signature", Algorithm: "sha1"}, "X-Hub-Signature"},
		"sha512":  {&spec.Signature{Header: "X-Sig", Algorithm: "sha512", Prefix: &empty}, "X-Sig"},
	} {
		tr := &spec.Trigger{Webhook: "w", Secret: "${{ env.SECRET }}", Signature: c.sig}
		good := Sign("k", c.sig, body, "")
		require.NoError(t, Authenticate(tr, env, http.Header{c.header: {good}}, body, now), name)
		require.ErrorIs(t, Authenticate(tr, env, http.Header{c.header: {good + "0"}}, body, now), ErrUnauthorized, name)
		require.ErrorIs(t, Authenticate(tr, env, http.Header{}, body, now), ErrUnauthorized, name)
	}
	require.Regexp(t, `^sha1=[0-9a-f]{40}$`, Sign("k", &spec.Signature{Algorithm: "sha1"}, body, ""))
	require.Regexp(t, `^[0-9a-f]{128}$`, Sign("k", &spec.Signature{Algorithm: "sha512", Prefix: &empty}, body, ""))

	// A signed timestamp within and outside the tolerance, both ways.
	sig := &spec.Signature{TimestampHeader: "X-Ts", Tolerance: spec.Duration(time.Minute)}
	tr := &spec.Trigger{Webhook: "w", Secret: "${{ env.SECRET }}", Signature: sig}
	at := func(d time.Duration) http.Header {
		ts := strconv.FormatInt(now.Add(d).Unix(), 10)
		return http.Header{"X-Hub-Signature-256": {Sign("k", sig, body, ts)}, "X-Ts": {ts}}
	}
	require.NoError(t, Authenticate(tr, env, at(-59*time.Second), body, now))
	require.NoError(t, Authenticate(tr, env, at(59*time.Second), body, now))
	require.ErrorContains(t, Authenticate(tr, env, at(-61*time.Second), body, now), "outside the tolerance")
	require.ErrorContains(t, Authenticate(tr, env, at(61*time.Second), body, now), "outside the tolerance")

	// An unresolvable secret refuses, without saying the secret.
	tr = &spec.Trigger{Webhook: "w", Secret: "${{ env.MISSING }}"}
	err := Authenticate(tr, env, http.Header{"X-Hub-Signature-256": {Sign("", nil, body, "")}}, body, now)
	require.ErrorContains(t, err, "secret is not configured")
}

func TestAuthenticateBearer(t *testing.T) {
	tr := &spec.Trigger{Webhook: "w", Auth: "bearer", Token: "${{ env.TOKEN }}"}
	now := time.Now()
	require.NoError(t, Authenticate(tr, env, http.Header{"Authorization": {"Bearer t0k"}}, nil, now))
	for _, h := range []string{"", "Bearer ", "Bearer t0", "Bearer t0kk", "Basic t0k", "t0k"} {
		require.ErrorIs(t, Authenticate(tr, env, http.Header{"Authorization": {h}}, nil, now), ErrUnauthorized, h)
	}
	err := Authenticate(tr, env, http.Header{"Authorization": {"Bearer wrong"}}, nil, now)
	require.NotContains(t, err.Error(), "t0k")
}

func TestRequestVar(t *testing.T) {
	h := http.Header{"X-Github-Event": {"push"}, "Accept": {"a", "b"}, "Authorization": {"Bearer t0k"}}
	v := RequestVar("POST", "/hooks/a/b/c", h, url.Values{"env": {"prod", "x"}}, []byte(`{"n": 1}`))
	require.Equal(t, map[string]any{"n": 1.0}, v["body"])
	require.Equal(t, "push", v["headers"].(map[string]any)["x-github-event"])
	require.Equal(t, "a, b", v["headers"].(map[string]any)["accept"])
	require.NotContains(t, v["headers"], "authorization", "the token never reaches expressions")
	require.Equal(t, "prod", v["query"].(map[string]any)["env"])
	v = RequestVar("POST", "/", nil, nil, []byte("a=1&b=2"))
	require.Equal(t, "a=1&b=2", v["body"])
}
