package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/server"
)

// An event-started run that misses its SLA feeds the event-to-start
// histogram and the SLA breach counter.
func TestMetricsCountEventStartsAndSLABreaches(t *testing.T) {
	t.Parallel()
	s := startServer(t, server.Config{})
	src := `name: poked
sla: 100ms
triggers:
  - event: obs.poke
tasks:
  - id: nap
    type: sleep
    with: {duration: 400ms}
  - id: after
    needs: [nap]
    type: noop
`
	code := s.do(t, http.MethodPost, "/api/v1/workflows", s.token, map[string]any{"source": src, "file": "poked.yaml"}, nil)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, code)
	code = s.do(t, http.MethodPost, "/api/v1/events", s.token, map[string]any{
		"specversion": "1.0", "id": "poke-1", "source": "test", "type": "obs.poke", "data": map[string]any{},
	}, nil)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated, http.StatusAccepted}, code)

	require.Eventually(t, func() bool {
		fams, _, code := s.scrape(t, "")
		require.Equal(t, http.StatusOK, code)
		breaches, _ := value(t, fams, "legato_sla_breaches_total", map[string]string{"workflow": "poked", "kind": "run"})
		fam := fams["legato_event_to_start_seconds"]
		if fam == nil || len(fam.GetMetric()) == 0 {
			return false
		}
		h := fam.GetMetric()[0].GetHistogram()
		return breaches == 1 && h.GetSampleCount() == 1 && h.GetSampleSum() >= 0 && h.GetSampleSum() < 10
	}, 15*time.Second, 20*time.Millisecond)

	// The late run counts against the workflow's SLA compliance; a workflow
	// without an SLA has none.
	var stats struct {
		Workflows []struct {
			Workflow      string   `json:"workflow"`
			Finished      int      `json:"finished"`
			SLACompliance *float64 `json:"sla_compliance"`
		} `json:"workflows"`
	}
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/v1/stats?window=1h", s.token, nil, &stats))
	require.Len(t, stats.Workflows, 1)
	require.Equal(t, "poked", stats.Workflows[0].Workflow)
	require.Equal(t, 1, stats.Workflows[0].Finished)
	require.NotNil(t, stats.Workflows[0].SLACompliance)
	require.Equal(t, 0.0, *stats.Workflows[0].SLACompliance)
	require.Equal(t, "succeeded", s.runToEnd(t, false).Status)
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/v1/stats?window=1h&workflow=obs", s.token, nil, &stats))
	require.Len(t, stats.Workflows, 1)
	require.Nil(t, stats.Workflows[0].SLACompliance, "obs declares no SLA")
}
