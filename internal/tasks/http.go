package tasks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/traceid"
)

// The http type sends one request and checks the answer's status. 5xx, 429
// and 408 answers and network errors are retryable; any other unexpected
// status, and a certificate that does not verify, are not.
func init() {
	Register(Type{Name: "http", Validate: validateHTTP, Executor: newHTTPTask()})
}

var httpSchema = schema{
	"method":               isMethod,
	"url":                  isHTTPURL,
	"headers":              isScalarMap,
	"query":                isQuery,
	"json":                 isAny,
	"body":                 isString,
	"expect":               isExpect,
	"timeout":              isDuration,
	"insecure_skip_verify": isBool,
	"follow_redirects":     isBool,
}

func validateHTTP(with map[string]any) []error {
	return append(httpSchema.check(with, "url"), exclusive(with, false, "json", "body")...)
}

func isMethod(v any) []error {
	s, ok := v.(string)
	if !ok || s == "" || strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) >= 0 {
		return errf("must be an HTTP method such as GET or POST")
	}
	return nil
}

func isHTTPURL(v any) []error {
	s, ok := v.(string)
	if !ok {
		return errf("must be a string, not %s", typeName(v))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errf("must be an absolute http:// or https:// URL")
	}
	return nil
}

// isQuery accepts a map of scalars or lists of scalars (a repeated key).
func isQuery(v any) []error {
	m, ok := v.(map[string]any)
	if !ok {
		return errf("must be a map, not %s", typeName(v))
	}
	var errs []error
	for _, k := range sortedKeys(m) {
		vals, isList := m[k].([]any)
		if !isList {
			vals = []any{m[k]}
		}
		for _, x := range vals {
			if !isScalar(x) && !isTemplate(x) {
				errs = append(errs, fieldErr("must be a string, number, boolean or a list of them", k))
				break
			}
		}
	}
	return errs
}

// isExpect accepts one status or a list of them: 204, "404", "2xx",
// "200-299".
func isExpect(v any) []error {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	if len(items) == 0 {
		return errf("must list at least one status")
	}
	for _, x := range items {
		if isTemplate(x) {
			continue
		}
		if _, _, ok := statusRange(x); !ok {
			return errf(`must be statuses or ranges such as 200, "2xx" or "200-204"`)
		}
	}
	return nil
}

// statusRange reads one item of expect as an inclusive range.
func statusRange(v any) (lo, hi int, ok bool) {
	if n, isInt := asInt(v); isInt {
		return int(n), int(n), n >= 100 && n <= 999
	}
	s, isStr := v.(string)
	if !isStr {
		return 0, 0, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '9' {
		d := int(s[0] - '0')
		return d * 100, d*100 + 99, true
	}
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	if _, err := fmt.Sscanf(a+" "+b, "%d %d", &lo, &hi); err != nil || lo < 100 || hi > 999 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

func expected(p map[string]any, status int) bool {
	items, ok := p["expect"].([]any)
	if !ok {
		if v, set := p["expect"]; set {
			items = []any{v}
		} else {
			items = []any{"2xx"}
		}
	}
	for _, x := range items {
		if lo, hi, ok := statusRange(x); ok && status >= lo && status <= hi {
			return true
		}
	}
	return false
}

// httpTask holds the transports, shared by attempts for connection reuse.
type httpTask struct {
	verified, insecure *http.Transport
}

func newHTTPTask() *httpTask {
	verified := http.DefaultTransport.(*http.Transport).Clone()
	insecure := verified.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it with insecure_skip_verify
	return &httpTask{verified: verified, insecure: insecure}
}

func (h *httpTask) closeIdle() {
	h.verified.CloseIdleConnections()
	h.insecure.CloseIdleConnections()
}

func (h *httpTask) Execute(ctx context.Context, req *Request) (any, error) {
	p := req.Params
	if err := validateParams(validateHTTP, p); err != nil {
		return nil, err
	}
	attempt := ctx
	if d := getDuration(p, "timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	hreq, err := buildRequest(ctx, req)
	if err != nil {
		return nil, NonRetryable(err)
	}
	client := &http.Client{Transport: h.verified}
	if getBool(p, "insecure_skip_verify", false) {
		client.Transport = h.insecure
	}
	if !getBool(p, "follow_redirects", true) {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	shown := redactURL(hreq.URL)
	start := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		req.logf("system", "%s %s: %v", hreq.Method, shown, err)
		if attempt.Err() != nil {
			return nil, canceled(attempt)
		}
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return nil, NonRetryable(fmt.Errorf("%s %s: %w (set insecure_skip_verify to accept it)", hreq.Method, shown, certErr))
		}
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // *url.Error repeats the URL with its query
		}
		return nil, fmt.Errorf("%s %s: %w", hreq.Method, shown, err)
	}
	defer resp.Body.Close()
	req.logf("system", "%s %s -> %s (%s)", hreq.Method, shown, resp.Status, time.Since(start).Round(time.Millisecond))
	out, err := readResponse(resp, req)
	if err != nil {
		if attempt.Err() != nil {
			return nil, canceled(attempt)
		}
		return nil, fmt.Errorf("%s %s: read body: %w", hreq.Method, shown, err)
	}
	if expected(p, resp.StatusCode) {
		return out, nil
	}
	err = fmt.Errorf("%s %s: unexpected status %s", hreq.Method, shown, resp.Status)
	switch c := resp.StatusCode; {
	case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
		return out, err
	}
	return out, NonRetryable(err)
}

func buildRequest(ctx context.Context, req *Request) (*http.Request, error) {
	p := req.Params
	u, err := url.Parse(getString(p, "url"))
	if err != nil {
		return nil, err
	}
	if qm, ok := p["query"].(map[string]any); ok {
		q := u.Query()
		for _, k := range sortedKeys(qm) {
			vals, isList := qm[k].([]any)
			if !isList {
				vals = []any{qm[k]}
			}
			for _, v := range vals {
				q.Add(k, scalarString(v))
			}
		}
		u.RawQuery = q.Encode()
	}
	method := strings.ToUpper(getString(p, "method"))
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	contentType := ""
	if v, ok := p["json"]; ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	} else if s, ok := p["body"].(string); ok {
		body = strings.NewReader(s)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("User-Agent", "legato")
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}
	if req.IdempotencyKey != "" {
		hreq.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	for k, v := range getStringMap(p, "headers") {
		if strings.EqualFold(k, "Host") {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}
	if req.RunID != "" {
		traceid.InjectAttempt(ctx, hreq.Header, req.RunID, req.TaskID, req.Index, req.Attempt)
	}
	return hreq, nil
}

// redactURL shows a URL without its password and query values.
func redactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{""}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

func readResponse(resp *http.Response, req *Request) (map[string]any, error) {
	headers := map[string]any{}
	for k, v := range resp.Header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, outputCap+1))
	if err != nil {
		return nil, err
	}
	truncated := len(raw) > outputCap
	if truncated {
		raw = raw[:outputCap]
		req.logf("system", "response body longer than %d bytes: the output keeps its beginning", outputCap)
	}
	out := map[string]any{"status": resp.StatusCode, "headers": headers, "body": string(raw)}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if !truncated && (isJSON || ct == "") && len(bytes.TrimSpace(raw)) > 0 {
		var v any
		if err := json.Unmarshal(raw, &v); err == nil {
			out["body"] = v
		} else if isJSON {
			req.logf("system", "response body is not the JSON its Content-Type says: kept as text")
		}
	} else if isJSON && len(bytes.TrimSpace(raw)) == 0 {
		out["body"] = nil
	}
	return out, nil
}
