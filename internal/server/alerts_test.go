package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/internal/notify/smtptest"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// hookReceiver is a local webhook receiver: it keeps every body it accepts
// and answers 500 to the first `fail` requests.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	tries  int
	fail   int
}

func newReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tries++
		if h.fail > 0 {
			h.fail--
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body["_path"] = r.URL.Path
		h.bodies = append(h.bodies, body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// received returns the accepted bodies posted to path.
func (h *hookReceiver) received(path string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, b := range h.bodies {
		if b["_path"] == path {
			out = append(out, b)
		}
	}
	return out
}

func (h *hookReceiver) failNext(n int) {
	h.mu.Lock()
	h.fail = n
	h.mu.Unlock()
}

type bundle struct {
	srv  *apitest.Server
	hook *hookReceiver
	mail *smtptest.Server
	logs *apitest.LogBuffer
}

// start runs a real server (the composition root, 2 in-process workers)
// with a notification configuration naming a local webhook receiver and a
// local SMTP server; store is "sqlite" or "postgres".
func start(t *testing.T, storeKind string) *bundle {
	t.Helper()
	b := &bundle{hook: newReceiver(t), mail: smtptest.Start(t), logs: &apitest.LogBuffer{}}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "notify.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
channels:
  hook:  {type: webhook, url: "%[1]s/hook"}
  slack: {type: webhook, url: "%[1]s/slack", format: slack}
  dead:  {type: webhook, url: "http://127.0.0.1:1/nobody-listens"}
  mail:
    type: smtp
    host: %[2]s
    port: %[3]s
    from: legato@example.com
    to: [oncall@example.com]
delivery: {attempts: 4, backoff: 100ms, max_backoff: 200ms, timeout: 5s}
`, b.hook.srv.URL, b.mail.Host(), b.mail.Port())), 0o600))
	c := apitest.Config{
		Dir: filepath.Join(dir, "data"), Workers: 2, NotifyConfig: cfg,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if storeKind == "postgres" {
		c.Store, c.DSN = "postgres", schemaDSN(t)
	}
	srv, err := apitest.Start(c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	b.srv = srv
	return b
}

// schemaDSN is the test database's DSN with a fresh schema as search path.
func schemaDSN(t *testing.T) string {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	_, err = conn.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	return pgtest.WithSearchPath(dsn, schema)
}

func (b *bundle) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+"/api/v1"+path, r)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.srv.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

func (b *bundle) apply(t *testing.T, src string) {
	t.Helper()
	var out map[string]any
	code := b.call(t, http.MethodPost, "/workflows", map[string]any{"source": src}, &out)
	require.Less(t, code, 300, "%v", out)
}

type run struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Error         string `json:"error"`
	SLABreachedAt string `json:"sla_breached_at"`
	Notifications []struct {
		Event     string `json:"event"`
		Task      string `json:"task"`
		Channel   string `json:"channel"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
		Message   string `json:"message"`
	} `json:"notifications"`
}

func (b *bundle) start(t *testing.T, workflow string) string {
	t.Helper()
	var r run
	code := b.call(t, http.MethodPost, "/runs", map[string]any{"workflow": workflow}, &r)
	require.Equal(t, http.StatusCreated, code)
	return r.ID
}

// waitRun polls a run until done says so.
func (b *bundle) waitRun(t *testing.T, id string, done func(*run) bool) *run {
	t.Helper()
	var r run
	require.Eventually(t, func() bool {
		r = run{}
		b.call(t, http.MethodGet, "/runs/"+id, nil, &r)
		return done(&r)
	}, 30*time.Second, 50*time.Millisecond, "run %s never got there: %+v", id, &r)
	return &r
}

func finished(r *run) bool {
	return r.Status == "succeeded" || r.Status == "failed" || r.Status == "canceled"
}

// settled: finished and every notification delivered or given up.
func settled(r *run) bool {
	if !finished(r) {
		return false
	}
	for _, n := range r.Notifications {
		if n.Status == "pending" {
			return false
		}
	}
	return true
}

func onBothStores(t *testing.T, f func(t *testing.T, b *bundle)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, start(t, kind))
		})
	}
}

const lateWorkflow = `
name: late
sla: {deadline: 1s}
notify:
  on_sla_breach:
    channels: [hook, mail]
    message: "run ${{ run.id }} of late is late"
tasks:
  - id: slow
    type: sleep
    with: {duration: 3s}
`

const quickWorkflow = `
name: quick
sla: {deadline: 1m}
notify:
  on_sla_breach: [hook, mail]
  on_success: slack
tasks:
  - id: fast
    type: noop
    sla: 30s
`

// TestSLABreachNotifiesOnce is the acceptance test: a run that misses its
// deadline produces exactly one notification to a local webhook receiver
// and one email to a local SMTP server; a run in time, none.
func TestSLABreachNotifiesOnce(t *testing.T) {
	t.Parallel()
	onBothStores(t, func(t *testing.T, b *bundle) {
		b.apply(t, lateWorkflow)
		b.apply(t, quickWorkflow)
		late := b.start(t, "late")
		quick := b.start(t, "quick")

		r := b.waitRun(t, late, settled)
		require.Equal(t, "succeeded", r.Status, "a breach does not stop the run")
		require.NotEmpty(t, r.SLABreachedAt)
		require.Len(t, r.Notifications, 2)
		for _, n := range r.Notifications {
			require.Equal(t, "sla_breach", n.Event)
			require.Equal(t, "delivered", n.Status)
			require.Equal(t, 1, n.Attempts)
		}

		q := b.waitRun(t, quick, settled)
		require.Equal(t, "succeeded", q.Status)
		require.Empty(t, q.SLABreachedAt)
		require.Len(t, q.Notifications, 1)
		require.Equal(t, "success", q.Notifications[0].Event)

		// Exactly one webhook notification and one email, with the content.
		hooks := b.hook.received("/hook")
		require.Len(t, hooks, 1, "%v", hooks)
		require.Equal(t, "sla_breach", hooks[0]["event"])
		require.Equal(t, late, hooks[0]["run_id"])
		require.Equal(t, "late", hooks[0]["workflow"])
		require.Equal(t, "1s", hooks[0]["deadline"])
		require.Equal(t, "run "+late+" of late is late", hooks[0]["message"])

		mails := b.mail.Mails()
		require.Len(t, mails, 1)
		require.Equal(t, "legato@example.com", mails[0].From)
		require.Equal(t, []string{"oncall@example.com"}, mails[0].To)
		require.Contains(t, mails[0].Data, "Subject: [Legato] default/late missed its SLA\r\n")
		require.Contains(t, mails[0].Data, "run "+late+" of late is late")
		require.Contains(t, mails[0].Data, "run_id: "+late+"\r\n")

		// The run in time: its success went to Slack, no breach anywhere.
		slack := b.hook.received("/slack")
		require.Len(t, slack, 1)
		require.Equal(t, map[string]any{"text": "run " + quick + " of default/quick succeeded", "_path": "/slack"}, slack[0])
	})
}

const failingWorkflow = `
name: breaks
notify:
  on_failure: [hook, dead]
  on_success: hook
tasks:
  - id: boom
    type: shell
    with: {run: "exit 3"}
`

// TestFailedDeliveryIsRetriedAndNeverFailsTheRun: the receiver refuses the
// first tries, so the notification is retried with backoff and logged,
// while a channel that never answers is given up after its tries; the run's
// outcome stays what its tasks made it.
func TestFailedDeliveryIsRetriedAndNeverFailsTheRun(t *testing.T) {
	t.Parallel()
	onBothStores(t, func(t *testing.T, b *bundle) {
		b.hook.failNext(2)
		b.apply(t, failingWorkflow)
		id := b.start(t, "breaks")
		r := b.waitRun(t, id, settled)
		require.Equal(t, "failed", r.Status)
		require.Contains(t, r.Error, "task boom failed")
		require.Len(t, r.Notifications, 2)
		byChannel := map[string]int{}
		for i, n := range r.Notifications {
			require.Equal(t, "failure", n.Event)
			byChannel[n.Channel] = i
		}
		hook := r.Notifications[byChannel["hook"]]
		require.Equal(t, "delivered", hook.Status)
		require.Equal(t, 3, hook.Attempts, "two refusals, then a delivery")
		dead := r.Notifications[byChannel["dead"]]
		require.Equal(t, "failed", dead.Status, "given up")
		require.Equal(t, 4, dead.Attempts)
		require.Contains(t, dead.LastError, "webhook http://127.0.0.1:1")
		require.NotContains(t, dead.LastError, "nobody-listens", "errors do not show a webhook's path")

		hooks := b.hook.received("/hook")
		require.Len(t, hooks, 1)
		require.Equal(t, "failure", hooks[0]["event"])
		require.Contains(t, hooks[0]["error"], "task boom failed")
		logs := b.logs.String()
		require.Equal(t, 2+3, strings.Count(logs, "notification delivery failed; will retry"), "%s", logs)
		require.Equal(t, 1, strings.Count(logs, "notification delivery failed; giving up"), "%s", logs)
		require.Contains(t, logs, "receiver down")
	})
}

// TestUnknownChannelIsRejectedAtApply: a server with a notification
// configuration refuses a workflow naming a channel it does not define.
func TestUnknownChannelIsRejectedAtApply(t *testing.T) {
	t.Parallel()
	b := start(t, "sqlite")
	var out struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				Errors []struct {
					Line, Col int
					Message   string
				} `json:"errors"`
			} `json:"details"`
		} `json:"error"`
	}
	code := b.call(t, http.MethodPost, "/workflows", map[string]any{"file": "w.yaml", "source": "name: w\nnotify:\n  on_failure: [hook, pager]\ntasks: [{id: a, type: noop}]\n"}, &out)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, "invalid_workflow", out.Error.Code)
	require.Len(t, out.Error.Details.Errors, 1)
	require.Equal(t, 3, out.Error.Details.Errors[0].Line)
	require.Equal(t, 22, out.Error.Details.Errors[0].Col)
	require.Contains(t, out.Error.Details.Errors[0].Message, `unknown channel "pager"; the server's notification configuration defines dead, hook, mail, slack`)
	var list struct{ Workflows []any }
	b.call(t, http.MethodGet, "/workflows", nil, &list)
	require.Empty(t, list.Workflows, "a rejected workflow changes nothing")
}

// TestTwoServersDeliverEachNotificationOnce: two servers on one PostgreSQL
// database, each with the same channels; only the scheduler duty's holder
// delivers, so each run's failure reaches the receiver once.
func TestTwoServersDeliverEachNotificationOnce(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "notify.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`channels: {hook: {type: webhook, url: "`+hook.srv.URL+`/hook"}}`), 0o600))
	dsn := schemaDSN(t)
	var nodes []*bundle
	for i := range 2 {
		data := filepath.Join(dir, fmt.Sprint("node", i))
		if i > 0 { // the second server joins with the first one's admin token
			require.NoError(t, os.MkdirAll(data, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(data, "admin.token"), []byte(nodes[0].srv.Token), 0o600))
		}
		logs := &apitest.LogBuffer{}
		srv, err := apitest.Start(apitest.Config{Dir: data, Workers: 2, NotifyConfig: cfg, Store: "postgres", DSN: dsn, NodeID: fmt.Sprint("node", i),
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, srv.Close()) })
		nodes = append(nodes, &bundle{srv: srv, hook: hook, logs: logs})
	}
	nodes[0].apply(t, "name: breaks\nnotify: {on_failure: hook}\ntasks: [{id: boom, type: shell, with: {run: 'exit 3'}}]\n")
	const runs = 20
	ids := map[string]bool{}
	for i := range runs {
		ids[nodes[i%2].start(t, "breaks")] = true
	}
	for id := range ids {
		b := nodes[0]
		r := b.waitRun(t, id, settled)
		require.Equal(t, "failed", r.Status)
	}
	got := map[string]int{}
	for _, body := range hook.received("/hook") {
		got[body["run_id"].(string)]++
	}
	require.Len(t, got, runs)
	for id, n := range got {
		require.True(t, ids[id])
		require.Equal(t, 1, n, "run %s notified %d times\nnode0:\n%s\nnode1:\n%s", id, n, nodes[0].logs, nodes[1].logs)
	}
}
