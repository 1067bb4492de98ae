package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateProgrammatic(t *testing.T) {
	t.Parallel()
	w := &Workflow{
		Name:   "api-made",
		Inputs: []Input{{Name: "n", Type: "integer", Default: int64(2)}, {Name: "s"}},
		Tasks: []Task{
			{ID: "a", Type: "noop", With: map[string]any{"x": "${{ inputs.n + 1 }}"}},
			{ID: "b", Type: "noop", Needs: []string{"a"}, When: "tasks.a.status == 'succeeded'",
				OnFailure: &Task{Type: "noop", With: map[string]any{"e": "${{ tasks.b.error }}"}}},
		},
		Outputs: map[string]any{"b": "${{ tasks.b.output }}"},
	}
	require.Empty(t, Validate(w))
	require.Equal(t, "default", w.Namespace)
	require.Equal(t, "any", w.Inputs[1].Type)
	require.Equal(t, 2.0, w.Inputs[0].Default, "numbers are normalized to float64 as from JSON")
	require.Equal(t, "b.on_failure", w.Tasks[1].OnFailure.ID)
}

func TestValidateProgrammaticErrors(t *testing.T) {
	t.Parallel()
	w := &Workflow{
		Name: "Bad Name",
		Tasks: []Task{
			{ID: "a", Type: "noop", Needs: []string{"b"}},
			{ID: "b", Type: "noop", Needs: []string{"a"}, With: map[string]any{"k": []any{"${{ inputs.nope }}"}}},
			{ID: "c", Type: "nope", Retry: &Retry{}, Compensate: &Task{Type: "noop", Needs: []string{"a"}}},
		},
	}
	errs := Validate(w)
	want := []string{
		`name: invalid name "Bad Name": use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit`,
		`tasks[0].needs[0]: cycle in needs: a -> b -> a`,
		`tasks[1].with.k[0]: undeclared input "nope"; no inputs are declared`,
		`tasks[2].type: unknown task type "nope"; known types: approval, http, noop, shell, sleep, workflow`,
		`tasks[2].retry.attempts: attempts must be at least 1 (the first attempt counts), got 0`,
		`tasks[2].compensate.needs: compensate may not set "needs"; it takes the place of its task`,
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
		require.Zero(t, e.Pos)
	}
	require.ElementsMatch(t, want, got)
}

func TestErrorFormatting(t *testing.T) {
	t.Parallel()
	list := ErrorList{
		{Pos: Pos{File: "b.yaml", Line: 2, Col: 1}, Msg: "second"},
		{Pos: Pos{File: "a.yaml", Line: 9, Col: 3}, Msg: "first"},
	}.sort()
	require.Equal(t, "a.yaml:9:3: first\nb.yaml:2:1: second", list.Error())
	require.NoError(t, ErrorList(nil).Err())
	require.Equal(t, "with.a.b: bad", (&FieldError{Path: []string{"a", "b"}, Msg: "bad"}).Error())
	require.Equal(t, "x.yaml: oops", (&Error{Pos: Pos{File: "x.yaml"}, Msg: "oops"}).Error())
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	require.Equal(t, `did you mean "needs"?`, suggest("neds", taskFields))
	require.Equal(t, "valid fields: limit", suggest("zzzzzz", []string{"limit"}))
}
