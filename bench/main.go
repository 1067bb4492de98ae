// Command bench is Legato's benchmark harness: it builds the real binary,
// starts a server on loopback with a fresh store (SQLite by default, or
// PostgreSQL), measures the store's floor (one durable single-row commit,
// and the rate of commits when batched) with the same settings, runs the
// workloads against the server through the public API, and prints one
// JSON object per workload and then a table. Every figure is given beside
// its ratio to the floor. See bench/README.md for the method and the
// latest figures.
//
//	go run ./bench                      # the full suite on SQLite
//	go run ./bench --quick              # a smaller suite, under two minutes
//	go run ./bench --store postgres --dsn postgres://…
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the harness's command line.
type config struct {
	store     string
	dsn       string
	quick     bool
	workloads string
	bin       string
	keep      bool
	workers   int
}

func main() {
	var c config
	flag.StringVar(&c.store, "store", "sqlite", "store of the server: sqlite or postgres")
	flag.StringVar(&c.dsn, "dsn", os.Getenv("LEGATO_BENCH_DSN"), "PostgreSQL DSN of a database the harness may create databases in (--store postgres; env LEGATO_BENCH_DSN)")
	flag.BoolVar(&c.quick, "quick", false, "smaller workloads and fewer repetitions (under two minutes)")
	flag.StringVar(&c.workloads, "workloads", "", "comma-separated workloads to run (default: all)")
	flag.StringVar(&c.bin, "bin", "", "a legato binary to test instead of building ./cmd/legato")
	flag.IntVar(&c.workers, "workers", 0, "the server's in-process workers (legato server --workers; 0: the server's default)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (server logs, databases)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c *config) error {
	if c.store != "sqlite" && c.store != "postgres" {
		return fmt.Errorf("--store must be sqlite or postgres, not %q", c.store)
	}
	if c.store == "postgres" && c.dsn == "" {
		return fmt.Errorf("--store postgres needs --dsn (or LEGATO_BENCH_DSN)")
	}
	dir, err := os.MkdirTemp("", "legato-bench-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := c.bin
	if bin == "" {
		if bin, err = build(ctx, dir); err != nil {
			return err
		}
	}
	env, err := newEnv(ctx, c, dir, bin)
	if err != nil {
		return err
	}
	defer env.close()

	floor, err := measureFloor(ctx, env)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	emit(floor)

	var results []*result
	for _, w := range selected(c.workloads) {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %s…\n", w.name)
		began := time.Now()
		r, err := w.run(ctx, env, floor)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		r.Workload, r.Store, r.Durability, r.Quick = w.name, c.store, floor.Durability, c.quick
		r.Seconds = round(time.Since(began).Seconds())
		emit(r)
		results = append(results, r)
	}
	printTable(os.Stdout, floor, results)
	return nil
}

// selected returns the workloads named in list (all when empty), in the
// suite's order.
func selected(list string) []workload {
	if list == "" {
		return suite
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []workload
	for _, w := range suite {
		if want[w.name] {
			out = append(out, w)
		}
	}
	return out
}

// emit prints v as one JSON line.
func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}
