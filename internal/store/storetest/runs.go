package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testVersions(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mk := func(name, hash string) *store.WorkflowVersion {
		return &store.WorkflowVersion{
			Namespace: "ns", Name: name, Hash: hash, Spec: json.RawMessage(`{"name":"` + name + `"}`),
			Source: "name: " + name, Description: "d", CreatedAt: at(0), CreatedBy: "alice",
		}
	}
	write(t, s, func(tx store.Tx) {
		_, err := tx.VersionGet(ctx, "ns", "wf", 0)
		require.ErrorIs(t, err, store.ErrNotFound)

		v1, made, err := tx.VersionPut(ctx, mk("wf", "h1"))
		require.NoError(t, err)
		require.True(t, made)
		require.Equal(t, 1, v1.Version)
		require.Equal(t, at(0), v1.CreatedAt)

		again, made, err := tx.VersionPut(ctx, mk("wf", "h1"))
		require.NoError(t, err)
		require.False(t, made, "same hash as the latest: no new version")
		require.Equal(t, v1, again)

		v2, made, err := tx.VersionPut(ctx, mk("wf", "h2"))
		require.NoError(t, err)
		require.True(t, made)
		require.Equal(t, 2, v2.Version)

		// Only the latest version dedupes: going back to h1 is a change.
		v3, made, err := tx.VersionPut(ctx, mk("wf", "h1"))
		require.NoError(t, err)
		require.True(t, made)
		require.Equal(t, 3, v3.Version)

		noTime := mk("other", "x")
		noTime.Namespace = "ns2"
		noTime.CreatedAt = time.Time{}
		o, _, err := tx.VersionPut(ctx, noTime)
		require.NoError(t, err)
		require.Equal(t, 1, o.Version, "versions are numbered per workflow")
		require.False(t, o.CreatedAt.IsZero(), "a zero CreatedAt is set by the store")
	})
	view(t, s, func(tx store.Tx) {
		latest, err := tx.VersionGet(ctx, "ns", "wf", 0)
		require.NoError(t, err)
		require.Equal(t, 3, latest.Version)
		require.Equal(t, mk("wf", "h1").Spec, latest.Spec)

		v2, err := tx.VersionGet(ctx, "ns", "wf", 2)
		require.NoError(t, err)
		want := mk("wf", "h2")
		want.Version = 2
		require.Equal(t, want, v2)

		_, err = tx.VersionGet(ctx, "ns", "wf", 4)
		require.ErrorIs(t, err, store.ErrNotFound)

		list, err := tx.VersionList(ctx, "ns", "wf")
		require.NoError(t, err)
		require.Equal(t, []int{3, 2, 1}, versionsOf(list))
		list, err = tx.VersionList(ctx, "ns", "none")
		require.NoError(t, err)
		require.Empty(t, list)

		all, err := tx.WorkflowList(ctx, "")
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "other", all[0].Name)
		require.Equal(t, "wf", all[1].Name)
		require.Equal(t, 3, all[1].Version, "the latest version of each workflow")

		ns, err := tx.WorkflowList(ctx, "ns")
		require.NoError(t, err)
		require.Len(t, ns, 1)
		require.Equal(t, "wf", ns[0].Name)
	})
}

func versionsOf(vs []*store.WorkflowVersion) []int {
	var out []int
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

func runIDs(rs []*store.Run) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func testRuns(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("InsertGetUpdate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		r := newRun("r1", "ns", "wf", base)
		r.ParentRunID, r.ParentTask, r.ParentIndex = "p", "child", 2
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.RunInsert(ctx, r)) })

		err := s.Tx(ctx, func(tx store.Tx) error { return tx.RunInsert(ctx, newRun("r1", "ns", "wf", base)) })
		require.ErrorIs(t, err, store.ErrConflict)

		view(t, s, func(tx store.Tx) {
			got, err := tx.RunGet(ctx, "r1")
			require.NoError(t, err)
			require.Equal(t, r, got)
			require.Zero(t, got.StartedAt, "zero times stay zero")
			require.Nil(t, got.Outputs)
			_, err = tx.RunGet(ctx, "nope")
			require.ErrorIs(t, err, store.ErrNotFound)
		})

		up := *r
		up.Version = 2
		up.Status = store.RunFailed
		up.Inputs = map[string]any{"x": "y"}
		up.Outputs = map[string]any{
			"n": 3.0, "s": "x", "b": true, "null": nil,
			"list":   []any{1.0, "two", map[string]any{"three": 3.0}},
			"nested": map[string]any{"a": map[string]any{"b": []any{}}},
		}
		up.Error = "boom"
		up.Attempt = 2
		up.Compensating = true
		up.Seq = 7
		up.StartedAt = at(time.Second)
		up.FinishedAt = at(2*time.Second + time.Microsecond)
		up.Deadline = at(time.Hour)
		up.UpdatedAt = at(3 * time.Second)
		up.SLABreachedAt = at(30 * time.Minute)
		up.Revision = 41 // not written: the store increments the row's
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.RunUpdate(ctx, &up)) })
		require.EqualValues(t, 1, up.Revision, "RunUpdate increments the revision and sets it in r")
		view(t, s, func(tx store.Tx) {
			got, err := tx.RunGet(ctx, "r1")
			require.NoError(t, err)
			require.Equal(t, &up, got)
		})

		// The same status, every other field changed (a store may
		// write such an update differently).
		same := up
		same.Version, same.Inputs, same.Outputs, same.Error = 3, map[string]any{"z": 1.0}, nil, ""
		same.Attempt, same.Compensating, same.Seq = 3, false, 9
		same.StartedAt, same.FinishedAt, same.Deadline = at(4*time.Second), time.Time{}, time.Time{}
		same.UpdatedAt, same.SLABreachedAt = at(5*time.Second), time.Time{}
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.RunUpdate(ctx, &same)) })
		require.EqualValues(t, 2, same.Revision)
		view(t, s, func(tx store.Tx) {
			got, err := tx.RunGet(ctx, "r1")
			require.NoError(t, err)
			require.Equal(t, &same, got)
		})
		write(t, s, func(tx store.Tx) {
			other := newRun("r0", "ns", "wf", base)
			require.NoError(t, tx.RunInsert(ctx, other))
			// In id order, without the runs that do not exist; a run
			// without running task runs has none.
			revs, running, err := tx.RunRevisions(ctx, []string{"r1", "nope", "r0"})
			require.NoError(t, err)
			require.Equal(t, []store.RunRevision{{ID: "r0", Revision: 0, Version: other.Version}, {ID: "r1", Revision: 2, Version: 3}}, revs)
			require.Empty(t, running)
			revs, running, err = tx.RunRevisions(ctx, nil)
			require.NoError(t, err)
			require.Empty(t, revs)
			require.Empty(t, running)
		})

		// Back to zero times and nil maps.
		up2 := *r
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.RunUpdate(ctx, &up2)) })
		require.EqualValues(t, 3, up2.Revision)
		view(t, s, func(tx store.Tx) {
			got, err := tx.RunGet(ctx, "r1")
			require.NoError(t, err)
			want := *r
			want.Revision = 3
			require.Equal(t, &want, got)
		})

		// A failed transaction leaves the revision as it was.
		err = s.Tx(ctx, func(tx store.Tx) error {
			require.NoError(t, tx.RunUpdate(ctx, &up2))
			return errors.New("rollback")
		})
		require.Error(t, err)
		view(t, s, func(tx store.Tx) {
			got, err := tx.RunGet(ctx, "r1")
			require.NoError(t, err)
			require.EqualValues(t, 3, got.Revision)
		})

		err = s.Tx(ctx, func(tx store.Tx) error { return tx.RunUpdate(ctx, newRun("nope", "ns", "wf", base)) })
		require.ErrorIs(t, err, store.ErrNotFound)

		var noTime store.Run
		noTime.ID, noTime.Namespace, noTime.Workflow, noTime.Status = "r2", "ns", "wf", store.RunQueued
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.RunInsert(ctx, &noTime)) })
		require.False(t, noTime.CreatedAt.IsZero(), "a zero CreatedAt is set by the store")
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		write(t, s, func(tx store.Tx) {
			for i := range 6 {
				r := newRun(fmt.Sprintf("r%d", i), "ns", "wf", at(time.Duration(i)*time.Second))
				switch i {
				case 1:
					r.Workflow = "other"
				case 2:
					r.Namespace = "ns2"
				case 3:
					r.Status = store.RunRunning
				case 4:
					r.ParentRunID = "r3"
				}
				require.NoError(t, tx.RunInsert(ctx, r))
			}
		})
		view(t, s, func(tx store.Tx) {
			list := func(p store.RunListParams) []string {
				rs, err := tx.RunList(ctx, &p)
				require.NoError(t, err)
				return runIDs(rs)
			}
			require.Equal(t, []string{"r5", "r4", "r3", "r2", "r1", "r0"}, list(store.RunListParams{}))
			require.Equal(t, []string{"r5", "r4", "r3", "r1", "r0"}, list(store.RunListParams{Namespace: "ns"}))
			require.Equal(t, []string{"r1"}, list(store.RunListParams{Workflow: "other"}))
			require.Equal(t, []string{"r5", "r4", "r2", "r0"}, list(store.RunListParams{Namespace: "", Workflow: "wf", Status: store.RunQueued}))
			require.Equal(t, []string{"r3"}, list(store.RunListParams{Status: store.RunRunning}))
			require.Equal(t, []string{"r4"}, list(store.RunListParams{ParentID: "r3"}))
			require.Equal(t, []string{"r5", "r4"}, list(store.RunListParams{Limit: 2}))
			require.Equal(t, []string{"r3", "r2"}, list(store.RunListParams{Before: at(4 * time.Second), Limit: 2}))
			require.Equal(t, []string{"r1", "r0"}, list(store.RunListParams{Before: at(2 * time.Second)}))
			require.Equal(t, []string{}, list(store.RunListParams{Before: at(0)}))
		})
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		write(t, s, func(tx store.Tx) {
			for i := range 101 {
				require.NoError(t, tx.RunInsert(ctx, newRun(fmt.Sprintf("r%03d", i), "ns", "wf", at(time.Duration(i)*time.Millisecond))))
			}
		})
		view(t, s, func(tx store.Tx) {
			rs, err := tx.RunList(ctx, &store.RunListParams{})
			require.NoError(t, err)
			require.Len(t, rs, 100)
			require.Equal(t, "r100", rs[0].ID)
		})
	})

	t.Run("ActiveAndQueued", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		statuses := []store.RunStatus{
			store.RunRunning, store.RunQueued, store.RunWaiting, store.RunQueued,
			store.RunSucceeded, store.RunFailed, store.RunCanceled, store.RunQueued,
		}
		write(t, s, func(tx store.Tx) {
			n, err := tx.RunCountActive(ctx, "ns", "wf")
			require.NoError(t, err)
			require.Zero(t, n)
			_, err = tx.RunNextQueued(ctx, "ns", "wf")
			require.ErrorIs(t, err, store.ErrNotFound)

			// Created newest first, so insertion order is not creation order.
			for i, st := range statuses {
				r := newRun(fmt.Sprintf("r%d", i), "ns", "wf", at(-time.Duration(i)*time.Second))
				r.Status = st
				require.NoError(t, tx.RunInsert(ctx, r))
			}
			other := newRun("o", "ns", "other", at(-time.Hour))
			other.Status = store.RunRunning
			require.NoError(t, tx.RunInsert(ctx, other))
		})
		view(t, s, func(tx store.Tx) {
			n, err := tx.RunCountActive(ctx, "ns", "wf")
			require.NoError(t, err)
			require.Equal(t, 2, n)
			r, err := tx.RunNextQueued(ctx, "ns", "wf")
			require.NoError(t, err)
			require.Equal(t, "r7", r.ID, "the oldest queued run")
			_, err = tx.RunNextQueued(ctx, "ns", "other")
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	})
}

func testTaskRuns(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	b := &store.TaskRun{RunID: "r1", Task: "b", Index: -1, Status: store.TaskQueued}
	a1 := &store.TaskRun{RunID: "r1", Task: "a", Index: 1, Status: store.TaskPending}
	a0 := &store.TaskRun{
		RunID: "r1", Task: "a", Index: 0, Status: store.TaskSucceeded, Attempts: 2,
		Output: map[string]any{"stdout": "ok", "n": []any{1.0, map[string]any{"x": nil}}},
		Error:  "e", Items: 3, Seq: 4, ChildRunID: "c", WakeAt: at(time.Minute),
		StartedAt: at(time.Second), FinishedAt: at(2 * time.Second),
	}
	other := &store.TaskRun{RunID: "r2", Task: "a", Index: -1, Status: store.TaskQueued}
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.TaskRunUpsert(ctx, nil))
		require.NoError(t, tx.TaskRunUpsert(ctx, []*store.TaskRun{b, a1, a0, other}))
	})
	view(t, s, func(tx store.Tx) {
		trs, err := tx.TaskRunList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, []*store.TaskRun{a0, a1, b}, trs, "ordered by task, then index")
	})

	// Replace: every field is overwritten, including back to zero.
	a0b := &store.TaskRun{RunID: "r1", Task: "a", Index: 0, Status: store.TaskFailed, Output: "text"}
	b2 := *b
	b2.Status, b2.Attempts, b2.StartedAt = store.TaskRunning, 1, at(time.Second)
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.TaskRunUpsert(ctx, []*store.TaskRun{a0b, &b2})) })
	view(t, s, func(tx store.Tx) {
		trs, err := tx.TaskRunList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, []*store.TaskRun{a0b, a1, &b2}, trs)
	})

	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.TaskRunDelete(ctx, "r1", "a", 1))
		require.NoError(t, tx.TaskRunDelete(ctx, "r1", "a", 7), "absent: no error")
	})
	view(t, s, func(tx store.Tx) {
		trs, err := tx.TaskRunList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, []*store.TaskRun{a0b, &b2}, trs)
		trs, err = tx.TaskRunList(ctx, "r2")
		require.NoError(t, err)
		require.Equal(t, []*store.TaskRun{other}, trs)
		trs, err = tx.TaskRunList(ctx, "none")
		require.NoError(t, err)
		require.Empty(t, trs)
	})
}
