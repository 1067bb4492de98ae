package postgres

import (
	"context"
	"fmt"
)

const (
	qKVGet = `SELECT value FROM kv WHERE key = $1`
	qKVPut = `INSERT INTO kv (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`
)

func (t *tx) KVGet(ctx context.Context, key string) (string, error) {
	var v string
	if err := t.tx.QueryRow(ctx, qKVGet, key).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: kv %q: %w", key, interpretError(err))
	}
	return v, nil
}

func (t *tx) KVPut(ctx context.Context, key, value string) error {
	if _, err := t.tx.Exec(ctx, qKVPut, key, value); err != nil {
		return fmt.Errorf("postgres: kv put %q: %w", key, interpretError(err))
	}
	return nil
}
