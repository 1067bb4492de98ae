package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/notify/smtptest"
)

const alertsWorkflow = `name: late-report
sla: 1s
notify:
  on_sla_breach: [hook, mail]
  on_success: hook
tasks:
  - id: wait
    type: sleep
    with: {duration: 4s}
`

// TestSLABreachSurvivesACrash runs the real binary with --notify-config, a
// local webhook receiver and a local SMTP server. The server is killed
// (SIGKILL) while a run with a 1s SLA sleeps, and started again after the
// deadline passed: the breach is found on restart from the stored timer and
// notified exactly once on each channel, then the run succeeds and its
// success is notified once.
func TestSLABreachSurvivesACrash(t *testing.T) {
	var mu sync.Mutex
	var hooks []map[string]any
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if json.Unmarshal(b, &body) != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		mu.Lock()
		hooks = append(hooks, body)
		mu.Unlock()
	}))
	defer receiver.Close()
	mail := smtptest.Start(t)

	dir := t.TempDir()
	wf := filepath.Join(dir, "late-report.yaml")
	require.NoError(t, os.WriteFile(wf, []byte(alertsWorkflow), 0o600))
	cfg := filepath.Join(dir, "notify.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`channels:
  hook: {type: webhook, url: "%s/hook"}
  mail: {type: smtp, host: %s, port: %s, from: legato@example.com, to: [ops@example.com]}
delivery: {backoff: 100ms}
`, receiver.URL, mail.Host(), mail.Port())), 0o600))

	s := newServer(t, wf)
	s.args = []string{"--notify-config", cfg}
	s.start()
	res := s.cli("run", "late-report", "-o", "json")
	require.Equal(t, 0, res.code, "%s", res)
	id := decodeRun(t, res.stdout).ID
	s.kill()
	time.Sleep(1500 * time.Millisecond) // the deadline passes while no server runs
	s.start()
	defer s.stop()

	type notification struct{ Event, Channel, Status string }
	var r struct {
		Status        string
		SLABreachedAt string `json:"sla_breached_at"`
		Notifications []notification
	}
	require.Eventually(t, func() bool {
		code, _ := s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &r)
		if code != http.StatusOK || r.Status != "succeeded" || len(r.Notifications) != 3 {
			return false
		}
		for _, n := range r.Notifications {
			if n.Status != "delivered" {
				return false
			}
		}
		return true
	}, time.Minute, 100*time.Millisecond, "run %s: %+v", id, &r)
	require.NotEmpty(t, r.SLABreachedAt)
	require.ElementsMatch(t, []notification{
		{"sla_breach", "hook", "delivered"}, {"sla_breach", "mail", "delivered"}, {"success", "hook", "delivered"},
	}, r.Notifications)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, hooks, 2)
	require.Equal(t, "sla_breach", hooks[0]["event"])
	require.Equal(t, id, hooks[0]["run_id"])
	require.Equal(t, "success", hooks[1]["event"])
	mails := mail.Mails()
	require.Len(t, mails, 1)
	require.Contains(t, mails[0].Data, "Subject: [Legato] default/late-report missed its SLA\r\n")
	require.Contains(t, mails[0].Data, "missed its SLA: not finished 1s after it started")
}
