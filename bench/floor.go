package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/sqlite"
)

// floorResult is what the store itself costs, with the server's settings.
type floorResult struct {
	Workload   string  `json:"workload"`
	Store      string  `json:"store"`
	Durability string  `json:"durability"`
	CommitMS   float64 `json:"commit_ms"`      // median single-row durable commit
	CommitP99  float64 `json:"commit_p99_ms"`  // its 99th percentile
	BatchedRPS float64 `json:"batched_rows_s"` // rows per second committed 100 per transaction
}

const (
	floorSamples = 300
	floorBatches = 50
	floorBatch   = 100
)

// measureFloor opens a store of the same kind and settings as the
// server's (a separate SQLite file in the same directory; a separate
// schema of the same PostgreSQL database) and times single-row commits,
// then batched ones.
func measureFloor(ctx context.Context, e *env) (*floorResult, error) {
	f := &floorResult{Workload: "floor", Store: e.cfg.store}
	var st store.Store
	var err error
	switch e.cfg.store {
	case "sqlite":
		st, err = sqlite.Open(ctx, filepath.Join(e.dir, "floor.db"))
		f.Durability = "sqlite WAL, synchronous=FULL"
	default:
		st, err = postgres.Open(ctx, e.dsn, postgres.Schema("legato_bench_floor"))
		if err == nil {
			f.Durability, err = pgDurability(ctx, e.dsn)
		}
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()

	ds := make([]time.Duration, floorSamples)
	for i := range ds {
		began := time.Now()
		if err := st.Tx(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "bench.floor", strconv.Itoa(i)) }); err != nil {
			return nil, err
		}
		ds[i] = time.Since(began)
	}
	slices.Sort(ds)
	f.CommitMS = ms(ds[len(ds)/2])
	f.CommitP99 = ms(ds[len(ds)*99/100])

	began := time.Now()
	for b := range floorBatches {
		err := st.Tx(ctx, func(tx store.Tx) error {
			for i := range floorBatch {
				if err := tx.KVPut(ctx, fmt.Sprintf("bench.batch.%d", i), strconv.Itoa(b)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	f.BatchedRPS = round(float64(floorBatches*floorBatch) / time.Since(began).Seconds())
	return f, nil
}

// pgDurability reads the settings that make a PostgreSQL commit durable.
func pgDurability(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var sync, fsync string
	if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_commit'), current_setting('fsync')").Scan(&sync, &fsync); err != nil {
		return "", err
	}
	return "postgres synchronous_commit=" + sync + ", fsync=" + fsync, nil
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

// round keeps three decimals.
func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
