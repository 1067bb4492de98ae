package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/store/postgres"
	"github.com/legatohq/legato/internal/store/postgres/pgtest"
)

// note is one notification as Listen reports it.
type note struct{ channel, payload string }

// withAppName sets the application_name of a URL or key=value DSN, so that
// a test finds its own sessions in pg_stat_activity.
func withAppName(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + name
}

// listener finds the backend of the session named app that LISTENs on
// its last channel, waiting until it is there and other than not.
func listener(t *testing.T, admin *pgx.Conn, app string, not int32) int32 {
	t.Helper()
	var pid int32
	require.Eventually(t, func() bool {
		err := admin.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND query LIKE 'LISTEN %' AND state = 'idle' AND pid <> $2`,
			app, not).Scan(&pid)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "no session of %s listens", app)
	return pid
}

// recorder keeps the notifications Listen reports. Channels are
// database-wide: it also hears the stores of tests running alongside, so
// the test looks for its own notifications among the others.
type recorder struct {
	mu     sync.Mutex
	counts map[note]int
}

func (r *recorder) add(channel, payload string) {
	r.mu.Lock()
	r.counts[note{channel, payload}]++
	r.mu.Unlock()
}

func (r *recorder) count(n note) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[n]
}

// wait waits until each of want has been received at least once more than
// the count in since.
func (r *recorder) wait(t *testing.T, since map[note]int, want ...note) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, n := range want {
			if r.count(n) <= since[n] {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "waiting for %v", want)
}

func TestListen(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	app := pgtest.Schema(t, dsn) // a unique name, as good as any
	s, err := postgres.Open(t.Context(), withAppName(dsn, app), postgres.Schema(app),
		postgres.Logger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	admin, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	insertRuns(t, s, "r")

	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{counts: map[note]int{}}
	stopped := make(chan error, 1)
	go func() {
		stopped <- s.Listen(ctx, []string{postgres.ChannelAttempts, postgres.ChannelTimers}, rec.add)
	}()
	first := listener(t, admin, app, 0)

	// Notifications go out at commit, folded when identical; a rolled back
	// transaction sends none. The queues are named after the test.
	q := func(name string) note { return note{postgres.ChannelAttempts, app + "/" + name} }
	enqueue := func(queues ...string) error {
		return s.Tx(t.Context(), func(tx store.Tx) error {
			var names []string
			for i, name := range queues {
				a := &store.Attempt{RunID: "r", Task: name, Index: i, Queue: q(name).payload, Type: "shell"}
				if err := tx.AttemptInsert(t.Context(), a); err != nil {
					return err
				}
				names = append(names, a.Queue)
			}
			return tx.AttemptNotify(t.Context(), names)
		})
	}
	boom := errors.New("boom")
	require.ErrorIs(t, s.Tx(t.Context(), func(tx store.Tx) error {
		require.NoError(t, tx.AttemptInsert(t.Context(), &store.Attempt{RunID: "r", Queue: q("rolled back").payload}))
		require.NoError(t, tx.AttemptNotify(t.Context(), []string{q("rolled back").payload}))
		return boom
	}), boom)
	require.NoError(t, enqueue("q1", "q1", "q2"))
	timers := note{postgres.ChannelTimers, ""}
	seen := map[note]int{timers: rec.count(timers)}
	require.NoError(t, s.Tx(t.Context(), func(tx store.Tx) error {
		return tx.TimerSet(t.Context(), &store.Timer{RunID: "r", Task: "nap", Index: -1, Kind: store.TimerSleep, FireAt: time.Now()})
	}))
	rec.wait(t, seen, q("q1"), q("q2"), timers)
	require.Equal(t, 1, rec.count(q("q1")), "one notification per queue and transaction")

	// Kill the listening session: Listen reconnects, listens again, and
	// reports each channel once, since it may have missed something.
	// (No store notifies the attempts channel with an empty payload.)
	missed := note{postgres.ChannelAttempts, ""}
	require.Zero(t, rec.count(missed))
	seen = map[note]int{timers: rec.count(timers)}
	_, err = admin.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, first)
	require.NoError(t, err)
	rec.wait(t, seen, missed, timers)
	second := listener(t, admin, app, first)
	require.NoError(t, enqueue("q3"))
	rec.wait(t, nil, q("q3"))
	require.Equal(t, 1, rec.count(missed), "one report per reconnection")
	require.Zero(t, rec.count(q("rolled back")))

	cancel()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return when its context ended")
	}
	require.Eventually(t, func() bool {
		var n int
		err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, second).Scan(&n)
		return err == nil && n == 0
	}, 10*time.Second, 10*time.Millisecond, "the listening session ends with Listen")
}

func TestListenStopsOnClose(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), pgtest.DSN(t), postgres.Schema(pgtest.Schema(t, pgtest.DSN(t))))
	require.NoError(t, err)
	require.Error(t, s.Listen(t.Context(), nil, func(string, string) {}), "no channels")

	stopped := make(chan error, 1)
	go func() { stopped <- s.Listen(context.Background(), []string{"x"}, func(string, string) {}) }()
	time.Sleep(50 * time.Millisecond) // let it connect, or not: Close ends it either way
	require.NoError(t, s.Close())
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return when the store closed")
	}
	require.Error(t, s.Listen(t.Context(), []string{"x"}, func(string, string) {}), "closed store")
}
