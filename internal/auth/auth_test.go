package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/legatohq/legato/internal/auth"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testBundle struct {
	st   store.Store
	dir  string
	path string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return &testBundle{st: st, dir: dir, path: filepath.Join(dir, "secrets", "admin.token")}
}

func TestEnsureAdminTokenFirstStart(t *testing.T) {
	t.Parallel()
	b := setup(t)

	token, rotated, err := auth.EnsureAdminToken(t.Context(), b.st, b.path)
	require.NoError(t, err)
	require.False(t, rotated)
	require.True(t, strings.HasPrefix(token, auth.TokenPrefix))
	require.Len(t, token, len(auth.TokenPrefix)+43) // 32 bytes, unpadded base64url

	fi, err := os.Stat(b.path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(b.path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	onDisk, err := auth.ReadToken(b.path)
	require.NoError(t, err)
	require.Equal(t, token, onDisk)

	// Only the hash is stored.
	var stored string
	require.NoError(t, b.st.View(t.Context(), func(tx store.Tx) error {
		var err error
		stored, err = tx.KVGet(t.Context(), "auth.admin.sha256")
		return err
	}))
	require.Len(t, stored, 64)
	require.NotContains(t, stored, token)

	// No temporary file is left behind.
	entries, err := os.ReadDir(filepath.Dir(b.path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestEnsureAdminTokenKeepsAndRotates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	first, _, err := auth.EnsureAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)

	again, rotated, err := auth.EnsureAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	require.False(t, rotated)
	require.Equal(t, first, again)

	// The file is lost: a new token replaces the old one.
	require.NoError(t, os.Remove(b.path))
	second, rotated, err := auth.EnsureAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	require.True(t, rotated)
	require.NotEqual(t, first, second)
	v := auth.NewVerifier(b.st)
	_, err = v.Verify(ctx, first)
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	p, err := v.Verify(ctx, second)
	require.NoError(t, err)
	require.Equal(t, "admin", p.Subject)

	// The file holds another token than the stored hash: rotate too.
	other, err := auth.NewToken()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(b.path, []byte(other+"\n"), 0o600))
	third, rotated, err := auth.EnsureAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	require.True(t, rotated)
	require.NotEqual(t, other, third)
	require.NotEqual(t, second, third)
}

func TestEnsureAdminTokenAdoptsFileOnFreshStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok, err := auth.NewToken()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(b.path), 0o700))
	require.NoError(t, os.WriteFile(b.path, []byte(tok+"\n"), 0o600))

	got, rotated, err := auth.EnsureAdminToken(t.Context(), b.st, b.path)
	require.NoError(t, err)
	require.False(t, rotated)
	require.Equal(t, tok, got)
	_, err = auth.NewVerifier(b.st).Verify(t.Context(), tok)
	require.NoError(t, err)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	v := auth.NewVerifier(b.st)
	ctx := t.Context()

	// Before any token exists nothing verifies.
	_, err := v.Verify(ctx, "lgt_whatever")
	require.ErrorIs(t, err, auth.ErrUnauthenticated)

	token, _, err := auth.EnsureAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	for _, bad := range []string{"", "lgt_", token + "x", token[:len(token)-1], strings.ToUpper(token)} {
		_, err := v.Verify(ctx, bad)
		require.ErrorIs(t, err, auth.ErrUnauthenticated, "token %q", bad)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token, _, err := auth.EnsureAdminToken(t.Context(), b.st, b.path)
	require.NoError(t, err)
	h := auth.Middleware(auth.NewVerifier(b.st), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		_, _ = w.Write([]byte(p.Subject))
	}))

	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"not bearer", "Basic " + token, http.StatusUnauthorized},
		{"wrong", "Bearer lgt_nope", http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
		{"scheme case", "bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/runs", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code)
			if tc.status == http.StatusOK {
				require.Equal(t, "admin", rec.Body.String())
				return
			}
			require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
			require.NotContains(t, rec.Body.String(), token)
			var body struct {
				Error struct {
					Code    string         `json:"code"`
					Message string         `json:"message"`
					Details map[string]any `json:"details"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, "unauthenticated", body.Error.Code)
			require.NotEmpty(t, body.Error.Message)
			require.NotNil(t, body.Error.Details)
		})
	}
}

func TestFromContextEmpty(t *testing.T) {
	t.Parallel()
	require.Nil(t, auth.FromContext(t.Context()))
	ctx := auth.NewContext(t.Context(), &auth.Principal{Subject: "ci"})
	require.Equal(t, "ci", auth.FromContext(ctx).Subject)
}

func TestJoinAdminTokenNeverRotates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	// The first server of a fresh shared store makes the token.
	first, err := auth.JoinAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	again, err := auth.JoinAdminToken(ctx, b.st, b.path)
	require.NoError(t, err)
	require.Equal(t, first, again)

	// A second server without the file, or with another token, leaves the
	// shared token alone.
	elsewhere := filepath.Join(b.dir, "node2", "admin.token")
	_, err = auth.JoinAdminToken(ctx, b.st, elsewhere)
	require.ErrorIs(t, err, auth.ErrAdminTokenElsewhere)
	_, err = os.Stat(elsewhere)
	require.ErrorIs(t, err, os.ErrNotExist, "no file written")
	other, err := auth.NewToken()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(elsewhere), 0o700))
	require.NoError(t, os.WriteFile(elsewhere, []byte(other+"\n"), 0o600))
	_, err = auth.JoinAdminToken(ctx, b.st, elsewhere)
	require.ErrorIs(t, err, auth.ErrAdminTokenElsewhere)
	_, err = auth.NewVerifier(b.st).Verify(ctx, first)
	require.NoError(t, err, "the first server's token still works")

	// With a copy of the file, the second server uses the same token.
	require.NoError(t, os.WriteFile(elsewhere, []byte(first+"\n"), 0o600))
	got, err := auth.JoinAdminToken(ctx, b.st, elsewhere)
	require.NoError(t, err)
	require.Equal(t, first, got)
}
