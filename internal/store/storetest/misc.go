package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func testTimers(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	sleep := &store.Timer{RunID: "r1", Task: "nap", Index: -1, Kind: store.TimerSleep, FireAt: at(3 * time.Second)}
	deadline := &store.Timer{RunID: "r1", Task: "", Index: -1, Kind: store.TimerRunTimeout, FireAt: at(time.Hour)}
	item := &store.Timer{RunID: "r2", Task: "nap", Index: 2, Kind: store.TimerSleep, FireAt: at(time.Second)}
	child := &store.Timer{RunID: "r2", Task: "child", Index: -1, Kind: store.TimerTaskTimeout, FireAt: at(2 * time.Second)}
	write(t, s, func(tx store.Tx) {
		next, err := tx.TimerNext(ctx)
		require.NoError(t, err)
		require.Zero(t, next, "no timers")
		for _, tm := range []*store.Timer{sleep, deadline, item, child} {
			require.NoError(t, tx.TimerSet(ctx, tm))
		}
	})
	due := func(now time.Time, limit int) []*store.Timer {
		var got []*store.Timer
		view(t, s, func(tx store.Tx) {
			var err error
			got, err = tx.TimerListDue(ctx, now, limit)
			require.NoError(t, err)
		})
		return got
	}
	require.Equal(t, []*store.Timer{item, child, sleep}, due(at(3*time.Second), 10), "FireAt <= now, earliest first")
	require.Equal(t, []*store.Timer{item}, due(at(time.Hour), 1))
	require.Empty(t, due(at(0), 10))

	// Set moves an existing timer.
	moved := *item
	moved.FireAt = at(2 * time.Hour)
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.TimerSet(ctx, &moved)) })
	require.Equal(t, []*store.Timer{child, sleep, deadline}, due(at(time.Hour), 0))
	view(t, s, func(tx store.Tx) {
		next, err := tx.TimerNext(ctx)
		require.NoError(t, err)
		require.Equal(t, at(2*time.Second), next)
	})

	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.TimerDelete(ctx, "r2", "child", -1, store.TimerTaskTimeout))
		require.NoError(t, tx.TimerDelete(ctx, "r2", "child", -1, store.TimerTaskTimeout), "absent: no error")
		require.NoError(t, tx.TimerDelete(ctx, "r1", "nap", -1, store.TimerRunTimeout), "other kind: no-op")
	})
	require.Equal(t, []*store.Timer{sleep, deadline, &moved}, due(at(3*time.Hour), 0))
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.TimerDeleteRun(ctx, "r1")) })
	require.Equal(t, []*store.Timer{&moved}, due(at(3*time.Hour), 0))
}

func testLogs(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	line := func(run, task string, index int, text string) *store.LogLine {
		return &store.LogLine{RunID: run, Task: task, Index: index, Attempt: 1, Stream: "stdout", Line: text, At: at(time.Second)}
	}
	batch1 := []*store.LogLine{line("r1", "a", -1, "a1"), line("r1", "b", 0, "b0"), line("r2", "a", -1, "x")}
	batch2 := []*store.LogLine{line("r1", "b", 1, "b1"), line("r1", "a", -1, "a2")}
	batch2[1].Stream = "stderr"
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.LogAppend(ctx, batch1)) })
	write(t, s, func(tx store.Tx) {
		require.NoError(t, tx.LogAppend(ctx, nil))
		require.NoError(t, tx.LogAppend(ctx, batch2))
	})
	all := append(append([]*store.LogLine{}, batch1...), batch2...)
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i].Seq, all[i-1].Seq, "Seq increases in append order")
	}
	list := func(p store.LogListParams) []*store.LogLine {
		var got []*store.LogLine
		view(t, s, func(tx store.Tx) {
			var err error
			got, err = tx.LogList(ctx, &p)
			require.NoError(t, err)
		})
		return got
	}
	r1 := []*store.LogLine{batch1[0], batch1[1], batch2[0], batch2[1]}
	require.Equal(t, r1, list(store.LogListParams{RunID: "r1", Index: -2}))
	require.Equal(t, []*store.LogLine{batch1[0], batch2[1]}, list(store.LogListParams{RunID: "r1", Task: "a", Index: -1}))
	require.Equal(t, []*store.LogLine{batch1[1], batch2[0]}, list(store.LogListParams{RunID: "r1", Task: "b", Index: -5}))
	require.Equal(t, []*store.LogLine{batch2[0]}, list(store.LogListParams{RunID: "r1", Task: "b", Index: 1}))
	require.Equal(t, []*store.LogLine{batch1[1]}, list(store.LogListParams{RunID: "r1", Index: 0}))
	require.Equal(t, r1[2:], list(store.LogListParams{RunID: "r1", Index: -2, AfterSeq: batch1[1].Seq}))
	require.Equal(t, r1[1:3], list(store.LogListParams{RunID: "r1", Index: -2, AfterSeq: batch1[0].Seq, Limit: 2}))
	require.Empty(t, list(store.LogListParams{RunID: "r1", Index: -2, AfterSeq: batch2[1].Seq}))
	require.Equal(t, []*store.LogLine{batch1[2]}, list(store.LogListParams{RunID: "r2", Index: -2}))
}

func testEvents(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	insertRuns(t, s, "r1", "r2")
	ev := func(run, typ string, data string) *store.Event {
		e := &store.Event{RunID: run, Type: typ, Task: "a", Index: -1, Actor: "engine", At: at(time.Second)}
		if data != "" {
			e.Data = json.RawMessage(data)
		}
		return e
	}
	evs := []*store.Event{ev("r1", "run.started", `{"inputs":{"a":[1,2]}}`), ev("r2", "run.started", ""), ev("r1", "task.queued", `{}`)}
	more := []*store.Event{ev("r1", "task.succeeded", `{"output":"x"}`)}
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.EventAppend(ctx, evs)) })
	write(t, s, func(tx store.Tx) { require.NoError(t, tx.EventAppend(ctx, more)) })
	require.Greater(t, evs[2].Seq, evs[0].Seq)
	require.Greater(t, more[0].Seq, evs[2].Seq)
	view(t, s, func(tx store.Tx) {
		got, err := tx.EventList(ctx, "r1", 0, 0)
		require.NoError(t, err)
		require.Equal(t, []*store.Event{evs[0], evs[2], more[0]}, got)
		got, err = tx.EventList(ctx, "r1", evs[0].Seq, 1)
		require.NoError(t, err)
		require.Equal(t, []*store.Event{evs[2]}, got)
		got, err = tx.EventList(ctx, "r2", 0, 10)
		require.NoError(t, err)
		require.Equal(t, []*store.Event{evs[1]}, got)
		require.Nil(t, got[0].Data)
	})
}

func testKV(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	write(t, s, func(tx store.Tx) {
		_, err := tx.KVGet(ctx, "admin")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, tx.KVPut(ctx, "admin", "h1"))
		require.NoError(t, tx.KVPut(ctx, "other", ""))
		require.NoError(t, tx.KVPut(ctx, "admin", "h2"))
	})
	view(t, s, func(tx store.Tx) {
		v, err := tx.KVGet(ctx, "admin")
		require.NoError(t, err)
		require.Equal(t, "h2", v)
		v, err = tx.KVGet(ctx, "other")
		require.NoError(t, err)
		require.Empty(t, v)
	})
}

func testTx(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RollbackOnError", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "keep")
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx store.Tx) error {
			require.NoError(t, tx.RunInsert(ctx, newRun("r1", "ns", "wf", base)))
			require.NoError(t, tx.KVPut(ctx, "k", "v"))
			a := newAttempt("r1", "a", -1, "q", at(0))
			require.NoError(t, tx.AttemptInsert(ctx, a))
			require.NoError(t, tx.TimerSet(ctx, &store.Timer{RunID: "r1", Task: "a", Index: -1, Kind: store.TimerSleep, FireAt: at(0)}))
			r := newRun("keep", "ns", "wf", at(0))
			r.Status = store.RunFailed
			require.NoError(t, tx.RunUpdate(ctx, r))
			// Reads inside the transaction see its own writes.
			got, err := tx.KVGet(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "v", got)
			return boom
		})
		require.ErrorIs(t, err, boom)
		view(t, s, func(tx store.Tx) {
			_, err := tx.RunGet(ctx, "r1")
			require.ErrorIs(t, err, store.ErrNotFound)
			_, err = tx.KVGet(ctx, "k")
			require.ErrorIs(t, err, store.ErrNotFound)
			next, err := tx.TimerNext(ctx)
			require.NoError(t, err)
			require.Zero(t, next)
			due, err := tx.AttemptNextDue(ctx, []string{"q"}, nil)
			require.NoError(t, err)
			require.Zero(t, due)
			r, err := tx.RunGet(ctx, "keep")
			require.NoError(t, err)
			require.Equal(t, store.RunQueued, r.Status)
		})
	})

	t.Run("ViewIsReadOnly", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insertRuns(t, s, "r1")
		require.Error(t, s.View(ctx, func(tx store.Tx) error { return tx.KVPut(ctx, "k", "v") }))
		require.Error(t, s.View(ctx, func(tx store.Tx) error { return tx.RunInsert(ctx, newRun("r2", "ns", "wf", base)) }))
		require.Error(t, s.View(ctx, func(tx store.Tx) error {
			return tx.RunUpdate(ctx, newRun("r1", "ns", "wf", at(0)))
		}))
		view(t, s, func(tx store.Tx) {
			_, err := tx.KVGet(ctx, "k")
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	})

	t.Run("ViewSnapshot", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		write(t, s, func(tx store.Tx) { require.NoError(t, tx.KVPut(ctx, "k", "1")) })
		// A write committed while a View is open is not seen by it, and the
		// write does not wait for the View.
		view(t, s, func(tx store.Tx) {
			v, err := tx.KVGet(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "1", v)
			write(t, s, func(tx store.Tx) { require.NoError(t, tx.KVPut(ctx, "k", "2")) })
			v, err = tx.KVGet(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "1", v)
		})
		view(t, s, func(tx store.Tx) {
			v, err := tx.KVGet(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "2", v)
		})
	})
}
