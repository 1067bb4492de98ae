package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/internal/tasks"
	"github.com/legatohq/legato/sdk/worker"
)

func (a *app) workerCmd() *cobra.Command {
	var (
		queues      []string
		types       []string
		concurrency int
		id          string
		lease       time.Duration
		logFormat   string
		logLevel    string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run tasks of the built-in types for a server, over its API",
		Long: `Worker runs attempts of the built-in task types (` + strings.Join(executableTypes(), ", ") + `) for a
Legato server, over its HTTP API: the way to run them on other machines
than the server (start the server with --workers 0 to leave them all to
remote workers). It claims attempts from its queues with a long poll,
keeps their leases with heartbeats, and reports their results.
SIGINT or SIGTERM stops it gracefully: the attempts it is running are
stopped and given back, to run again at once on another worker.`,
		Example: "  legato worker --server http://legato.internal:8420 --token $LEGATO_TOKEN\n" +
			"  legato worker --queue builds --type shell --concurrency 2 --id builder-1",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(a.stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			if concurrency < 1 {
				return usageErrorf("--concurrency must be 1 or more, not %d", concurrency)
			}
			if lease < 3*time.Second {
				return usageErrorf("--lease must be 3s or more, not %s", lease)
			}
			known := executableTypes()
			if len(types) == 0 {
				types = known
			}
			w := worker.New(a.client(), worker.Options{ID: id, Queues: queues, Concurrency: concurrency, LeaseFor: lease, Logger: log})
			for _, name := range types {
				if !slices.Contains(known, name) {
					return usageErrorf("--type %q is not a built-in type this worker runs; known: %s", name, strings.Join(known, ", "))
				}
				t, _ := tasks.Lookup(name)
				w.Handle(name, builtin(t.Executor))
			}
			return w.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&queues, "queue", nil, `queue to claim from (repeatable; default "default")`)
	f.StringArrayVar(&types, "type", nil, "only run this built-in type (repeatable; default: all of them)")
	f.IntVar(&concurrency, "concurrency", envInt("LEGATO_CONCURRENCY", worker.DefaultConcurrency), "attempts run at once (env LEGATO_CONCURRENCY)")
	f.StringVar(&id, "id", envOr("LEGATO_WORKER_ID", ""), "the worker's id in leases and run journals, unique per process, without / (env LEGATO_WORKER_ID; default hostname:pid)")
	f.DurationVar(&lease, "lease", worker.DefaultLease, "lease length: a worker that stops heartbeating loses its attempts after it")
	f.StringVar(&logFormat, "log-format", envOr("LEGATO_LOG_FORMAT", "text"), "log format: text or json (env LEGATO_LOG_FORMAT)")
	f.StringVar(&logLevel, "log-level", envOr("LEGATO_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env LEGATO_LOG_LEVEL)")
	return cmd
}

// executableTypes are the built-in task types a worker runs: those with an
// executor (the others, sleep and workflow, are the engine's own).
func executableTypes() []string {
	var names []string
	for _, name := range tasks.Names() {
		if t, ok := tasks.Lookup(name); ok && t.Executor != nil {
			names = append(names, name)
		}
	}
	return names
}

// builtin adapts a built-in task type's executor to a worker handler.
func builtin(ex tasks.Executor) worker.HandlerFunc {
	return func(ctx context.Context, t *worker.Task) (any, error) {
		// tasks.NonRetryable is sdk/worker's marker: errors pass as they are.
		return ex.Execute(ctx, &tasks.Request{
			RunID: t.RunID, TaskID: t.TaskID, Index: t.Index, Attempt: t.Attempt, IdempotencyKey: t.IdempotencyKey,
			Type: t.Type, Params: t.Params, Timeout: t.Timeout, Log: t.Log,
		})
	}
}
