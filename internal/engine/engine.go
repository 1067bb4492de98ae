// Package engine owns how runs move: a pure decision core (Decide: state +
// event → new state + commands) and the shell around it (Engine), which
// loads a run, decides and commits the result in one store transaction.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Errors the engine returns; the API maps them to codes.
var (
	// ErrWorkflowNotFound: no such workflow (or version) in the namespace.
	ErrWorkflowNotFound = errors.New("workflow not found")
	// ErrRunNotFound: no run with that id.
	ErrRunNotFound = errors.New("run not found")
	// ErrInvalidState: the run's status does not allow the operation (for
	// instance retrying a run that succeeded).
	ErrInvalidState = errors.New("invalid state for this operation")
)

// InputError lists what is wrong with a run's inputs.
type InputError struct{ Problems []string }

func (e *InputError) Error() string {
	return fmt.Sprintf("invalid inputs: %s", joinProblems(e.Problems))
}

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// NewID makes run ids (UUIDv7: time-ordered).
	NewID func() string
	// Env is the allow-listed environment expressions see as `env`.
	Env map[string]string
	// Node describes this node to the others sharing the store (default
	// ID "local").
	Node NodeInfo
	// EventRetention is how long received events are kept (default 7
	// days; negative: forever). Deduplication by source and id, and a
	// wait_event's look-back, see only events still kept.
	EventRetention time.Duration
	// Sender delivers the outbox's notifications (nil: none are sent;
	// they stay pending).
	Sender Sender
	// Delivery tunes notification retries.
	Delivery DeliveryOptions
	// Channels are the notification channels the server is configured
	// with: when not nil, Apply rejects a workflow whose notify rules
	// name others. Nil means unknown: names are checked at delivery.
	Channels []string
}

// Engine is the imperative shell around Decide.
type Engine struct {
	store  store.Store
	log    *slog.Logger
	now    func() time.Time
	newID  func() string
	env    map[string]string
	specMu sync.Mutex
	specs  map[specKey]*spec.Workflow

	notifyMu  sync.Mutex
	onEnqueue []func()
	onTimer   []func()
	onCancel  []func(attemptIDs []int64)
	onFinish  []func(runIDs []string)
	onCommit  []func(*Commit)
	// work is closed and replaced when attempts are queued (WorkSignal).
	work chan struct{}

	// batch is the group commit of starts and completions (batch.go).
	batch batcher
	localState
	// states keeps runs' states between transactions (statecache.go).
	states stateCache

	node      NodeInfo
	started   time.Time
	retention time.Duration
	dutyMu    sync.Mutex
	duty      dutyState

	sender   Sender
	delivery DeliveryOptions
	channels []string
}

type specKey struct {
	ns, name string
	version  int
}

// New makes an engine over st.
func New(st store.Store, o Options) *Engine {
	e := &Engine{store: st, log: o.Logger, now: o.Now, newID: o.NewID, env: o.Env, specs: map[specKey]*spec.Workflow{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	clock := e.now
	if clock == nil {
		clock = time.Now
	}
	// The engine's times are to the microsecond, as both stores keep
	// them: the states it keeps, what it answers and what its observers
	// see are what a read of the store gives.
	e.now = func() time.Time { return clock().Truncate(time.Microsecond) }
	if e.newID == nil {
		e.newID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	e.batch.e, e.batch.writers = e, store.WritersOf(st)
	e.retention = o.EventRetention
	if e.retention == 0 {
		e.retention = DefaultEventRetention
	}
	e.node = o.Node
	if e.node.ID == "" {
		e.node.ID = "local"
	}
	e.started = e.now().UTC()
	e.sender, e.delivery, e.channels = o.Sender, o.Delivery.withDefaults(), o.Channels
	return e
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Now returns the engine's clock reading.
func (e *Engine) Now() time.Time { return e.now() }

// OnEnqueue registers f to be called after a commit that queued attempts
// (in-process workers wake on it instead of polling).
func (e *Engine) OnEnqueue(f func()) {
	e.notifyMu.Lock()
	e.onEnqueue = append(e.onEnqueue, f)
	e.notifyMu.Unlock()
}

// OnTimer registers f to be called after a commit that set a timer.
func (e *Engine) OnTimer(f func()) {
	e.notifyMu.Lock()
	e.onTimer = append(e.onTimer, f)
	e.notifyMu.Unlock()
}

// OnCancel registers f to be told which running attempts were asked to stop.
func (e *Engine) OnCancel(f func([]int64)) {
	e.notifyMu.Lock()
	e.onCancel = append(e.onCancel, f)
	e.notifyMu.Unlock()
}

// OnRunFinished registers f to be told which runs reached a final status
// in a commit (waiters wake on it instead of polling).
func (e *Engine) OnRunFinished(f func(runIDs []string)) {
	e.notifyMu.Lock()
	e.onFinish = append(e.onFinish, f)
	e.notifyMu.Unlock()
}

// Poke tells the engine that another node queued attempts (work) or set
// timers, as a store notification reports: local claimers and the timer
// loop look again.
func (e *Engine) Poke(work, timers bool) {
	e.announce(&effects{enqueued: work, timers: timers})
}

// Apply stores a validated workflow as a new version unless its latest
// version has the same content; a new version's cron triggers replace the
// workflow's schedules in the same transaction.
func (e *Engine) Apply(ctx context.Context, w *spec.Workflow, source, actor string) (*store.WorkflowVersion, bool, error) {
	if e.channels != nil {
		if errs := w.UnknownChannels(e.channels); len(errs) > 0 {
			return nil, false, errs
		}
	}
	js, err := json.Marshal(w)
	if err != nil {
		return nil, false, fmt.Errorf("encode workflow: %w", err)
	}
	v := &store.WorkflowVersion{
		Namespace: w.Namespace, Name: w.Name, Hash: hashOf(js), Spec: js, Source: source,
		Description: w.Description, CreatedAt: e.now().UTC(), CreatedBy: actor,
	}
	var out *store.WorkflowVersion
	var created bool
	err = e.tx(ctx, func(tx store.Tx, fx *effects) error {
		var err error
		out, created, err = tx.VersionPut(ctx, v)
		if err != nil {
			return err
		}
		// Identical content finds its schedules in step and changes
		// nothing; a new version replaces them.
		return e.syncSchedules(ctx, tx, fx, w, out.Version, actor)
	})
	return out, created, err
}

// workflow returns the parsed spec of a stored version (cached: versions
// are immutable).
func (e *Engine) workflow(ctx context.Context, tx store.Tx, ns, name string, version int) (*spec.Workflow, *store.WorkflowVersion, error) {
	if version > 0 {
		if w := e.cachedSpec(specKey{ns, name, version}); w != nil {
			return w, nil, nil
		}
	}
	v, err := tx.VersionGet(ctx, ns, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %s/%s", ErrWorkflowNotFound, ns, name)
	}
	if err != nil {
		return nil, nil, err
	}
	if w := e.cachedSpec(specKey{ns, name, v.Version}); w != nil {
		// The latest version, already decoded: a start of a workflow by
		// name (version 0) reads which version is the latest.
		return w, v, nil
	}
	w := new(spec.Workflow)
	if err := json.Unmarshal(v.Spec, w); err != nil {
		return nil, nil, fmt.Errorf("decode workflow %s/%s v%d: %w", ns, name, v.Version, err)
	}
	e.specMu.Lock()
	if len(e.specs) > 10000 {
		clear(e.specs)
	}
	e.specs[specKey{ns, name, v.Version}] = w
	e.specMu.Unlock()
	return w, v, nil
}

// cachedSpec returns the parsed spec of a version if the engine has it.
func (e *Engine) cachedSpec(k specKey) *spec.Workflow {
	e.specMu.Lock()
	defer e.specMu.Unlock()
	return e.specs[k]
}

// effects collects what to announce after a commit.
type effects struct {
	// enqueued: attempts were queued; workers are woken unless every one
	// of them was handed to a worker in the same transaction (handOff).
	enqueued bool
	// queued and handedIDs are the attempts queued, and those claimed by
	// a hand-off, in the transaction. A queued attempt's ID may be zero
	// until the transaction's next statement (store.Tx.AttemptInsert):
	// only a statement, such as a claim, hands attempts over.
	queuedAttempts []*store.Attempt
	handedIDs      map[int64]bool
	// committed are called once the transaction has committed, before its
	// states are kept for other transactions.
	committed []func()
	// latest is the latest version of the workflows the transaction
	// started runs of without naming one, by namespace and name.
	latest map[string]int
	// The local worker's reservation and what was claimed for it.
	localWorker LocalWorker
	local       []*store.Attempt
	reserved    int
	timers      bool
	canceled    []int64
	finished    []string
	// states caches the runs this transaction loaded (see load).
	states map[string]*State
	// changed lists the task runs the transaction wrote (repeats
	// included), for OnCommit.
	changed []*store.TaskRun
	// events and attempts are the journal appended and the attempts
	// ended, for OnCommit.
	events   []*store.Event
	attempts []*store.Attempt
	created  map[string]*store.Run
}

func (e *Engine) announce(fx *effects) {
	e.notifyMu.Lock()
	defer e.notifyMu.Unlock()
	if fx.enqueued && !fx.allHanded() {
		if e.work != nil {
			close(e.work)
			e.work = nil
		}
		for _, f := range e.onEnqueue {
			f()
		}
	}
	if fx.timers {
		for _, f := range e.onTimer {
			f()
		}
	}
	if len(fx.canceled) > 0 {
		for _, f := range e.onCancel {
			f(fx.canceled)
		}
	}
	if len(fx.finished) > 0 {
		for _, f := range e.onFinish {
			f(fx.finished)
		}
	}
}

// queued records an attempt queued in the transaction.
func (fx *effects) queued(a *store.Attempt) {
	fx.enqueued = true
	fx.queuedAttempts = append(fx.queuedAttempts, a)
}

// unhandedQueues lists the queues of the attempts the transaction queued
// and no worker took in it: other servers' workers are told of those.
func (fx *effects) unhandedQueues() []string {
	var out []string
	for _, a := range fx.queuedAttempts {
		if !fx.handedIDs[a.ID] && !slices.Contains(out, a.Queue) {
			out = append(out, a.Queue)
		}
	}
	return out
}

// handed records attempts a hand-off claimed in the transaction.
func (fx *effects) handed(as []*store.Attempt) {
	if len(as) > 0 && fx.handedIDs == nil {
		fx.handedIDs = map[int64]bool{}
	}
	for _, a := range as {
		fx.handedIDs[a.ID] = true
	}
}

// unhanded counts the attempts the transaction queued that no worker
// took in it.
func (fx *effects) unhanded() int {
	n := 0
	for _, a := range fx.queuedAttempts {
		if !fx.handedIDs[a.ID] {
			n++
		}
	}
	return n
}

// allHanded reports whether every attempt the transaction queued went to
// a worker in it: then no claimer needs waking. (Poke queues none it
// knows of, and always wakes.)
func (fx *effects) allHanded() bool { return len(fx.queuedAttempts) > 0 && fx.unhanded() == 0 }

// tx runs fn in a write transaction and announces its effects after commit.
func (e *Engine) tx(ctx context.Context, fn func(tx store.Tx, fx *effects) error) error {
	var fx effects
	err := e.store.Tx(ctx, func(tx store.Tx) error {
		fx.deliverLocal(false) // a driver running fn again: free the last try's slots
		fx = effects{}
		if err := fn(tx, &fx); err != nil {
			return err
		}
		if err := e.localHandOff(ctx, tx, &fx); err != nil {
			return err
		}
		return tx.AttemptNotify(ctx, fx.unhandedQueues())
	})
	fx.deliverLocal(err == nil)
	if err == nil {
		for _, f := range fx.committed {
			f()
		}
		e.announce(&fx)
		e.commitObservers(&fx)
		e.states.keep(fx.states)
	}
	return err
}
