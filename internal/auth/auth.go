// Package auth owns API authentication: opaque bearer tokens, stored only as
// SHA-256 hashes, the admin token made on first start, and the HTTP
// middleware that puts the caller's Principal in the request context.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/store"
)

// ErrUnauthenticated: the request carried no token, or one that is not
// valid. The API answers 401 unauthenticated; the caller must present a
// valid bearer token.
var ErrUnauthenticated = errors.New("unauthenticated: a valid bearer token is required")

// AdminSubject is the subject of the admin token's principal.
const AdminSubject = "admin"

// adminHashKey is the store KV key holding the hex SHA-256 of the admin token.
const adminHashKey = "auth.admin.sha256"

// Principal is who a request acts as.
type Principal struct {
	// Subject names the caller ("admin" for the admin token); it is recorded
	// as the actor of every change the request makes.
	Subject string
}

// Verifier checks bearer tokens against the hashes in the store. It caches
// them and reloads at most once per refresh interval, and at most once a
// second when a token is not found (so a rotated token is picked up quickly
// without letting bad tokens hammer the store).
type Verifier struct {
	st      store.Store
	now     func() time.Time
	refresh time.Duration

	mu       sync.Mutex
	hashes   []tokenHash
	loadedAt time.Time
}

type tokenHash struct {
	sum     [sha256.Size]byte
	subject string
}

// NewVerifier makes a verifier over the tokens stored in st.
func NewVerifier(st store.Store) *Verifier {
	return &Verifier{st: st, now: time.Now, refresh: 30 * time.Second}
}

// Verify returns the principal of token, ErrUnauthenticated when it is not a
// valid token, or a store error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	age := v.now().Sub(v.loadedAt)
	reloaded := false
	if v.loadedAt.IsZero() || age >= v.refresh {
		if err := v.load(ctx); err != nil {
			return nil, err
		}
		reloaded = true
	}
	if p := v.match(sum); p != nil {
		return p, nil
	}
	if !reloaded && age >= time.Second {
		// The token may have been made after the last load (rotation).
		if err := v.load(ctx); err != nil {
			return nil, err
		}
		if p := v.match(sum); p != nil {
			return p, nil
		}
	}
	return nil, ErrUnauthenticated
}

// match compares sum with every known hash in constant time.
func (v *Verifier) match(sum [sha256.Size]byte) *Principal {
	var found *Principal
	for _, h := range v.hashes {
		if subtle.ConstantTimeCompare(sum[:], h.sum[:]) == 1 && found == nil {
			found = &Principal{Subject: h.subject}
		}
	}
	return found
}

// load reads the token hashes from the store; v.mu is held.
func (v *Verifier) load(ctx context.Context) error {
	var hexSum string
	err := v.st.View(ctx, func(tx store.Tx) error {
		var err error
		hexSum, err = tx.KVGet(ctx, adminHashKey)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load token hashes: %w", err)
	}
	v.hashes = v.hashes[:0]
	if sum, ok := decodeSum(hexSum); ok {
		v.hashes = append(v.hashes, tokenHash{sum: sum, subject: AdminSubject})
	}
	v.loadedAt = v.now()
	return nil
}

// hashToken returns the hex SHA-256 of token, as stored.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func decodeSum(s string) ([sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the middleware put in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
