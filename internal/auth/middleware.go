package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Middleware lets a request through to next only with a valid bearer token
// (`Authorization: Bearer <token>`), with its Principal in the request
// context (FromContext). Otherwise it answers 401 with the API's error shape
// {"error": {"code": "unauthenticated", …}}, or 500 "internal" when the
// store cannot be read.
func Middleware(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="legato"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		p, err := v.Verify(r.Context(), token)
		if errors.Is(err, ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="legato", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "invalid bearer token")
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "could not check the token")
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// BearerToken returns the token of r's Authorization header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// writeError writes the API's error shape. It is a copy of the api
// package's, which cannot be imported from here (api imports auth).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"code": code, "message": msg, "details": map[string]any{}},
	})
}
