// Package metrics owns Legato's Prometheus metrics: one registry per server
// (never the global default, so that tests run several servers in one
// process), the collectors, and the /metrics handler. Run and task figures
// come from the engine's commits (engine.OnCommit), queue figures from the
// store at scrape time, store latency from a timing decorator (WrapStore).
//
// A nil *Metrics is valid and records nothing: code that reports to it
// (SLA breaches, event-to-start latency) need not check.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// Options configure Metrics. Zero values take the defaults.
type Options struct {
	// Store is read at scrape time for the queue gauges (none when nil).
	Store store.Store
	// LocalWorkers is the number of attempts the in-process workers run
	// at once (0: none).
	LocalWorkers int
	// Version is reported by legato_build_info.
	Version string
	// RemoteWindow is how recently a remote worker must have claimed or
	// heartbeated to count (default one minute).
	RemoteWindow time.Duration
	Logger       *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// TriggerLatency, when set, returns the time from the arrival of the
	// webhook call or event that started a run to its first task's start
	// (ok false when the run was not so started, or no task started); it
	// feeds the event-to-start histogram when such a run finishes.
	TriggerLatency func(ctx context.Context, runID string) (d time.Duration, ok bool, err error)
}

// Metrics holds a server's registry and collectors.
type Metrics struct {
	// latencyBusy is set while trigger latencies are being read.
	latencyBusy atomic.Bool

	reg  *prometheus.Registry
	st   store.Store
	log  *slog.Logger
	now  func() time.Time
	opts Options

	runsStarted  *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	taskDuration *prometheus.HistogramVec
	txDuration   *prometheus.HistogramVec
	slaBreaches  *prometheus.CounterVec
	eventToStart prometheus.Histogram

	seenMu sync.Mutex
	seen   map[string]time.Time // remote worker id → last claim or heartbeat
}

// Buckets of the duration histograms, in seconds.
var (
	taskBuckets   = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	commitBuckets = []float64{0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
)

// New makes the registry and its collectors.
func New(o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RemoteWindow <= 0 {
		o.RemoteWindow = time.Minute
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(), st: o.Store, log: o.Logger, now: o.Now, opts: o,
		seen: map[string]time.Time{},
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legato_runs_started_total",
			Help: "Runs created (started or queued behind a concurrency limit), by workflow.",
		}, []string{"namespace", "workflow"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legato_runs_finished_total",
			Help: "Runs that reached a final status (succeeded, failed, canceled), by workflow and status; a retried run counts again when it ends again.",
		}, []string{"namespace", "workflow", "status"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "legato_task_duration_seconds",
			Help:    "Duration of task attempts from claim to end, by task type and attempt status (succeeded, failed, canceled).",
			Buckets: taskBuckets,
		}, []string{"type", "status"}),
		txDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "legato_store_transaction_duration_seconds",
			Help:    "Duration of store transactions including their commit, by kind (write or read) and outcome (ok or error).",
			Buckets: commitBuckets,
		}, []string{"kind", "outcome"}),
		slaBreaches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legato_sla_breaches_total",
			Help: "SLA breaches recorded, by workflow and kind (run: the run's deadline; task: a task's duration).",
		}, []string{"namespace", "workflow", "kind"}),
		eventToStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "legato_event_to_start_seconds",
			Help:    "Latency from an event's arrival to the first task of the run it started starting.",
			Buckets: taskBuckets,
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.runsStarted, m.runsFinished, m.taskDuration, m.txDuration, m.slaBreaches, m.eventToStart,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "legato_build_info",
			Help:        "Always 1; the version label is the build's.",
			ConstLabels: prometheus.Labels{"version": versionOr(o.Version)},
		}, func() float64 { return 1 }),
		&scrapeCollector{m: m},
	)
	return m
}

func versionOr(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// Registry returns the server's registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or OpenMetrics,
// when asked) format. A failed collection is logged and the rest served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Observe feeds the run and task metrics from one engine commit; register
// it with engine.OnCommit.
func (m *Metrics) Observe(c *engine.Commit) {
	var triggeredRuns []string
	for _, ev := range c.Journal {
		run := c.Run(ev.RunID)
		if run == nil {
			continue
		}
		switch ev.Type {
		case "run.created":
			m.runsStarted.WithLabelValues(run.Namespace, run.Workflow).Inc()
		case "run.succeeded", "run.failed", "run.canceled":
			m.runsFinished.WithLabelValues(run.Namespace, run.Workflow, ev.Type[len("run."):]).Inc()
			if triggered(run.CreatedBy) {
				triggeredRuns = append(triggeredRuns, run.ID)
			}
		case "run.sla_breached":
			m.SLABreach(run.Namespace, run.Workflow, "run")
		case "task.sla_breached":
			m.SLABreach(run.Namespace, run.Workflow, "task")
		}
	}
	m.measureTriggerLatency(triggeredRuns)
	for _, a := range c.Attempts {
		if a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
			continue
		}
		m.taskDuration.WithLabelValues(a.Type, string(a.Status)).Observe(a.FinishedAt.Sub(a.StartedAt).Seconds())
	}
}

// MeasureTriggerLatency sets Options.TriggerLatency (for a server that
// builds its metrics before its engine). Call it before the first commit.
func (m *Metrics) MeasureTriggerLatency(f func(ctx context.Context, runID string) (time.Duration, bool, error)) {
	if m != nil {
		m.opts.TriggerLatency = f
	}
}

// triggered reports whether a run's creator is a webhook or an event.
func triggered(createdBy string) bool {
	return strings.HasPrefix(createdBy, "webhook:") || strings.HasPrefix(createdBy, "event:")
}

// measureTriggerLatency reads, off the commit path, the event-to-start
// latency of finished runs a webhook or an event started. At most one
// reader runs at a time; runs finishing while it is busy are not measured
// (the histogram samples them).
func (m *Metrics) measureTriggerLatency(runIDs []string) {
	if len(runIDs) == 0 || m.opts.TriggerLatency == nil || !m.latencyBusy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.latencyBusy.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range runIDs {
			d, ok, err := m.opts.TriggerLatency(ctx, id)
			if err != nil {
				m.log.Warn("metrics: read a run's trigger latency", "run", id, "err", err)
				return
			}
			if ok {
				m.ObserveEventToStart(d)
			}
		}
	}()
}

// SLABreach counts one SLA breach of a workflow's run (kind "run") or of
// one of its tasks (kind "task").
func (m *Metrics) SLABreach(namespace, workflow, kind string) {
	if m == nil {
		return
	}
	m.slaBreaches.WithLabelValues(namespace, workflow, kind).Inc()
}

// ObserveEventToStart records the latency from an event's arrival to the
// first task of the run it started starting.
func (m *Metrics) ObserveEventToStart(d time.Duration) {
	if m == nil {
		return
	}
	m.eventToStart.Observe(d.Seconds())
}

// WorkerSeen records that a remote worker claimed or heartbeated.
func (m *Metrics) WorkerSeen(id string) {
	if m == nil || id == "" {
		return
	}
	now := m.now()
	m.seenMu.Lock()
	m.seen[id] = now
	m.seenMu.Unlock()
}

// remoteWorkers counts the remote workers seen within the window and
// forgets the others.
func (m *Metrics) remoteWorkers() int {
	cut := m.now().Add(-m.opts.RemoteWindow)
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	for id, at := range m.seen {
		if at.Before(cut) {
			delete(m.seen, id)
		}
	}
	return len(m.seen)
}

// scrapeCollector reads the figures that are asked at scrape time: the
// queues from the store and the worker counts.
type scrapeCollector struct{ m *Metrics }

var (
	queueDepthDesc = prometheus.NewDesc("legato_queue_depth",
		"Queued attempts of a queue, due or not (read from the store at scrape time; the default queue is always reported).", []string{"queue"}, nil)
	queueAgeDesc = prometheus.NewDesc("legato_queue_oldest_waiting_seconds",
		"How long the oldest due attempt of a queue has waited for a worker (0 when none is due).", []string{"queue"}, nil)
	workersDesc = prometheus.NewDesc("legato_workers",
		"Workers: kind in_process is the attempts this server's in-process workers run at once; kind remote the remote workers that claimed or heartbeated on this server within the last minute.", []string{"kind"}, nil)
)

// scrapeTimeout bounds the store read of one scrape.
const scrapeTimeout = 5 * time.Second

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
	ch <- workersDesc
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(m.opts.LocalWorkers), "in_process")
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(m.remoteWorkers()), "remote")
	if m.st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	now := m.now().UTC()
	var qs []*store.QueueStat
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		qs, err = tx.QueueStats(ctx, now)
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	hasDefault := false
	for _, q := range qs {
		hasDefault = hasDefault || q.Queue == "default"
		age := 0.0
		if !q.OldestDue.IsZero() {
			age = max(now.Sub(q.OldestDue).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.Depth), q.Queue)
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age, q.Queue)
	}
	if !hasDefault {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, 0, "default")
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, 0, "default")
	}
}
