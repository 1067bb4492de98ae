package auth

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store/sqlite"
)

// A token made after the verifier loaded its cache is accepted once the
// short miss interval has passed, without waiting for the full refresh.
func TestVerifierPicksUpNewTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "legato.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	v := NewVerifier(st)
	v.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	_, err = v.Verify(t.Context(), "lgt_none")
	require.ErrorIs(t, err, ErrUnauthenticated)

	token, _, err := EnsureAdminToken(t.Context(), st, filepath.Join(dir, "admin.token"))
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), token)
	require.ErrorIs(t, err, ErrUnauthenticated, "cached: no reload within a second")

	advance(1100 * time.Millisecond)
	p, err := v.Verify(t.Context(), token)
	require.NoError(t, err)
	require.Equal(t, AdminSubject, p.Subject)

	// A rotation is picked up the same way, and the old token stops working.
	require.NoError(t, putHash(t.Context(), st, "lgt_rotated"))
	advance(1100 * time.Millisecond)
	_, err = v.Verify(t.Context(), "lgt_rotated")
	require.NoError(t, err)
	advance(31 * time.Second)
	_, err = v.Verify(t.Context(), token)
	require.ErrorIs(t, err, ErrUnauthenticated)
}
