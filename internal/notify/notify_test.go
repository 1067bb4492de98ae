package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/notify/smtptest"
	"github.com/legatohq/legato/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type received struct {
	ch chan map[string]any
}

func receiver(t *testing.T, status int) (*httptest.Server, *received) {
	t.Helper()
	r := &received{ch: make(chan map[string]any, 10)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		body["_content_type"] = req.Header.Get("Content-Type")
		body["_token"] = req.Header.Get("X-Token")
		body["_idempotency_key"] = req.Header.Get("Idempotency-Key")
		r.ch <- body
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, r
}

func notification(channel string) *store.Notification {
	return &store.Notification{
		ID: 1, RunID: "r1", Index: -1, Event: "sla_breach", Channel: channel,
		Payload: json.RawMessage(`{"event":"sla_breach","message":"run r1 is late","run_id":"r1","namespace":"sales","workflow":"close","task":"load","deadline":"1m0s"}`),
	}
}

func parse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("notify.yaml", []byte(src))
	require.NoError(t, err)
	return c
}

func TestWebhookJSONAndSlack(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, http.StatusNoContent)
	chs := New(parse(t, `
channels:
  hook: {type: webhook, url: "`+srv.URL+`/x", headers: {X-Token: s3cret}}
  slack: {type: webhook, url: "`+srv.URL+`/y", format: slack}
`))
	require.Equal(t, []string{"hook", "slack"}, chs.Names())
	require.NoError(t, chs.Send(t.Context(), notification("hook")))
	body := <-got.ch
	require.Equal(t, "run r1 is late", body["message"])
	require.Equal(t, "r1", body["run_id"])
	require.Equal(t, "application/json", body["_content_type"])
	require.Equal(t, "s3cret", body["_token"])
	require.Equal(t, 1.0, body["notification_id"])
	require.Equal(t, "legato-notification-1", body["_idempotency_key"])

	require.NoError(t, chs.Send(t.Context(), notification("slack")))
	body = <-got.ch
	require.Equal(t, "run r1 is late", body["text"])
	require.NotContains(t, body, "run_id", "a Slack body is {text} only")
}

func TestWebhookErrorsHideThePath(t *testing.T) {
	t.Parallel()
	srv, _ := receiver(t, http.StatusInternalServerError)
	chs := New(parse(t, `channels: {hook: {type: webhook, url: "`+srv.URL+`/T000/B000/secret"}}`))
	err := chs.Send(t.Context(), notification("hook"))
	require.ErrorContains(t, err, "500 Internal Server Error")
	require.NotContains(t, err.Error(), "secret")
	require.NotErrorIs(t, err, engine.ErrUndeliverable, "a server error is worth a retry")
}

func TestUnknownChannelIsUndeliverable(t *testing.T) {
	t.Parallel()
	err := New(nil).Send(t.Context(), notification("nope"))
	require.ErrorIs(t, err, engine.ErrUndeliverable)
	require.ErrorContains(t, err, `no channel "nope"`)
}

func TestSMTPSendsOneMail(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t)
	chs := New(parse(t, `
channels:
  oncall:
    type: smtp
    host: `+mail.Host()+`
    port: `+mail.Port()+`
    from: legato@example.com
    to: [oncall@example.com, lead@example.com]
`))
	require.NoError(t, chs.Send(t.Context(), notification("oncall")))
	ms := mail.Mails()
	require.Len(t, ms, 1)
	require.Equal(t, "legato@example.com", ms[0].From)
	require.Equal(t, []string{"oncall@example.com", "lead@example.com"}, ms[0].To)
	require.Contains(t, ms[0].Data, "Subject: [Legato] sales/close: task load missed its SLA\r\n")
	require.Contains(t, ms[0].Data, "\r\n\r\nrun r1 is late\r\n")
	require.Contains(t, ms[0].Data, "deadline: 1m0s\r\n")

	mail.FailNext(1)
	err := chs.Send(t.Context(), notification("oncall"))
	require.ErrorContains(t, err, "451")
	require.Len(t, mail.Mails(), 1)
}

func TestSMTPRequiredStartTLS(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t)
	port, _ := strconv.Atoi(mail.Port())
	s := newSMTP(ChannelConfig{Host: mail.Host(), Port: port, From: "a@b", To: []string{"c@d"}, TLS: "starttls"})
	err := s.Send(t.Context(), &Message{Event: "failure", Text: "x", Fields: map[string]any{}})
	require.ErrorContains(t, err, "does not offer STARTTLS")
	require.Empty(t, mail.Mails())
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{`channels: {a: {type: pager}}`, `channel "a": unknown type "pager"`},
		{`channels: {a: {type: webhook}}`, `a webhook needs url`},
		{`channels: {a: {type: webhook, url: "ftp://x"}}`, `url must be an http or https URL`},
		{`channels: {a: {type: webhook, url: "http://x", format: teams}}`, `format must be json or slack`},
		{`channels: {a: {type: smtp, host: x}}`, `needs host, from and to`},
		{`channels: {a: {type: smtp, host: x, from: a, to: [b], tls: maybe}}`, `tls must be`},
		{`channels: {"bad name": {type: webhook, url: "http://x"}}`, `invalid name`},
		{`channels: {a: {type: webhook, url: "http://x", colour: red}}`, `unknown field "colour"`},
		{`delivery: {backoff: soon}`, `delivery backoff: "soon" is not a positive duration`},
		{`channels: {a: {type: smtp, host: x, from: a, to: [b], password_env: LEGATO_TEST_UNSET_PW}}`, `LEGATO_TEST_UNSET_PW is not set`},
	} {
		_, err := Parse("notify.yaml", []byte(tc.src))
		require.Error(t, err, tc.src)
		require.Contains(t, err.Error(), tc.want)
		require.True(t, strings.HasPrefix(err.Error(), "notify config notify.yaml"), err.Error())
	}
	o, err := parse(t, `delivery: {attempts: 3, backoff: 100ms, max_backoff: 1s, timeout: 5s}`).Delivery.Options()
	require.NoError(t, err)
	require.Equal(t, engine.DeliveryOptions{Attempts: 3, Backoff: 1e8, MaxBackoff: 1e9, Timeout: 5e9}, o)
}
