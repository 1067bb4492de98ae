package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// A for_each whose items failed runs its on_failure fallback, and the
// fallback's result is the for_each's: the run goes on when it succeeds.
func TestForEachFallback(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	b.apply(t, `
name: fe-fallback
tasks:
  - id: each
    type: noop
    for_each: [1, 2]
    with: {fail: "boom"}
    on_failure: {type: noop, with: {fallback: true}}
  - id: after
    needs: [each]
    type: noop
`)
	run := b.start(t, "fe-fallback", nil)
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.TaskSucceeded, trs["each.on_failure"].Status)
	require.Equal(t, store.TaskSucceeded, trs["each"].Status, trs["each"].Error)
	require.Equal(t, store.TaskSucceeded, trs["after"].Status)
	require.Equal(t, store.RunSucceeded, r.Status, r.Error)
}

// A fallback that fails too fails the for_each, and what needs it does
// not run.
func TestForEachFallbackFails(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	b.apply(t, `
name: fe-fallback-fails
tasks:
  - id: each
    type: noop
    for_each: [1, 2]
    with: {fail: "boom"}
    on_failure: {type: noop, with: {fail: "no way"}}
  - id: after
    needs: [each]
    type: noop
`)
	run := b.start(t, "fe-fallback-fails", nil)
	r, trs := b.wait(t, run.ID)
	require.Equal(t, store.TaskFailed, trs["each.on_failure"].Status)
	require.Equal(t, store.TaskFailed, trs["each"].Status)
	require.Equal(t, store.TaskUpstreamFailed, trs["after"].Status)
	require.Equal(t, store.RunFailed, r.Status)
}
