package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/legatohq/legato/internal/store"
)

// TokenPrefix starts every Legato API token, so that secret scanners and
// people can recognize one.
const TokenPrefix = "lgt_"

// NewToken returns a fresh random token: TokenPrefix and 32 random bytes in
// unpadded base64url.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// EnsureAdminToken makes sure an admin token exists and returns it.
//
// On first start it makes a new token, writes it to path (mode 0600, created
// atomically; the parent directory is created 0700) and stores its SHA-256
// in the store. On later starts it returns the token in path when its hash
// is the stored one. When the file is missing or holds another token while a
// hash is stored, it makes a new token, replaces both, and reports
// rotated = true (the old token stops working). A valid-looking token file
// with no stored hash (a fresh database) is adopted as is.
//
// The token is never logged.
func EnsureAdminToken(ctx context.Context, st store.Store, path string) (token string, rotated bool, err error) {
	var stored string
	err = st.View(ctx, func(tx store.Tx) error {
		var err error
		stored, err = tx.KVGet(ctx, adminHashKey)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", false, fmt.Errorf("read admin token hash: %w", err)
	}
	existing, err := readToken(path)
	if err != nil {
		return "", false, err
	}
	if existing != "" {
		if stored == "" {
			if err := putHash(ctx, st, existing); err != nil {
				return "", false, err
			}
			return existing, false, nil
		}
		if subtle.ConstantTimeCompare([]byte(hashToken(existing)), []byte(stored)) == 1 {
			return existing, false, nil
		}
	}
	token, err = NewToken()
	if err != nil {
		return "", false, err
	}
	if err := writeFileAtomic(path, []byte(token+"\n")); err != nil {
		return "", false, err
	}
	if err := putHash(ctx, st, token); err != nil {
		return "", false, err
	}
	return token, stored != "", nil
}

// ErrAdminTokenElsewhere: the store holds an admin token this node has no
// file for (see JoinAdminToken).
var ErrAdminTokenElsewhere = errors.New("the admin token was made by another server sharing this database: copy its admin.token file here to use it locally")

// JoinAdminToken is EnsureAdminToken for a server sharing its store with
// others: it never rotates. When the store already holds an admin token
// and path does not have it, it leaves both alone and returns
// ErrAdminTokenElsewhere (rotating would lock the other servers' clients
// out).
func JoinAdminToken(ctx context.Context, st store.Store, path string) (string, error) {
	var stored string
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		stored, err = tx.KVGet(ctx, adminHashKey)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("read admin token hash: %w", err)
	}
	if stored != "" {
		existing, err := readToken(path)
		if err != nil {
			return "", err
		}
		if existing == "" || subtle.ConstantTimeCompare([]byte(hashToken(existing)), []byte(stored)) != 1 {
			return "", ErrAdminTokenElsewhere
		}
		return existing, nil
	}
	token, _, err := EnsureAdminToken(ctx, st, path)
	return token, err
}

// ReadToken returns the token stored in path (trimmed), for clients that
// find the admin token on the same machine.
func ReadToken(path string) (string, error) {
	t, err := readToken(path)
	if err != nil {
		return "", err
	}
	if t == "" {
		return "", fmt.Errorf("read token %s: %w", path, fs.ErrNotExist)
	}
	return t, nil
}

// readToken returns the token in path, or "" when the file is missing or
// does not hold a token.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if !strings.HasPrefix(t, TokenPrefix) || len(t) < len(TokenPrefix)+32 || strings.ContainsAny(t, " \t\r\n") {
		return "", nil
	}
	return t, nil
}

func putHash(ctx context.Context, st store.Store, token string) error {
	err := st.Tx(ctx, func(tx store.Tx) error {
		return tx.KVPut(ctx, adminHashKey, hashToken(token))
	})
	if err != nil {
		return fmt.Errorf("store admin token hash: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory and a rename, so a reader never sees half a
// token.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}
