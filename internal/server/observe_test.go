package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/legatohq/legato/internal/server"
)

const obsWorkflow = `name: obs
inputs:
  fail: {type: boolean, default: false}
tasks:
  - id: first
    type: shell
    with: {run: "echo one"}
  - id: second
    needs: [first]
    type: shell
    with: {run: "test ${{ inputs.fail }} = false"}
  - id: later
    needs: [second]
    type: noop
`

// testServer is a real server on SQLite in a temporary directory.
type testServer struct {
	url, token string
	// stop stops the server gracefully and returns what Run returned.
	stop func() error
}

func startServer(t *testing.T, cfg server.Config) *testServer {
	t.Helper()
	dir := t.TempDir()
	wf := filepath.Join(dir, "obs.yaml")
	require.NoError(t, os.WriteFile(wf, []byte(obsWorkflow), 0o600))
	cfg.DataDir, cfg.Addr, cfg.Apply, cfg.Version = filepath.Join(dir, "data"), "127.0.0.1:0", []string{wf}, "test"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	go func() { done <- server.Run(ctx, cfg) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { require.NoError(t, stop()) })
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin.token"))
	require.NoError(t, err)
	return &testServer{url: "http://" + addr, token: strings.TrimSpace(string(tok)), stop: stop}
}

func (s *testServer) do(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// testRun is a run as GET /runs/{id} shows it.
type testRun struct{ ID, Status string }

// runToEnd starts a run of obs and waits for its final status.
func (s *testServer) runToEnd(t *testing.T, fail bool) testRun {
	t.Helper()
	var r testRun
	require.Equal(t, http.StatusCreated, s.do(t, http.MethodPost, "/api/v1/runs", s.token, map[string]any{"workflow": "obs", "inputs": map[string]any{"fail": fail}}, &r))
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/v1/runs/"+r.ID, s.token, nil, &r))
		return r.Status == "succeeded" || r.Status == "failed"
	}, 30*time.Second, 20*time.Millisecond)
	return r
}

// scrape reads /metrics and parses the text format.
func (s *testServer) scrape(t *testing.T, token string) (map[string]*dto.MetricFamily, []byte, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return nil, buf.Bytes(), resp.StatusCode
	}
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err, "the /metrics body parses as the Prometheus text format")
	return fams, buf.Bytes(), resp.StatusCode
}

// value returns the value of the series of fam whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsAfterRuns(t *testing.T) {
	t.Parallel()
	s := startServer(t, server.Config{})
	require.Equal(t, "succeeded", s.runToEnd(t, false).Status)
	require.Equal(t, "succeeded", s.runToEnd(t, false).Status)
	require.Equal(t, "failed", s.runToEnd(t, true).Status)
	// A remote worker that claims (nothing of its type is queued).
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/api/v1/workers/claim", s.token,
		map[string]any{"worker_id": "remote-1", "types": []string{"crm.sync"}, "wait_seconds": 0}, nil))

	// The metrics are fed just after each commit: the last one may follow
	// the run's final status by a moment.
	var fams map[string]*dto.MetricFamily
	var body []byte
	require.Eventually(t, func() bool {
		var code int
		fams, body, code = s.scrape(t, "")
		require.Equal(t, http.StatusOK, code, "metrics are public by default")
		noop, _ := value(t, fams, "legato_task_duration_seconds", map[string]string{"type": "noop"})
		failed, _ := value(t, fams, "legato_runs_finished_total", map[string]string{"status": "failed"})
		return noop == 2 && failed == 1
	}, 10*time.Second, 10*time.Millisecond)
	get := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := value(t, fams, name, labels)
		require.True(t, ok, "series %s%v in:\n%s", name, labels, body)
		return v
	}
	wf := map[string]string{"namespace": "default", "workflow": "obs"}
	require.Equal(t, 3.0, get("legato_runs_started_total", wf))
	require.Equal(t, 2.0, get("legato_runs_finished_total", map[string]string{"workflow": "obs", "status": "succeeded"}))
	require.Equal(t, 1.0, get("legato_runs_finished_total", map[string]string{"workflow": "obs", "status": "failed"}))
	// shell: first ×3, second ×3 (one failed); noop: later ×2
	require.Equal(t, 5.0, get("legato_task_duration_seconds", map[string]string{"type": "shell", "status": "succeeded"}))
	require.Equal(t, 1.0, get("legato_task_duration_seconds", map[string]string{"type": "shell", "status": "failed"}))
	require.Equal(t, 2.0, get("legato_task_duration_seconds", map[string]string{"type": "noop", "status": "succeeded"}))
	require.Equal(t, 0.0, get("legato_queue_depth", map[string]string{"queue": "default"}))
	require.Equal(t, 0.0, get("legato_queue_oldest_waiting_seconds", map[string]string{"queue": "default"}))
	require.Equal(t, 4.0, get("legato_workers", map[string]string{"kind": "in_process"}))
	require.Equal(t, 1.0, get("legato_workers", map[string]string{"kind": "remote"}))
	require.Greater(t, get("legato_store_transaction_duration_seconds", map[string]string{"kind": "write", "outcome": "ok"}), 10.0)
	require.Equal(t, 1.0, get("legato_build_info", map[string]string{"version": "test"}))
	require.Contains(t, fams, "legato_event_to_start_seconds")
	require.Contains(t, fams, "go_goroutines")
	require.Contains(t, fams, "process_resident_memory_bytes")
	// durations are positive and below a minute
	h := fams["legato_task_duration_seconds"].GetMetric()[0].GetHistogram()
	require.Greater(t, h.GetSampleSum(), 0.0)
	require.Less(t, h.GetSampleSum()/float64(h.GetSampleCount()), 60.0)

	t.Run("promtool", func(t *testing.T) { promtool(t, body) })
}

// promtool runs `promtool check metrics` on body when promtool is
// installed (Debian package prometheus); without it the subtest is skipped
// (go test -v shows SKIP with the reason).
func promtool(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian: apt-get install prometheus): /metrics was parsed with expfmt only, not linted")
	}
	cmd := exec.CommandContext(t.Context(), path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool check metrics found problems")
	t.Log("promtool check metrics: no problems")
}

func TestMetricsModes(t *testing.T) {
	t.Parallel()
	tok := startServer(t, server.Config{Metrics: server.MetricsToken})
	_, _, code := tok.scrape(t, "")
	require.Equal(t, http.StatusUnauthorized, code)
	_, _, code = tok.scrape(t, "lgt_wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	fams, _, code := tok.scrape(t, tok.token)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, fams, "legato_queue_depth")

	off := startServer(t, server.Config{Metrics: server.MetricsOff})
	_, _, code = off.scrape(t, off.token)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "succeeded", off.runToEnd(t, false).Status, "runs go on without metrics")
}

func TestJSONLogsNameRunsAndAttempts(t *testing.T) {
	t.Parallel()
	// The log goes to a file, as `legato server --log-format json 2>file`.
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	log := slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startServer(t, server.Config{Logger: log})
	require.Equal(t, "failed", s.runToEnd(t, true).Status)

	var finished, failedAttempt map[string]any
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &rec), "every line is one JSON object: %s", l)
			switch {
			case rec["msg"] == "run finished":
				finished = rec
			case rec["msg"] == "attempt ended" && rec["status"] == "failed":
				failedAttempt = rec
			}
		}
		return finished != nil && failedAttempt != nil
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "INFO", finished["level"])
	require.Equal(t, "default/obs", finished["workflow"])
	require.Equal(t, "failed", finished["status"])
	require.NotEmpty(t, finished["run"])
	require.Contains(t, finished["error"], "second")
	require.Equal(t, finished["run"], failedAttempt["run"])
	require.Equal(t, "second", failedAttempt["task"])
	require.Equal(t, 1.0, failedAttempt["attempt"])
	require.Equal(t, -1.0, failedAttempt["index"])
	require.Equal(t, "shell", failedAttempt["type"])
	require.Equal(t, "local/worker", failedAttempt["worker"])
}

// otlpReceiver is a stand-in OpenTelemetry collector: it speaks OTLP/HTTP
// (protobuf) on a loopback socket and keeps the spans it receives.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	paths []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf", http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.paths = append(o.paths, r.URL.Path)
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestTracesExportedOverOTLP(t *testing.T) {
	t.Parallel()
	rec := &otlpReceiver{}
	coll := httptest.NewServer(rec)
	t.Cleanup(coll.Close)

	s := startServer(t, server.Config{OTLPEndpoint: coll.URL})
	id := s.runToEnd(t, false).ID
	require.NoError(t, s.stop(), "a graceful stop flushes the batch of spans")

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Contains(t, rec.paths, "/v1/traces", "the base URL gets the OTLP traces path")
	names := map[string]int{}
	for _, sp := range rec.spans {
		require.Equal(t, strings.ReplaceAll(id, "-", ""), hex.EncodeToString(sp.GetTraceId()), "the trace id is the run id")
		names[sp.GetName()]++
	}
	require.Equal(t, map[string]int{"run default/obs": 1, "task first": 1, "task second": 1, "task later": 1}, names)
}
