// Package trigger owns what starts runs besides the API: here, webhooks —
// checking a request's signature or bearer token against its trigger, and
// the `request` value its expressions see.
package trigger

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
)

// Signature defaults: GitHub's X-Hub-Signature-256: sha256=<hex>.
const (
	DefaultSignatureHeader = "X-Hub-Signature-256"
	DefaultAlgorithm       = "sha256"
	DefaultTolerance       = 5 * time.Minute
)

// MaxBodyBytes bounds a webhook request's body.
const MaxBodyBytes = 1 << 20

// ErrUnauthorized wraps every reason a request is refused.
var ErrUnauthorized = errors.New("unauthorized")

func unauthorized(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, args...))
}

// Authenticate checks a webhook request against its trigger: the HMAC
// signature of the body (and of the timestamp when one is signed, within
// the tolerance of now), or the bearer token. Secrets are templates over
// env, resolved here; an unresolvable one refuses every request. Every
// comparison is constant-time. The error wraps ErrUnauthorized and never
// holds a secret.
func Authenticate(t *spec.Trigger, env map[string]string, h http.Header, body []byte, now time.Time) error {
	if t.Auth == "bearer" {
		token, err := resolve(t.Token, env)
		if err != nil {
			return unauthorized("the webhook's token is not configured on the server: %v", err)
		}
		got, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			return unauthorized("missing Authorization: Bearer token")
		}
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return unauthorized("wrong bearer token")
		}
		return nil
	}
	secret, err := resolve(t.Secret, env)
	if err != nil {
		return unauthorized("the webhook's secret is not configured on the server: %v", err)
	}
	sig := signatureOf(t)
	got := h.Get(sig.Header)
	if got == "" {
		return unauthorized("missing signature header %s", sig.Header)
	}
	var ts string
	if sig.TimestampHeader != "" {
		ts = h.Get(sig.TimestampHeader)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return unauthorized("missing or bad timestamp header %s: want unix seconds", sig.TimestampHeader)
		}
		if d := now.Sub(time.Unix(sec, 0)); d > sig.Tolerance || d < -sig.Tolerance {
			return unauthorized("timestamp outside the tolerance of %s (a replay?)", sig.Tolerance)
		}
	}
	want := Sign(secret, t.Signature, body, ts)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return unauthorized("signature does not match")
	}
	return nil
}

// resolved is a trigger's signature settings with the defaults filled in.
type resolved struct {
	Header, Algorithm, Prefix, TimestampHeader string
	Tolerance                                  time.Duration
}

func signatureOf(t *spec.Trigger) resolved {
	r := resolved{Header: DefaultSignatureHeader, Algorithm: DefaultAlgorithm, Tolerance: DefaultTolerance}
	if s := t.Signature; s != nil {
		if s.Header != "" {
			r.Header = s.Header
		}
		if s.Algorithm != "" {
			r.Algorithm = s.Algorithm
		}
		r.TimestampHeader = s.TimestampHeader
		if s.Tolerance > 0 {
			r.Tolerance = s.Tolerance.D()
		}
	}
	r.Prefix = r.Algorithm + "="
	if s := t.Signature; s != nil && s.Prefix != nil {
		r.Prefix = *s.Prefix
	}
	return r
}

// Sign returns the signature header value a sender computes: prefix + hex
// HMAC of the body, or of "<ts>.<body>" when ts is not empty. sig may be
// nil (the defaults).
func Sign(secret string, sig *spec.Signature, body []byte, ts string) string {
	r := signatureOf(&spec.Trigger{Signature: sig})
	var newHash func() hash.Hash
	switch r.Algorithm {
	case "sha1":
		newHash = sha1.New
	case "sha512":
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	m := hmac.New(newHash, []byte(secret))
	if ts != "" {
		m.Write([]byte(ts + "."))
	}
	m.Write(body)
	return r.Prefix + hex.EncodeToString(m.Sum(nil))
}

// resolve renders a secret template with env only.
func resolve(tmpl string, env map[string]string) (string, error) {
	vars := expr.Vars{"env": envVars(env)}
	v, err := expr.Render(tmpl, vars)
	if err != nil {
		return "", errors.New("its template does not evaluate (is the variable allow-listed with --env?)")
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", errors.New("it is empty")
	}
	return s, nil
}

func envVars(env map[string]string) map[string]any {
	m := make(map[string]any, len(env))
	for k, v := range env {
		m[k] = v
	}
	return m
}

// RequestVar is what a webhook's expressions see as `request`: body (the
// JSON value when the body parses as JSON, else the text), headers (lower
// case names; repeated headers joined with ", "; never Authorization, which
// may hold the webhook's token), query (first values), method and path.
func RequestVar(method, path string, h http.Header, q url.Values, body []byte) map[string]any {
	headers := make(map[string]any, len(h))
	for k, vs := range h {
		if strings.EqualFold(k, "Authorization") {
			continue
		}
		headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	query := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			query[k] = vs[0]
		}
	}
	var parsed any
	if err := json.Unmarshal(body, &parsed); err != nil {
		parsed = string(body)
	}
	return map[string]any{"body": parsed, "headers": headers, "query": query, "method": method, "path": path}
}

// Vars are the variables of a webhook trigger's expressions.
func Vars(request map[string]any, env map[string]string) expr.Vars {
	return expr.Vars{"request": request, "env": envVars(env)}
}
