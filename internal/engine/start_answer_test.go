package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

// A start answers with the run as it is stored, although it is not read
// back: the same fields, the times to the microsecond, the revision.
func TestStartAnswersTheStoredRun(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB, int) *testBundle{"sqlite": setup, "postgres": setupPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := open(t, 0) // no worker: nothing changes the run after its start
			b.apply(t, "name: answer\ninputs:\n  who: {type: string}\ntasks:\n  - {id: a, type: noop}\n")
			r := b.start(t, "answer", map[string]any{"who": "ada"})
			var stored *store.Run
			require.NoError(t, b.st.View(b.ctx, func(tx store.Tx) error {
				var err error
				stored, err = tx.RunGet(b.ctx, r.ID)
				return err
			}))
			require.Equal(t, stored, r)
		})
	}
}
