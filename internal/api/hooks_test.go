package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/trigger"
)

const hookFile = `
name: deploy
inputs:
  repo: {type: string, required: true}
  ref: {type: string}
  env: {type: string}
triggers:
  - webhook: github
    secret: ${{ env.HOOK_SECRET }}
    filter: request.headers['x-github-event'] == 'push'
    idempotency_key: "${{ request.headers[?'x-github-delivery'].orValue('') }}"
    inputs:
      repo: ${{ request.body.repository.full_name }}
      ref: ${{ request.body.ref }}
      env: "${{ request.query.?env.orValue('none') }}"
  - webhook: stamped
    secret: ${{ env.HOOK_SECRET }}
    signature: {header: X-Signature, prefix: "", timestamp_header: X-Timestamp, tolerance: 1m}
    inputs: {repo: "${{ request.body }}"}
  - webhook: ci
    auth: bearer
    token: ${{ env.HOOK_TOKEN }}
    inputs: {repo: "${{ request.body.repo }}"}
  - webhook: unconfigured
    secret: ${{ env.NOT_ALLOWED }}
    inputs: {repo: x}
tasks:
  - id: a
    type: noop
    with: {repo: "${{ inputs.repo }}", ref: "${{ inputs.ref }}", env: "${{ inputs.env }}"}
outputs: {repo: "${{ tasks.a.output.repo }}", ref: "${{ tasks.a.output.ref }}", env: "${{ tasks.a.output.env }}"}
`

const hookSecret = "It's a Secret to Everybody"

func hookSetup(t *testing.T) *testBundle {
	b := setupEnv(t, map[string]string{"HOOK_SECRET": hookSecret, "HOOK_TOKEN": "ci-token"})
	b.applyOK(t, "deploy.yaml", hookFile)
	return b
}

// post sends raw bytes with headers (no API token unless in headers).
func (b *testBundle) post(t *testing.T, path string, body []byte, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	return resp.StatusCode, out
}

func (b *testBundle) runCount(t *testing.T) int {
	t.Helper()
	var list struct{ Runs []any }
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs?workflow=deploy", nil, &list))
	return len(list.Runs)
}

var pushBody = []byte(`{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"}}`)

func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	headers := func(sig string) map[string]string {
		h := map[string]string{"X-GitHub-Event": "push", "Content-Type": "application/json"}
		if sig != "" {
			h["X-Hub-Signature-256"] = sig
		}
		return h
	}
	// GitHub's documented example: this secret and "Hello, World!".
	require.Equal(t, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		trigger.Sign(hookSecret, nil, []byte("Hello, World!"), ""))

	status, out := b.post(t, "/hooks/default/deploy/github", pushBody, headers(""))
	require.Equal(t, http.StatusUnauthorized, status, "%v", out)
	require.Equal(t, "unauthenticated", out["error"].(map[string]any)["code"])
	require.Contains(t, out["error"].(map[string]any)["message"], "missing signature header X-Hub-Signature-256")

	status, out = b.post(t, "/hooks/default/deploy/github", pushBody, headers(trigger.Sign("wrong secret", nil, pushBody, "")))
	require.Equal(t, http.StatusUnauthorized, status, "%v", out)
	require.Contains(t, out["error"].(map[string]any)["message"], "signature does not match")
	// The right signature of another body.
	status, _ = b.post(t, "/hooks/default/deploy/github", pushBody, headers(trigger.Sign(hookSecret, nil, []byte("{}"), "")))
	require.Equal(t, http.StatusUnauthorized, status)
	// A secret the server cannot resolve refuses everything.
	status, _ = b.post(t, "/hooks/default/deploy/unconfigured", pushBody, headers(trigger.Sign("", nil, pushBody, "")))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Zero(t, b.runCount(t), "refused requests start nothing")

	status, out = b.post(t, "/hooks/default/deploy/github?env=prod", pushBody, headers(trigger.Sign(hookSecret, nil, pushBody, "")))
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	run := b.waitRun(t, out["run_id"].(string), statusIs("succeeded", "failed"))
	require.Equal(t, "succeeded", run["status"], "%v", run)
	require.Equal(t, map[string]any{"repo": "octo/hello", "ref": "refs/heads/main", "env": "prod"}, run["outputs"])
	require.Equal(t, "webhook:github", run["created_by"])
	trig := run["trigger"].(map[string]any)
	require.Equal(t, "webhook", trig["kind"])
	require.Equal(t, "github", trig["name"])
	require.GreaterOrEqual(t, trig["start_latency_ms"].(float64), 0.0)

	// The filter: a ping starts nothing.
	ping := headers(trigger.Sign(hookSecret, nil, pushBody, ""))
	ping["X-GitHub-Event"] = "ping"
	status, out = b.post(t, "/hooks/default/deploy/github", pushBody, ping)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, out["filtered"])
	require.Equal(t, 1, b.runCount(t))

	// Unknown workflow or trigger: 404.
	status, _ = b.post(t, "/hooks/default/deploy/nope", pushBody, nil)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = b.post(t, "/hooks/default/nope/github", pushBody, nil)
	require.Equal(t, http.StatusNotFound, status)
}

func TestWebhookReplayedTimestamp(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	sig := &spec.Signature{Prefix: new(string)}
	body := []byte(`"octo/stamped"`)
	send := func(at time.Time, signedAt time.Time) (int, map[string]any) {
		ts := strconv.FormatInt(signedAt.Unix(), 10)
		return b.post(t, "/hooks/default/deploy/stamped", body, map[string]string{
			"X-Timestamp": strconv.FormatInt(at.Unix(), 10), "X-Signature": trigger.Sign(hookSecret, sig, body, ts),
		})
	}
	now := time.Now()
	status, out := send(now, now)
	require.Equal(t, http.StatusAccepted, status, "%v", out)

	// A captured request replayed later than the tolerance.
	old := now.Add(-2 * time.Minute)
	status, out = send(old, old)
	require.Equal(t, http.StatusUnauthorized, status, "%v", out)
	require.Contains(t, out["error"].(map[string]any)["message"], "timestamp outside the tolerance")
	// A fresh timestamp on an old signature.
	status, _ = send(now, old)
	require.Equal(t, http.StatusUnauthorized, status)
	// No timestamp at all.
	status, _ = b.post(t, "/hooks/default/deploy/stamped", body, map[string]string{"X-Signature": trigger.Sign(hookSecret, sig, body, "")})
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, 1, b.runCount(t))
}

func TestWebhookBearerToken(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	body := []byte(`{"repo":"octo/ci"}`)
	status, _ := b.post(t, "/hooks/default/deploy/ci", body, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = b.post(t, "/hooks/default/deploy/ci", body, map[string]string{"Authorization": "Bearer nope"})
	require.Equal(t, http.StatusUnauthorized, status)
	// The admin API token is not the webhook's token.
	status, _ = b.post(t, "/hooks/default/deploy/ci", body, map[string]string{"Authorization": "Bearer " + b.token})
	require.Equal(t, http.StatusUnauthorized, status)
	status, out := b.post(t, "/hooks/default/deploy/ci", body, map[string]string{"Authorization": "Bearer ci-token"})
	require.Equal(t, http.StatusAccepted, status, "%v", out)
}

func TestWebhookDuplicateDeliveryStartsOneRun(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	h := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": trigger.Sign(hookSecret, nil, pushBody, "")}
	var wg sync.WaitGroup
	ids := make([]string, 6)
	statuses := make([]int, 6)
	bodies := make([]map[string]any, 6)
	for i := range ids {
		wg.Go(func() {
			status, out := b.post(t, "/hooks/default/deploy/github", pushBody, h)
			statuses[i], bodies[i] = status, out
			ids[i], _ = out["run_id"].(string)
		})
	}
	wg.Wait()
	accepted := 0
	for i := range ids {
		require.Equal(t, ids[0], ids[i])
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, statuses[i], bodies[i])
		if statuses[i] == http.StatusAccepted {
			accepted++
		}
	}
	require.Equal(t, 1, accepted)
	require.Equal(t, 1, b.runCount(t))

	// The Idempotency-Key header takes precedence over the trigger's key.
	h["Idempotency-Key"] = "other"
	status, out := b.post(t, "/hooks/default/deploy/github", pushBody, h)
	require.Equal(t, http.StatusAccepted, status)
	require.NotEqual(t, ids[0], out["run_id"])
	status, out = b.post(t, "/hooks/default/deploy/github", pushBody, h)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, out["duplicate"])
	require.Equal(t, 2, b.runCount(t))
}

func TestWebhookBodyLimit(t *testing.T) {
	t.Parallel()
	b := hookSetup(t)
	big := bytes.Repeat([]byte("x"), trigger.MaxBodyBytes+1)
	status, out := b.post(t, "/hooks/default/deploy/github", big, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Equal(t, "payload_too_large", out["error"].(map[string]any)["code"])
}

func TestStartRunIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "hello.yaml", helloFile)
	start := func() (int, map[string]any) {
		var run map[string]any
		req := map[string]any{"workflow": "hello", "inputs": map[string]any{"who": "x"}}
		js, _ := json.Marshal(req)
		r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.url+"/api/v1/runs", bytes.NewReader(js))
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+b.token)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "start-1")
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&run))
		return resp.StatusCode, run
	}
	s1, r1 := start()
	require.Equal(t, http.StatusCreated, s1, "%v", r1)
	s2, r2 := start()
	require.Equal(t, http.StatusOK, s2, "%v", r2)
	require.Equal(t, r1["id"], r2["id"])
}
