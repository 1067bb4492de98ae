package tasks

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type httpBundle struct {
	task *httpTask
	srv  *httptest.Server
	last chan *http.Request // each request seen, with its body read into bodies
	body chan string
}

func setupHTTP(t *testing.T, handler http.HandlerFunc) *httpBundle {
	t.Helper()
	b := &httpBundle{task: newHTTPTask(), last: make(chan *http.Request, 10), body: make(chan string, 10)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		b.last <- r
		b.body <- string(raw)
		handler(w, r)
	}))
	t.Cleanup(func() { b.srv.Close(); b.task.closeIdle() })
	return b
}

func (b *httpBundle) do(ctx context.Context, with map[string]any, log LogFunc) (map[string]any, error) {
	if _, ok := with["url"]; !ok {
		with["url"] = b.srv.URL + "/path"
	}
	out, err := b.task.Execute(ctx, &Request{RunID: "r", TaskID: "t", Index: -1, Attempt: 1, IdempotencyKey: "r/t/-1", Params: with, Log: log})
	m, _ := out.(map[string]any)
	return m, err
}

func TestHTTPGetJSON(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-One", "1")
		_, _ = w.Write([]byte(`{"ok": true, "n": [1]}`))
	})
	rec := &logRecorder{}
	out, err := b.do(t.Context(), map[string]any{"query": map[string]any{"token": "s3cret", "tag": []any{"a", "b"}}}, rec.log)
	require.NoError(t, err)
	require.Equal(t, 200, out["status"])
	require.Equal(t, map[string]any{"ok": true, "n": []any{1.0}}, out["body"])
	require.Equal(t, "1", out["headers"].(map[string]any)["X-One"])
	r := <-b.last
	require.Equal(t, http.MethodGet, r.Method)
	require.Equal(t, "/path", r.URL.Path)
	require.Equal(t, "s3cret", r.URL.Query().Get("token"))
	require.Equal(t, []string{"a", "b"}, r.URL.Query()["tag"])
	require.Equal(t, "r/t/-1", r.Header.Get("Idempotency-Key"))
	lines := strings.Join(rec.get(), "\n")
	require.Contains(t, lines, "system: GET "+b.srv.URL+"/path?tag=&token= -> 200 OK")
	require.NotContains(t, lines, "s3cret")
}

func TestHTTPPostJSONAndHeaders(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("created"))
	})
	out, err := b.do(t.Context(), map[string]any{
		"method":  "post",
		"json":    map[string]any{"order": "o-1", "n": 2.0},
		"headers": map[string]any{"X-Api": "k", "Idempotency-Key": "mine"},
	}, nil)
	require.NoError(t, err)
	require.Equal(t, 201, out["status"])
	require.Equal(t, "created", out["body"])
	r := <-b.last
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "k", r.Header.Get("X-Api"))
	require.Equal(t, "mine", r.Header.Get("Idempotency-Key"))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(<-b.body), &got))
	require.Equal(t, map[string]any{"order": "o-1", "n": 2.0}, got)
}

func TestHTTPBody(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[1,2]`)) // no Content-Type set by us: sniffed as text/plain
	})
	out, err := b.do(t.Context(), map[string]any{"method": "PUT", "body": "raw text"}, nil)
	require.NoError(t, err)
	require.Equal(t, "raw text", <-b.body)
	require.Equal(t, http.MethodPut, (<-b.last).Method)
	require.Equal(t, "[1,2]", out["body"])
}

func TestHTTPStatusClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status       int
		expect       any
		ok, terminal bool
	}{
		{200, nil, true, false},
		{204, nil, true, false},
		{404, nil, false, true},
		{400, nil, false, true},
		{429, nil, false, false},
		{408, nil, false, false},
		{500, nil, false, false},
		{503, nil, false, false},
		{404, []any{200, "404"}, true, false},
		{302, "3xx", true, false},
		{201, []any{"200-204"}, true, false},
		{200, []any{"201"}, false, true},
		{503, "5xx", true, false},
	}
	for _, c := range cases {
		b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(c.status) })
		with := map[string]any{"follow_redirects": false}
		if c.expect != nil {
			with["expect"] = c.expect
		}
		out, err := b.do(t.Context(), with, nil)
		require.Equal(t, c.status, out["status"], "%d", c.status)
		if c.ok {
			require.NoError(t, err, "%d", c.status)
			continue
		}
		require.ErrorContains(t, err, "unexpected status", "%d", c.status)
		require.Equal(t, c.terminal, IsNonRetryable(err), "%d", c.status)
	}
}

func TestHTTPRedirects(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/path" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("final"))
	})
	out, err := b.do(t.Context(), map[string]any{}, nil)
	require.NoError(t, err)
	require.Equal(t, "final", out["body"])
	out, err = b.do(t.Context(), map[string]any{"follow_redirects": false}, nil)
	require.True(t, IsNonRetryable(err))
	require.Equal(t, 302, out["status"])
}

func TestHTTPNetworkErrorRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	task := newHTTPTask()
	defer task.closeIdle()
	_, err := task.Execute(t.Context(), &Request{Params: map[string]any{"url": url + "/?key=s3cret"}})
	require.Error(t, err)
	require.False(t, IsNonRetryable(err))
	require.NotContains(t, err.Error(), "s3cret")
}

func TestHTTPTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setupHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	_, err := b.do(t.Context(), map[string]any{"timeout": "50ms"}, nil)
	require.Error(t, err)
	require.False(t, IsNonRetryable(err))
	require.NotErrorIs(t, err, ErrCanceled)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = b.do(ctx, map[string]any{}, nil)
	require.ErrorIs(t, err, ErrCanceled)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestHTTPTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("secure"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	task := newHTTPTask()
	defer task.closeIdle()
	_, err := task.Execute(t.Context(), &Request{Params: map[string]any{"url": srv.URL}})
	require.ErrorContains(t, err, "certificate")
	require.True(t, IsNonRetryable(err))

	out, err := task.Execute(t.Context(), &Request{Params: map[string]any{"url": srv.URL, "insecure_skip_verify": true}})
	require.NoError(t, err)
	require.Equal(t, "secure", out.(map[string]any)["body"])
}

func TestHTTPRegistered(t *testing.T) {
	t.Parallel()
	typ, ok := Lookup("http")
	require.True(t, ok)
	_, err := typ.Executor.Execute(t.Context(), &Request{Params: map[string]any{"url": "ftp://x"}})
	require.True(t, IsNonRetryable(err))
}
