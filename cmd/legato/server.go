package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/server"
	"github.com/legatohq/legato/internal/store"
)

// serverGCPercent is the Go collector's target of the server unless GOGC
// is set: a busy server's heap is a few tens of MiB, and collecting half as
// often gives 6–12 % more tasks per second (bench/README.md) for that
// much more memory.
const serverGCPercent = 200

func (a *app) serverCmd() *cobra.Command {
	var (
		addr      string
		workers   int
		apply     []string
		env       []string
		nodeID    string
		storeKind string
		dsn       string
		logFormat string
		logLevel  string
		notifyCfg string
		retention time.Duration
		pprofAddr string
		metrics   string
		otlp      string
		limits    limitFlags
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API, scheduler and in-process workers",
		Long: `Server runs Legato: the HTTP API, the scheduler (timers, leases) and
in-process workers, on an embedded SQLite database in the data directory,
or on a PostgreSQL database shared with other servers (--store postgres).
On first start it writes an admin API token to DIR/admin.token (mode 0600).
SIGINT or SIGTERM stops it gracefully: attempts in flight are stopped and
queued again, to run on the next start.`,
		Example: "  legato server --apply examples\n  legato server --data /var/lib/legato --addr 0.0.0.0:8420 --env INVENTORY_URL",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(a.stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			if workers < 0 {
				return usageErrorf("--workers must be 0 or more, not %d", workers)
			}
			if metrics != "public" && metrics != "token" && metrics != "off" {
				return usageErrorf("--metrics must be public, token or off, not %q", metrics)
			}
			lims, err := limits.parse()
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(serverGCPercent)
			}
			return server.Run(cmd.Context(), server.Config{
				DataDir: a.data, Addr: addr, Workers: workers, Apply: apply, Env: env, NodeID: nodeID,
				Store: storeKind, DSN: dsn, NotifyConfig: notifyCfg, Metrics: metrics, OTLPEndpoint: otlp, Limits: lims,
				EventRetention: retention, PprofAddr: pprofAddr,
				Version: versionString(), Logger: log,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", envOr("LEGATO_ADDR", "127.0.0.1:8420"), "HTTP listen address (env LEGATO_ADDR)")
	f.IntVar(&workers, "workers", envInt("LEGATO_WORKERS", 128), "attempts run at once by in-process workers; 0 turns them off (env LEGATO_WORKERS)")
	f.StringArrayVar(&apply, "apply", nil, "workflow file or directory to apply at start (repeatable)")
	f.StringSliceVar(&env, "env", envList("LEGATO_ENV"), "environment variables expressions may read as env.NAME (repeatable or comma-separated; env LEGATO_ENV)")
	f.StringVar(&storeKind, "store", envOr("LEGATO_STORE", "sqlite"), "where state lives: sqlite (embedded, in --data) or postgres (shared by several servers; env LEGATO_STORE)")
	f.StringVar(&dsn, "dsn", envOr("LEGATO_DSN", ""), "PostgreSQL connection string for --store postgres (env LEGATO_DSN)")
	f.StringVar(&nodeID, "node-id", envOr("LEGATO_NODE_ID", ""), "this server's name among the servers sharing a database; keep it across restarts (default: local with sqlite, host name and port with postgres; env LEGATO_NODE_ID)")
	f.StringVar(&logFormat, "log-format", envOr("LEGATO_LOG_FORMAT", "text"), "log format: text or json (env LEGATO_LOG_FORMAT)")
	f.DurationVar(&retention, "event-retention", envDuration("LEGATO_EVENT_RETENTION", 7*24*time.Hour), "how long received events are kept for deduplication and look-back; negative: forever (env LEGATO_EVENT_RETENTION)")
	f.StringVar(&notifyCfg, "notify-config", envOr("LEGATO_NOTIFY_CONFIG", ""), "YAML file of notification channels (webhook, smtp) that workflows' notify rules name; see docs/alerts.md (env LEGATO_NOTIFY_CONFIG)")
	f.StringVar(&metrics, "metrics", envOr("LEGATO_METRICS", "public"), "GET /metrics: public (no token), token (any API token) or off (env LEGATO_METRICS)")
	f.StringVar(&otlp, "otlp-endpoint", envOr("LEGATO_OTLP_ENDPOINT", ""), "OTLP/HTTP collector URL (http://host:4318) to export traces to; default OTEL_EXPORTER_OTLP_ENDPOINT, else tracing is off (env LEGATO_OTLP_ENDPOINT)")
	f.StringVar(&pprofAddr, "pprof-addr", envOr("LEGATO_PPROF_ADDR", ""), "serve Go's CPU, heap and goroutine profiles at /debug/pprof/ on this address, WITHOUT authentication: use a loopback address (default off; env LEGATO_PPROF_ADDR)")
	f.StringVar(&logLevel, "log-level", envOr("LEGATO_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env LEGATO_LOG_LEVEL)")
	limits.register(cmd)
	return cmd
}

// limitFlags are the server's limits of attempts in flight and rates.
type limitFlags struct{ queue, typ, resource, rate []string }

func (l *limitFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&l.queue, "queue-limit", nil, "at most N attempts of a queue running at once, across all workers and servers: QUEUE=N (repeatable; 0 removes)")
	f.StringArrayVar(&l.typ, "type-limit", nil, "at most N attempts of a task type running at once: TYPE=N (repeatable; 0 removes)")
	f.StringArrayVar(&l.resource, "resource-limit", nil, "at most N attempts of tasks with `resource: NAME` running at once: NAME=N (repeatable; 0 removes)")
	f.StringArrayVar(&l.rate, "rate-limit", nil, "at most N attempts started per interval, for a resource or (queue:NAME) a queue: NAME=N/INTERVAL[:BURST], e.g. crm=10/s:20 (repeatable)")
}

// parse reads every limit flag; a bad one is a usage error.
func (l *limitFlags) parse() ([]*store.Limit, error) {
	var out []*store.Limit
	for _, group := range []struct {
		flag string
		kind store.LimitKind
		vals []string
	}{{"queue-limit", store.LimitQueue, l.queue}, {"type-limit", store.LimitType, l.typ}, {"resource-limit", store.LimitResource, l.resource}, {"rate-limit", store.LimitResource, l.rate}} {
		for _, v := range group.vals {
			lim, err := engine.ParseLimit(group.kind, v)
			if err == nil && (group.flag == "rate-limit") != (lim.Rate > 0 || strings.Contains(v, "/")) {
				err = fmt.Errorf("limit %q: --%s takes %s", v, group.flag, map[bool]string{true: "NAME=N/INTERVAL[:BURST]", false: "NAME=N"}[group.flag == "rate-limit"])
			}
			if err != nil {
				return nil, usageErrorf("--%s: %v", group.flag, err)
			}
			out = append(out, lim)
		}
	}
	return engine.MergeLimits(out), nil
}

// newLogger builds the server's structured logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, usageErrorf("--log-format must be text or json, not %q", format)
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(envOr(key, ""))); err == nil {
		return v
	}
	return def
}

func envList(key string) []string {
	v := envOr(key, "")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// noArgs refuses positional arguments with a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	return nil
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(strings.TrimSpace(envOr(key, ""))); err == nil {
		return d
	}
	return def
}
