// Package storetest is the conformance suite of store.Store: every driver
// runs Exercise (and ExerciseReopen) against a real database.
//
// The suite is driver-neutral: it orders by the timestamps and sequence
// numbers the interface defines, never by physical row order. It requires
// times to round-trip at microsecond precision and to come back in UTC (a
// zero time stays zero); JSON values come back as encoding/json decodes them
// into any (numbers as float64).
//
// Contracts the interface leaves open and the suite fixes:
//   - a limit <= 0 means no limit, except RunListParams.Limit (0 means 100);
//   - RunInsert, AttemptInsert and VersionPut set a zero CreatedAt to the
//     current time; AttemptInsert sets a zero Status to queued and a zero
//     NotBefore to CreatedAt;
//   - AttemptFinish returns the finished attempt (its new status, error and
//     FinishedAt) and accepts succeeded, failed, or canceled (the only one a
//     cancel-requested attempt takes);
//   - a lease holds while the attempt is running with that token and no
//     cancel was requested; an expired lease still holds until
//     AttemptExpire takes it (exactly one of the worker's finish and the
//     reaper's expire wins);
//   - AttemptHeartbeat on a cancel-requested attempt returns cancel=true and
//     no error, without extending the lease;
//   - AttemptExpire only takes an attempt whose lease ended before now;
//   - the children of a run (task runs, attempts, timers, logs, events)
//     may require the run to exist, so the suite always creates it first.
package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// Exercise runs every subtest of the suite; each calls open for a fresh,
// empty store, which open closes with t.Cleanup.
func Exercise(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Versions", func(t *testing.T) { t.Parallel(); testVersions(t, open) })
	t.Run("Runs", func(t *testing.T) { t.Parallel(); testRuns(t, open) })
	t.Run("TaskRuns", func(t *testing.T) { t.Parallel(); testTaskRuns(t, open) })
	t.Run("Attempts", func(t *testing.T) { t.Parallel(); testAttempts(t, open) })
	t.Run("Leases", func(t *testing.T) { t.Parallel(); testLeases(t, open) })
	t.Run("Timers", func(t *testing.T) { t.Parallel(); testTimers(t, open) })
	t.Run("Schedules", func(t *testing.T) { t.Parallel(); testSchedules(t, open) })
	t.Run("Logs", func(t *testing.T) { t.Parallel(); testLogs(t, open) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, open) })
	t.Run("KV", func(t *testing.T) { t.Parallel(); testKV(t, open) })
	t.Run("Nodes", func(t *testing.T) { t.Parallel(); testNodes(t, open) })
	t.Run("Duties", func(t *testing.T) { t.Parallel(); testDuties(t, open) })
	t.Run("Tx", func(t *testing.T) { t.Parallel(); testTx(t, open) })
	t.Run("RunKeys", func(t *testing.T) { t.Parallel(); testRunKeys(t, open) })
	t.Run("Inbox", func(t *testing.T) { t.Parallel(); testInbox(t, open) })
	t.Run("InboxPrune", func(t *testing.T) { t.Parallel(); testInboxPrune(t, open) })
	t.Run("EventWaits", func(t *testing.T) { t.Parallel(); testEventWaits(t, open) })
	t.Run("Outbox", func(t *testing.T) { t.Parallel(); testOutbox(t, open) })
	t.Run("QueueStats", func(t *testing.T) { t.Parallel(); testQueueStats(t, open) })
	t.Run("Stats", func(t *testing.T) { t.Parallel(); testStats(t, open) })
	t.Run("Priority", func(t *testing.T) { t.Parallel(); testPriority(t, open) })
	t.Run("Limits", func(t *testing.T) { t.Parallel(); testLimits(t, open) })
}

// ExerciseReopen checks that committed data survives Close and a new open.
// openAt opens the database called name (creating it when new): two calls
// with the same name within one test reach the same data. The suite closes
// each store it opens itself.
func ExerciseReopen(t *testing.T, openAt func(t *testing.T, name string) store.Store) {
	ctx := t.Context()
	s := openAt(t, "reopen")
	run := newRun("r1", "ns", "wf", base)
	err := s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RunInsert(ctx, run); err != nil {
			return err
		}
		return tx.KVPut(ctx, "k", "v")
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = openAt(t, "reopen")
	defer func() { require.NoError(t, s.Close()) }()
	view(t, s, func(tx store.Tx) {
		got, err := tx.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, run, got)
		v, err := tx.KVGet(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "v", v)
	})
	// A reopened store takes writes.
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.KVPut(ctx, "k", "w")) })
}

// base is the suite's clock origin: not UTC, with microseconds, so drivers
// must convert and keep precision.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.FixedZone("X", 3600))

// at returns base + d in UTC, as a store returns it.
func at(d time.Duration) time.Time { return base.Add(d).UTC() }

// write runs fn in a committed transaction; fn fails the test itself.
func write(t *testing.T, s store.Store, fn func(tx store.Tx)) {
	t.Helper()
	require.NoError(t, s.Tx(t.Context(), func(tx store.Tx) error { fn(tx); return nil }))
}

// view runs fn in a read-only transaction.
func view(t *testing.T, s store.Store, fn func(tx store.Tx)) {
	t.Helper()
	require.NoError(t, s.View(t.Context(), func(tx store.Tx) error { fn(tx); return nil }))
}

func newRun(id, ns, wf string, created time.Time) *store.Run {
	return &store.Run{
		ID: id, Namespace: ns, Workflow: wf, Version: 1, Status: store.RunQueued,
		Inputs:    map[string]any{"order": "o-1", "amount": 12.5},
		Attempt:   1,
		CreatedAt: created.UTC(), CreatedBy: "alice", UpdatedAt: created.UTC(),
	}
}

// insertRuns commits runs with the given ids, created a second apart.
func insertRuns(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	write(t, s, func(tx store.Tx) {
		for i, id := range ids {
			require.NoError(t, tx.RunInsert(t.Context(), newRun(id, "ns", "wf", at(time.Duration(i)*time.Second))))
		}
	})
}
