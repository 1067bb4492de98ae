package postgres

import (
	"context"
	"embed"
	"errors"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate creates the schema when one is named and applies the pending
// embedded migrations with goose. A session advisory lock, keyed by the
// schema and held on a connection of its own, makes servers that start
// together on one database migrate one after the other: the first applies
// the migrations, the others find nothing to do.
func migrate(ctx context.Context, cc *pgx.ConnConfig, schema string) (err error) {
	lockConn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return err
	}
	// Closing the session also releases the lock, whatever happens below.
	defer func() { err = errors.Join(err, lockConn.Close(context.WithoutCancel(ctx))) }()
	if _, err := lockConn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey(schema)); err != nil {
		return err
	}
	if schema != "" {
		if _, err := lockConn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}

	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cc.Copy())
	defer func() { err = errors.Join(err, db.Close()) }()
	db.SetMaxOpenConns(1)
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// migrationLockKey is the advisory lock of the migrations of one schema.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("legato/migrate/" + schema))
	return int64(h.Sum64())
}
