// Package store owns Legato's persistent records (workflow versions, runs,
// task runs, attempts, timers, logs, journal events) and the Store interface
// that every database driver implements. Drivers live in sub-packages
// (sqlite, later postgres) and must pass the conformance suite in storetest.
//
// All writes happen inside Tx: the engine loads a run, decides, and commits
// the new state and everything it unblocks in one transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Drivers map their database's errors to these in one place.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStaleLease: the attempt is no longer held with this lease token (it
	// expired, was re-queued, canceled or already completed). The caller must
	// drop its result: nothing was changed.
	ErrStaleLease = errors.New("stale lease")
	// ErrConflict: a uniqueness rule was broken (for instance an existing run id).
	ErrConflict = errors.New("conflict")
)

// Store is a database holding Legato's state.
type Store interface {
	// Tx runs fn in one read-write transaction and commits when fn returns
	// nil. On SQLite it is BEGIN IMMEDIATE: write transactions are
	// serialized. A driver with concurrent writers may run fn again after a
	// serialization failure or a deadlock, so fn must not keep state across
	// calls; after an error inside fn the transaction may be unusable (on
	// PostgreSQL it is aborted), so fn returns it rather than carrying on.
	Tx(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction (a consistent snapshot).
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
}

// Writers is implemented by stores that take concurrent write
// transactions: Writers says how many the engine should run at once.
// Without it, one (SQLite serializes writers anyway).
type Writers interface{ Writers() int }

// WritersOf is st's Writers, 1 when it does not say (a decorator forwards
// it with this).
func WritersOf(st Store) int {
	if w, ok := st.(Writers); ok {
		return w.Writers()
	}
	return 1
}

// Tx is the set of operations available inside a transaction. Methods are
// named entity first (River's driver style). Read methods may be used in
// View; write methods fail there.
type Tx interface {
	// VersionPut stores v unless the latest version of (namespace, name) has
	// the same Hash; it returns the stored version (with Version and
	// CreatedAt set) and whether a new one was made.
	VersionPut(ctx context.Context, v *WorkflowVersion) (*WorkflowVersion, bool, error)
	// VersionGet returns one version; version 0 means the latest.
	VersionGet(ctx context.Context, namespace, name string, version int) (*WorkflowVersion, error)
	// VersionList returns every version of a workflow, newest first.
	VersionList(ctx context.Context, namespace, name string) ([]*WorkflowVersion, error)
	// WorkflowList returns the latest version of every workflow of a
	// namespace (all namespaces when namespace is empty), by name.
	WorkflowList(ctx context.Context, namespace string) ([]*WorkflowVersion, error)

	// RunInsert stores a new run (ErrConflict if the id exists). A driver
	// may send it with the transaction's next statement, like RunUpdate:
	// the conflict is then that statement's error, or the commit's.
	RunInsert(ctx context.Context, r *Run) error
	// RunGet returns a run (ErrNotFound). Inside Tx it also locks the run
	// until the transaction ends, so that transitions of one run from
	// several servers never interleave (SQLite's single writer does that
	// by itself).
	RunGet(ctx context.Context, id string) (*Run, error)
	// RunRevisions reads the Revision and Version of the runs of ids
	// (runs not found are left out), in id order, and their running task
	// runs: what the engine checks a state it kept against (the same
	// revision is the same row) and brings it up to date with (the only
	// task-run writes that do not update the run, claims, make task runs
	// running). Inside Tx it locks the runs as RunGet does, in id order.
	// PostgreSQL reads both in one round trip.
	RunRevisions(ctx context.Context, ids []string) ([]RunRevision, []*TaskRun, error)
	// RunUpdate writes every mutable field of r (ErrNotFound) and
	// increments its Revision, in the row and in r. Like TaskRunUpsert,
	// TaskRunDelete, EventAppend and LogAppend, a driver may send it with
	// the transaction's next statement or its commit (PostgreSQL does,
	// to save round trips): its error may then come from there, and
	// r.Revision (the appended rows' Seq) is set by the time Tx returns.
	RunUpdate(ctx context.Context, r *Run) error
	// RunList returns runs matching p, newest first.
	RunList(ctx context.Context, p *RunListParams) ([]*Run, error)
	// RunCountActive counts the runs of a workflow in running or waiting status.
	RunCountActive(ctx context.Context, namespace, workflow string) (int, error)
	// RunNextQueued returns the queued run of a workflow to start next:
	// the highest Priority, then the oldest (ErrNotFound).
	RunNextQueued(ctx context.Context, namespace, workflow string) (*Run, error)
	// RunCountActiveKey counts the runs of a workflow with that
	// ConcurrencyKey in running or waiting status. Inside Tx, drivers with
	// concurrent writers first lock (namespace, workflow, key) until the
	// transaction ends, so two transactions cannot both take the last slot.
	RunCountActiveKey(ctx context.Context, namespace, workflow, key string) (int, error)
	// RunNextQueuedKey is RunNextQueued among the runs with that
	// ConcurrencyKey (ErrNotFound).
	RunNextQueuedKey(ctx context.Context, namespace, workflow, key string) (*Run, error)

	// TaskRunList returns every task run of a run.
	TaskRunList(ctx context.Context, runID string) ([]*TaskRun, error)
	// TaskRunUpsert inserts or replaces task runs, keyed by (RunID, Task, Index).
	TaskRunUpsert(ctx context.Context, trs []*TaskRun) error
	// TaskRunDelete removes one task run (a run retry resets failed ones).
	TaskRunDelete(ctx context.Context, runID, task string, index int) error

	// AttemptInsert queues a new attempt and sets its ID. Like RunUpdate,
	// a driver may send it with the transaction's next statement (a
	// foreign key's error then comes from there) and set a.ID only then:
	// by the time Tx returns, or once another statement ran in it.
	AttemptInsert(ctx context.Context, a *Attempt) error
	// AttemptNotify tells the other servers sharing the store, when the
	// transaction commits, that attempts of these queues were queued
	// (PostgreSQL: a notification per queue; SQLite, with one server:
	// nothing). The engine calls it for the attempts no worker took in
	// the same transaction.
	AttemptNotify(ctx context.Context, queues []string) error
	// AttemptGet returns one attempt (ErrNotFound).
	AttemptGet(ctx context.Context, id int64) (*Attempt, error)
	// AttemptClaim leases up to p.Limit due queued attempts of p.Queues,
	// highest Priority first, then oldest NotBefore, marking them running
	// with a fresh lease token each, and marks their task runs running
	// (StartedAt set on the first attempt). It obeys the Limits: an attempt
	// is taken only while its queue, type and resource are under their
	// MaxRunning and their buckets hold a token (taken by the claim); it
	// may then return fewer than p.Limit. Drivers with concurrent writers
	// lock the limit rows until the transaction ends.
	AttemptClaim(ctx context.Context, p *AttemptClaimParams) ([]*Attempt, error)
	// AttemptHeartbeat extends the lease of a running attempt held with
	// token until `until`; it returns whether a cancel was requested.
	// ErrStaleLease when the token no longer holds the attempt.
	AttemptHeartbeat(ctx context.Context, id int64, token string, until time.Time) (cancel bool, err error)
	// AttemptFinish moves a running attempt held with token to status
	// (succeeded or failed) with errMsg; ErrStaleLease when the token no
	// longer holds it. Status canceled is the worker acknowledging a
	// requested cancel: it is the one finish a cancel-requested attempt
	// accepts. It returns the finished attempt.
	AttemptFinish(ctx context.Context, p *AttemptFinishParams) (*Attempt, error)
	// AttemptFinishAll is AttemptFinish for several attempts at once (one
	// statement): it returns them finished, in the order given, or
	// ErrStaleLease when any token no longer holds its attempt (then the
	// transaction must not commit: some may have been finished).
	AttemptFinishAll(ctx context.Context, ps []*AttemptFinishParams) ([]*Attempt, error)
	// AttemptCancel cancels the run's queued attempts of one task run (all of
	// the run's when task is empty) and flags its running ones with
	// CancelRequested, which also makes their lease stale for completion.
	// It returns the running attempts flagged.
	AttemptCancel(ctx context.Context, runID, task string, index int) ([]*Attempt, error)
	// AttemptListExpired returns running attempts whose lease ended before now.
	AttemptListExpired(ctx context.Context, now time.Time, limit int) ([]*Attempt, error)
	// AttemptExpire marks an expired running attempt failed with errMsg if
	// it is still held with token; ErrStaleLease otherwise.
	AttemptExpire(ctx context.Context, id int64, token string, now time.Time, errMsg string) error
	// AttemptRelease marks a running attempt held with token failed with
	// errMsg whatever its lease: its holder is known to have stopped (a
	// worker shutting down, or an embedded server restarting finds the
	// attempts of its previous process). ErrStaleLease when the token no
	// longer holds it.
	AttemptRelease(ctx context.Context, id int64, token string, now time.Time, errMsg string) error
	// AttemptNextDue returns the earliest NotBefore among queued attempts of
	// the queues (and of the types, unless types is empty; zero when none),
	// so a worker knows when to look again. Attempts held back by a full
	// MaxRunning count from LimitRecheck after now (a finish elsewhere
	// frees them); those held back by an empty bucket from when it holds a
	// token again.
	AttemptNextDue(ctx context.Context, queues, types []string) (time.Time, error)

	// LimitPut creates or replaces the limit of (Kind, Name); a bucket
	// starts full. Putting the same MaxRunning, Rate and Burst again keeps
	// the bucket's state.
	LimitPut(ctx context.Context, l *Limit) error
	// LimitDelete removes a limit; absent is not an error.
	LimitDelete(ctx context.Context, kind LimitKind, name string) error
	// LimitList returns every limit by kind and name.
	LimitList(ctx context.Context) ([]*Limit, error)

	// TimerSet creates or moves the timer of (RunID, Task, Index, Kind).
	TimerSet(ctx context.Context, t *Timer) error
	// TimerDelete removes a timer; absent timers are not an error.
	TimerDelete(ctx context.Context, runID, task string, index int, kind TimerKind) error
	// TimerDeleteRun removes every timer of a run.
	TimerDeleteRun(ctx context.Context, runID string) error
	// TimerListDue returns timers with FireAt <= now, earliest first.
	TimerListDue(ctx context.Context, now time.Time, limit int) ([]*Timer, error)
	// TimerNext returns the earliest FireAt of all timers (zero when none).
	TimerNext(ctx context.Context) (time.Time, error)

	// ScheduleUpsert inserts or replaces the schedule keyed by
	// (Namespace, Workflow, Name).
	ScheduleUpsert(ctx context.Context, s *Schedule) error
	// ScheduleGet returns one schedule (ErrNotFound). Inside Tx it also
	// locks it until the transaction ends, so that a tick is decided once.
	ScheduleGet(ctx context.Context, namespace, workflow, name string) (*Schedule, error)
	// ScheduleList returns the schedules of a workflow (of a namespace when
	// workflow is empty, of all when both are), by namespace, workflow
	// and name.
	ScheduleList(ctx context.Context, namespace, workflow string) ([]*Schedule, error)
	// ScheduleDelete removes a schedule; absent is not an error.
	ScheduleDelete(ctx context.Context, namespace, workflow, name string) error
	// ScheduleListDue returns the schedules not paused whose NextFireAt
	// is set and at or before now, earliest first.
	ScheduleListDue(ctx context.Context, now time.Time, limit int) ([]*Schedule, error)
	// ScheduleNext returns the earliest NextFireAt of the schedules not
	// paused (zero when none).
	ScheduleNext(ctx context.Context) (time.Time, error)

	// LogAppend stores log lines (Seq assigned by the store, increasing).
	LogAppend(ctx context.Context, lines []*LogLine) error
	// LogList returns a run's lines with Seq > afterSeq, in order; task ""
	// means every task, index < -1 every index.
	LogList(ctx context.Context, p *LogListParams) ([]*LogLine, error)

	// EventAppend appends journal events (Seq assigned by the store).
	EventAppend(ctx context.Context, evs []*Event) error
	// EventList returns a run's events with Seq > afterSeq, in order.
	EventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*Event, error)

	// NodeHeartbeat records that a server node is alive: it inserts the
	// node (keeping StartedAt as given) or updates its address, version and
	// HeartbeatAt.
	NodeHeartbeat(ctx context.Context, n *Node) error
	// NodeList returns the nodes whose HeartbeatAt is at or after since,
	// by ID.
	NodeList(ctx context.Context, since time.Time) ([]*Node, error)
	// NodeDelete removes a node (a graceful stop); absent is not an error.
	NodeDelete(ctx context.Context, id string) error
	// NodePrune removes the nodes whose HeartbeatAt is before `before` and
	// returns how many.
	NodePrune(ctx context.Context, before time.Time) (int, error)

	// DutyAcquire takes or renews the singleton duty `name` for holder
	// until now+ttl when it is free, expired (ExpiresAt <= now) or already
	// held by holder. Fence grows by one each time the holder changes. It
	// returns the duty as it stands after the call: held by someone else
	// when it could not be taken.
	DutyAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (*Duty, error)
	// DutyGet returns a duty as it stands (ErrNotFound when never taken).
	DutyGet(ctx context.Context, name string) (*Duty, error)
	// DutyRelease frees the duty when holder holds it (a graceful stop), so
	// another node takes it at once; otherwise it does nothing.
	DutyRelease(ctx context.Context, name, holder string) error
	// DutyCheck fences the work of a duty: it returns ErrStaleLease unless
	// holder holds the duty with that fence and it has not expired at now.
	// Until the transaction ends, no other holder can take the duty over
	// (drivers with concurrent writers lock the duty row).
	DutyCheck(ctx context.Context, name, holder string, fence int64, now time.Time) error

	// RunKeyPut binds an idempotency key of a workflow to runID unless the
	// key is bound already; it returns the run id the key is bound to
	// (runID when it was free). Concurrent callers with the same key are
	// serialized: exactly one binds it.
	RunKeyPut(ctx context.Context, namespace, workflow, key, runID string, at time.Time) (string, error)
	// RunTriggerPut records what started a run; RunTriggerGet returns it
	// (ErrNotFound for runs started through the API).
	RunTriggerPut(ctx context.Context, rt *RunTrigger) error
	RunTriggerGet(ctx context.Context, runID string) (*RunTrigger, error)

	// InboxInsert stores an event unless one with the same (Source, ID)
	// exists; it returns the stored event (Seq and ReceivedAt set) and
	// whether it is new. Inside Tx it serializes with EventWaitPut of the
	// same (Namespace, Type) until the transaction ends, so a wait that
	// begins while an event arrives sees the event or is seen by it.
	InboxInsert(ctx context.Context, ev *InboxEvent) (*InboxEvent, bool, error)
	// InboxPrune deletes up to limit events received before `before`,
	// oldest first, and returns how many (retention: an event redelivered
	// after it is pruned counts as new).
	InboxPrune(ctx context.Context, before time.Time, limit int) (int, error)
	// InboxList returns events matching p, by Seq.
	InboxList(ctx context.Context, p *InboxListParams) ([]*InboxEvent, error)
	// EventWaitPut creates or replaces the wait of (RunID, Task, Index)
	// (serialized with InboxInsert, see there).
	EventWaitPut(ctx context.Context, w *EventWait) error
	// EventWaitDelete removes a wait; absent is not an error.
	EventWaitDelete(ctx context.Context, runID, task string, index int) error
	// EventWaitList returns the waits for events of typ in namespace,
	// oldest first.
	EventWaitList(ctx context.Context, namespace, typ string) ([]*EventWait, error)
	// NotificationInsert adds notifications to the outbox (IDs set by the
	// store) and wakes the scheduler duty's holder as TimerSet does.
	NotificationInsert(ctx context.Context, ns []*Notification) error
	// NotificationListDue returns pending notifications with NextAt <= now,
	// earliest first.
	NotificationListDue(ctx context.Context, now time.Time, limit int) ([]*Notification, error)
	// NotificationNextDue returns the earliest NextAt of the pending
	// notifications (zero when none).
	NotificationNextDue(ctx context.Context) (time.Time, error)
	// NotificationUpdate writes the Status, Attempts, NextAt, LastError and
	// FinishedAt of a notification that is still pending; ErrNotFound when
	// it is absent or no longer pending (delivered or given up meanwhile).
	NotificationUpdate(ctx context.Context, n *Notification) error
	// NotificationList returns the notifications of a run, by ID.
	NotificationList(ctx context.Context, runID string) ([]*Notification, error)

	// KVGet and KVPut hold small server settings (for instance the admin
	// token's hash). KVGet returns ErrNotFound when absent.
	KVGet(ctx context.Context, key string) (string, error)
	KVPut(ctx context.Context, key, value string) error

	// QueueStats returns the queued work of every queue that has queued
	// attempts, by queue name; OldestDue considers attempts due at now.
	QueueStats(ctx context.Context, now time.Time) ([]*QueueStat, error)
	// RunStats returns the figures of each workflow with runs created in
	// the window, by namespace and workflow.
	RunStats(ctx context.Context, p *StatsParams) ([]*WorkflowStats, error)
	// TaskStats returns the durations of each task of the runs created in
	// the window, by namespace, workflow and task.
	TaskStats(ctx context.Context, p *StatsParams) ([]*TaskStats, error)
}

// RunListParams filters RunList.
type RunListParams struct {
	Namespace string
	Workflow  string
	Status    RunStatus
	ParentID  string
	// Before pages backwards: only runs created before this time (zero: no bound).
	Before time.Time
	// Limit bounds the result (0 means 100).
	Limit int
}

// AttemptClaimParams says what a worker claims.
type AttemptClaimParams struct {
	Queues []string
	// Types, when not empty, limits the claim to attempts of these task
	// types (a worker claims only what it can execute).
	Types    []string
	WorkerID string
	Limit    int
	Now      time.Time
	// LeaseFor is the lease length from Now.
	LeaseFor time.Duration
}

// AttemptFinishParams completes an attempt.
type AttemptFinishParams struct {
	ID     int64
	Token  string
	Status AttemptStatus
	Error  string
	Now    time.Time
}

// LogListParams filters LogList.
type LogListParams struct {
	RunID    string
	Task     string
	Index    int
	AfterSeq int64
	Limit    int
}

// FinishedInOrder returns the attempts an AttemptFinishAll finished in the
// order of ps, or ErrStaleLease naming the first one that was not (a
// driver's helper).
func FinishedInOrder(ps []*AttemptFinishParams, done []*Attempt) ([]*Attempt, error) {
	byID := make(map[int64]*Attempt, len(done))
	for _, a := range done {
		byID[a.ID] = a
	}
	out := make([]*Attempt, len(ps))
	for i, p := range ps {
		a := byID[p.ID]
		if a == nil {
			return nil, fmt.Errorf("attempt %d finish: %w", p.ID, ErrStaleLease)
		}
		delete(byID, p.ID) // the same attempt twice: the second is stale
		out[i] = a
	}
	return out, nil
}

// QualifyColumns prefixes each column of a comma-separated list with a
// table or alias (a driver's helper for RETURNING and joins).
func QualifyColumns(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
