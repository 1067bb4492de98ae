package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestObservability runs the binary with --log-format json and
// --metrics token: a run shows in /metrics (only with a token), in
// /api/v1/stats and in the JSON log; a bad --metrics value is refused in
// a usage error.
func TestObservability(t *testing.T) {
	t.Parallel()
	res := runCLI(t, time.Minute, "server", "--data", t.TempDir(), "--metrics", "loud")
	require.Equal(t, 2, res.code, "%s", res)
	require.True(t, strings.HasPrefix(res.stderr, "legato: --metrics must be public, token or off, not \"loud\"\n"), "%s", res)

	wf := filepath.Join(t.TempDir(), "obs.yaml")
	require.NoError(t, os.WriteFile(wf, []byte(goodWorkflow), 0o644))
	s := newServer(t, wf)
	s.args = []string{"--log-format", "json", "--log-level", "debug", "--metrics", "token"}
	s.start()
	r := s.cli("run", "e2e-good", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, "%s", r)
	run := decodeRun(t, r.stdout)

	scrape := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := scrape("")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Eventually(t, func() bool {
		code, body := scrape(s.token())
		require.Equal(t, http.StatusOK, code)
		return strings.Contains(body, `legato_runs_finished_total{namespace="default",status="succeeded",workflow="e2e-good"} 1`)
	}, 10*time.Second, 20*time.Millisecond)

	var st struct {
		Workflows []struct {
			Workflow    string   `json:"workflow"`
			Runs        int      `json:"runs"`
			SuccessRate *float64 `json:"success_rate"`
		} `json:"workflows"`
	}
	code, raw := s.api(http.MethodGet, "/api/v1/stats?window=1h&workflow=e2e-good", nil, &st)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	require.Len(t, st.Workflows, 1)
	require.Equal(t, 1, st.Workflows[0].Runs)
	require.Equal(t, 1.0, *st.Workflows[0].SuccessRate)

	s.stop()
	log, err := os.ReadFile(s.logPath)
	require.NoError(t, err)
	var finished map[string]any
	for _, l := range strings.Split(string(log), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue // the test's own start markers
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "a JSON log line: %s", l)
		if rec["msg"] == "run finished" {
			finished = rec
		}
	}
	require.NotNil(t, finished, "a run finished line in:\n%s", log)
	require.Equal(t, run.ID, finished["run"])
	require.Equal(t, "default/e2e-good", finished["workflow"])
	require.Equal(t, "succeeded", finished["status"])
}
