package sqlite

import (
	"context"
	"fmt"
)

var (
	qKVGet = prep(`SELECT value FROM kv WHERE key = ?`)
	qKVPut = prep(`INSERT INTO kv (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
)

func (t *tx) KVGet(ctx context.Context, key string) (string, error) {
	var v string
	if err := t.queryRow(ctx, qKVGet, key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: kv %q: %w", key, interpretError(err))
	}
	return v, nil
}

func (t *tx) KVPut(ctx context.Context, key, value string) error {
	if _, err := t.exec(ctx, qKVPut, key, value); err != nil {
		return fmt.Errorf("sqlite: kv put %q: %w", key, interpretError(err))
	}
	return nil
}
