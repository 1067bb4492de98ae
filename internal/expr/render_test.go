package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func testVars() Vars {
	return Vars{
		"inputs": map[string]any{"order_id": "o-1", "amount": 1500.0, "n": 3.0, "tags": []any{"a", "b"}, "none": nil},
		"tasks": map[string]any{
			"fetch":  map[string]any{"output": map[string]any{"items": []any{1.0, 2.0}, "name": "x"}, "status": "succeeded", "error": ""},
			"my-job": map[string]any{"output": "ok", "status": "succeeded", "error": ""},
		},
		"run": map[string]any{"id": "r1", "workflow": "wf", "namespace": "default", "attempt": int64(1), "started_at": "2026-01-01T00:00:00Z"},
		"env": map[string]any{"URL": "http://inv"},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"plain string", "hello", "hello"},
		{"scalar passes", 42, 42},
		{"nil passes", nil, nil},
		{"keeps string type", "${{ inputs.order_id }}", "o-1"},
		{"keeps double", "${{ inputs.amount }}", 1500.0},
		{"int literal is int64", "${{ 1 + 2 }}", int64(3)},
		{"keeps bool", "  ${{ inputs.amount > 1000 }}  ", true},
		{"keeps list", "${{ inputs.tags }}", []any{"a", "b"}},
		{"keeps map", "${{ tasks.fetch.output }}", map[string]any{"items": []any{1.0, 2.0}, "name": "x"}},
		{"keeps null", "${{ inputs.none }}", nil},
		{"map literal", `${{ {"a": {"b": 1}} }}`, map[string]any{"a": map[string]any{"b": int64(1)}}},
		{"interpolates", "order ${{ inputs.order_id }} of ${{ inputs.amount }}", "order o-1 of 1500"},
		{"interpolates fraction", "x=${{ 0.5 }}", "x=0.5"},
		{"interpolates list as JSON", "tags: ${{ inputs.tags }}", `tags: ["a","b"]`},
		{"interpolates map as JSON", "o=${{ tasks.fetch.output }}", `o={"items":[1,2],"name":"x"}`},
		{"interpolates null as empty", "[${{ inputs.none }}]", "[]"},
		{"interpolates bool", "${{ true }}!", "true!"},
		{"dash id by index", `${{ tasks["my-job"].output }}`, "ok"},
		{"env", "${{ env.URL }}/reserve", "http://inv/reserve"},
		{"run", "${{ run.attempt }}", int64(1)},
		{"mixed arithmetic", "${{ inputs.n + 1 }}", 4.0},
		{"int times double", "${{ 2 * inputs.amount }}", 3000.0},
		{"string functions", "${{ inputs.order_id.upperAscii() }}", "O-1"},
		{"base64", `${{ base64.encode(b"hi") }}`, "aGk="},
		{"optional missing", `${{ tasks.fetch.output.?missing.orValue("d") }}`, "d"},
		{"nested", map[string]any{"a": []any{"${{ inputs.n }}", map[string]any{"b": "id-${{ inputs.order_id }}"}}, "k": 1},
			map[string]any{"a": []any{3.0, map[string]any{"b": "id-o-1"}}, "k": 1}},
		{"closing braces in string", `${{ "}}" }}`, "}}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render(tc.in, testVars())
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"missing key", "${{ inputs.nope }}", `expression "inputs.nope": no such key: nope`},
		{"missing variable", "${{ item }}", `expression "item": no such attribute`},
		{"unterminated", "a ${{ inputs.x", "template: offset 2: unterminated ${{: missing }}"},
		{"empty", "${{ }}", "empty ${{ }} expression"},
		{"syntax", "${{ 1 + }}", `expression "1 +": `},
		{"type at run time", "${{ inputs.order_id + 1 }}", "no such overload"},
		{"division by zero", "${{ 1 / 0 }}", "division by zero"},
		{"cost limit", "${{ [1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, [1,2,3,4,5,6,7,8,9,10].map(e, [1,2,3,4,5,6,7,8,9,10].map(f, a+b+c+d+e+f)))))) }}", "cost limit exceeded"},
		{"nan", "${{ 0.0 / 0.0 }}", "not a JSON number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Render(tc.in, testVars())
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRenderPathInError(t *testing.T) {
	t.Parallel()
	_, err := Render(map[string]any{"json": map[string]any{"order": "${{ inputs.nope }}"}}, testVars())
	require.ErrorContains(t, err, "json: order: expression")
}

func TestEvalBool(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src  string
		want bool
	}{
		{"inputs.amount > 1000", true},
		{"inputs.amount > 1000.5", true},
		{"inputs.amount == 1500", true},
		{"inputs.n == 3", true},
		{"inputs.n < 4 && inputs.n > 2", true},
		{"int(inputs.n) % 2 == 1", true},
		{`tasks.fetch.status == "succeeded"`, true},
		{"size(tasks.fetch.output.items) == 2", true},
		{`"a" in inputs.tags`, true},
		{"has(tasks.fetch.output.name)", true},
		{"has(tasks.fetch.output.nope)", false},
		{`tasks["my-job"].output == "ok"`, true},
		{"false || inputs.amount < 0", false},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			got, err := EvalBool(tc.src, testVars())
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestEvalBoolErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ src, want string }{
		{"inputs.amount", "evaluated to double, want a bool"},
		{"inputs.nope > 1", "no such key: nope"},
		{"event.data.x", "no such attribute"},
		{"1 +", "Syntax error"},
		{"", "Syntax error"},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			_, err := EvalBool(tc.src, testVars())
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := EvalBool("inputs.amount > 1", nil)
	require.ErrorContains(t, err, "no such attribute")
}

func TestProgramsAreCached(t *testing.T) {
	t.Parallel()
	src := "inputs.amount > 999 && true"
	_, err := EvalBool(src, testVars())
	require.NoError(t, err)
	_, ok := programs.Load(src)
	require.True(t, ok)
}
