package expr

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Values built in Go code (not decoded from JSON) must not panic.
func TestRenderGoValues(t *testing.T) {
	t.Parallel()
	vars := Vars{
		"inputs": map[string]any{
			"strs":  map[string]string{"a": "b"},
			"ints":  []int{1, 2},
			"n":     7,
			"when":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			"ch":    make(chan int),
			"typed": (*int)(nil),
		},
	}
	got, err := Render("${{ inputs.strs.a }}-${{ inputs.ints[1] + inputs.n }}", vars)
	require.NoError(t, err)
	require.Equal(t, "b-9", got)
	for _, src := range []string{"${{ inputs.ch }}", "${{ inputs.typed }}", "${{ inputs.when }}", "${{ inputs.ch == 1 }}"} {
		require.NotPanics(t, func() { _, _ = Render(src, vars) }, src)
	}
	_, err = Render("${{ tasks.nope.output }}", Vars{"tasks": map[string]any{}})
	require.ErrorContains(t, err, "no such key: nope")
	_, err = Render("${{ tasks.a.output.x }}", Vars{"tasks": map[string]any{"a": map[string]any{"output": nil}}})
	require.Error(t, err)
}

func TestConcurrentEvaluation(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 50 {
				ok, err := EvalBool("inputs.amount > 1000.0 + double(0 * "+string(rune('0'+i))+") && "+string(rune('0'+j%10))+" >= 0", testVars())
				assert.NoError(t, err) // not require: this is not the test's goroutine
				assert.True(t, ok)
				_ = CheckBool("inputs.n > "+string(rune('0'+j%10)), testDecls())
			}
		}()
	}
	for range 8 {
		<-done
	}
}
