package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/legatohq/legato/internal/auth"
	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/metrics"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/tracing"
)

// How /metrics answers (Config.Metrics).
const (
	MetricsPublic = "public" // without a token (the default)
	MetricsToken  = "token"  // with any valid API token
	MetricsOff    = "off"    // not served, nothing collected
)

// observability is the server's metrics and tracing.
type observability struct {
	metrics *metrics.Metrics
	tracer  *tracing.Tracer
	mode    string
}

// newObservability sets up metrics and tracing as cfg says; st is the
// store as opened (the queue gauges read it).
func newObservability(ctx context.Context, cfg *Config, st store.Store, log *slog.Logger) (*observability, error) {
	o := &observability{mode: cfg.Metrics}
	switch o.mode {
	case "":
		o.mode = MetricsPublic
	case MetricsPublic, MetricsToken, MetricsOff:
	default:
		return nil, fmt.Errorf("unknown metrics mode %q: want public, token or off", cfg.Metrics)
	}
	if o.mode != MetricsOff {
		o.metrics = metrics.New(metrics.Options{Store: st, LocalWorkers: cfg.Workers, Version: cfg.Version, Logger: log})
	}
	tr, err := tracing.New(ctx, tracing.Options{Endpoint: cfg.OTLPEndpoint, Version: cfg.Version, NodeID: cfg.NodeID})
	if err != nil {
		return nil, err
	}
	o.tracer = tr
	if tr != nil {
		log.Info("tracing on: exporting spans over OTLP/HTTP", "endpoint", cfg.OTLPEndpoint)
	}
	return o, nil
}

// observe registers the engine observers.
func (o *observability) observe(eng *engine.Engine, log *slog.Logger) {
	eng.OnCommit(logCommits(log))
	if o.metrics != nil {
		o.metrics.MeasureTriggerLatency(func(ctx context.Context, runID string) (time.Duration, bool, error) {
			rt, d, ok, err := eng.TriggerLatency(ctx, runID)
			return d, ok && rt != nil, err
		})
		eng.OnCommit(o.metrics.Observe)
	}
	if o.tracer != nil {
		eng.OnCommit(o.tracer.Observe)
	}
}

// handler serves GET /metrics beside the API.
func (o *observability) handler(api http.Handler, v *auth.Verifier) http.Handler {
	if o.metrics == nil {
		return api
	}
	mh := o.metrics.Handler()
	if o.mode == MetricsToken {
		mh = auth.Middleware(v, mh)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mh)
	mux.Handle("/", api)
	return mux
}

// shutdown flushes the spans not yet exported.
func (o *observability) shutdown(ctx context.Context, log *slog.Logger) {
	if err := o.tracer.Shutdown(ctx); err != nil {
		log.Warn("tracing: spans not exported at shutdown", "err", err)
	}
}

// logCommits logs the ends of runs (info) and, at debug level, the runs
// created and the attempts ended, with attributes naming them (run,
// workflow, task, index, attempt), so that JSON logs can be searched by run.
func logCommits(log *slog.Logger) func(*engine.Commit) {
	return func(c *engine.Commit) {
		ctx := context.Background()
		debug := log.Enabled(ctx, slog.LevelDebug)
		for _, ev := range c.Journal {
			r := c.Run(ev.RunID)
			if r == nil {
				continue
			}
			switch ev.Type {
			case "run.created":
				if debug {
					log.Debug("run created", "run", r.ID, "workflow", r.Namespace+"/"+r.Workflow, "version", r.Version, "actor", ev.Actor)
				}
			case "run.succeeded", "run.failed", "run.canceled":
				attrs := []any{"run", r.ID, "workflow", r.Namespace + "/" + r.Workflow, "status", r.Status, "run_attempt", r.Attempt,
					"cycle", r.FinishedAt.Sub(r.CreatedAt)}
				if r.Error != "" {
					attrs = append(attrs, "error", r.Error)
				}
				log.Info("run finished", attrs...)
			}
		}
		if !debug {
			return
		}
		for _, a := range c.Attempts {
			attrs := []any{"run", a.RunID, "workflow", a.Namespace + "/" + a.Workflow, "task", a.Task, "index", a.Index,
				"attempt", a.Number, "attempt_id", a.ID, "type", a.Type, "status", a.Status, "worker", a.WorkerID}
			if !a.StartedAt.IsZero() {
				attrs = append(attrs, "duration", a.FinishedAt.Sub(a.StartedAt))
			}
			if a.Error != "" {
				attrs = append(attrs, "error", a.Error)
			}
			log.Debug("attempt ended", attrs...)
		}
	}
}
