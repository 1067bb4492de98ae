package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func testDecls() Decls {
	return Decls{
		Inputs: map[string]string{"amount": "number", "n": "integer", "name": "string", "flag": "boolean", "tags": "array", "meta": "object", "x": "any"},
		Tasks:  []string{"fetch", "my-job"},
	}
}

func errorsOf(errs []error) []*Error {
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.(*Error))
	}
	return out
}

func TestCheckBool(t *testing.T) {
	t.Parallel()
	ok := []string{
		"inputs.amount > 1000",
		"inputs.amount == 1500",
		"inputs.n + 1 > 2",
		"inputs.n * 2.5 > inputs.amount",
		`inputs.name.startsWith("a")`,
		"inputs.flag",
		"size(inputs.tags) > 0",
		`inputs.meta.k == "v"`,
		`tasks.fetch.status == "succeeded" && tasks.fetch.output.ok`,
		`tasks["my-job"].output == 1`,
		`run.attempt > 1`,
		`env.HOME != ""`,
		`inputs.tags.exists(item, item == "a")`,
		`has(tasks.fetch.output.x)`,
		"inputs.x",
	}
	for _, src := range ok {
		require.Empty(t, CheckBool(src, testDecls()), src)
	}
}

func TestCheckBoolErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src    string
		msg    string
		offset int
	}{
		{"inputs.nope > 1", `undeclared input "nope"; declared: amount, flag, meta, n, name, tags, x`, 0},
		{"true && tasks.other.status == 'x'", `unknown task "other" in tasks.other; visible here: fetch, my-job`, 8},
		{"tasks.my-job.output == 1", `unknown task "my" in tasks.my; visible here: fetch, my-job; write tasks["my-job"] for an id with a dash`, 0},
		{"tasks.fetch.out == 1", `tasks.fetch has no field "out"; fields: error, output, status`, 0},
		{"run.nope == 1", `run has no field "nope"; fields: attempt, id, namespace, started_at, workflow`, 0},
		{"item == 1", "item is only defined inside a for_each task's parameters", 0},
		{"event.x", "event is only defined in trigger filters and inputs", 0},
		{"secrets.x == ''", "secrets may only be read in task parameters (with), never in conditions or outputs", 0},
		{"inputs.name + 1 == 2", "found no matching overload for '_+_' applied to '(string, int)'", 12},
		{"inputs.name", "condition gives string, want bool", 0},
		{"inputs.amount >", "Syntax error: unexpected end of expression", 15},
		{"nope == 1", "undeclared reference to 'nope'", 0},
		{"", "empty expression", 0},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			errs := errorsOf(CheckBool(tc.src, testDecls()))
			require.NotEmpty(t, errs)
			require.Contains(t, errs[0].Msg, tc.msg)
			require.Equal(t, tc.offset, errs[0].Offset)
		})
	}
}

func TestCheckTemplate(t *testing.T) {
	t.Parallel()
	d := testDecls()
	d.Item = true
	d.Secrets = true
	require.Empty(t, CheckTemplate(map[string]any{
		"url":   "${{ env.URL }}/x/${{ item }}-${{ index + 1 }}",
		"auth":  "Bearer ${{ secrets.TOKEN }}",
		"list":  []any{"${{ inputs.tags }}", 3, nil, true},
		"plain": "no template",
		"map":   `${{ {"a": {"b": inputs.n}} }}`,
	}, d))

	errs := errorsOf(CheckTemplate(map[string]any{
		"a": []any{"ok", "x ${{ inputs.nope }}"},
		"b": "${{ tasks.gone.output }}",
		"c": "${{ 1 +",
	}, testDecls()))
	require.Len(t, errs, 3)
	require.Equal(t, []string{"a", "1"}, errs[0].Path)
	require.Equal(t, 6, errs[0].Offset)
	require.Equal(t, []string{"b"}, errs[1].Path)
	require.Equal(t, "gone", errs[1].Task)
	require.Equal(t, 4, errs[1].Offset)
	require.Equal(t, []string{"c"}, errs[2].Path)
	require.Contains(t, errs[2].Msg, "unterminated")
}

func TestHasTemplate(t *testing.T) {
	t.Parallel()
	require.True(t, HasTemplate("a ${{ b }}"))
	require.False(t, HasTemplate("a $ {{ b }}"))
}
