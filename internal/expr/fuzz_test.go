package expr

import "testing"

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"plain", "${{ inputs.amount }}", "a ${{ inputs.order_id }} b ${{ 1 + 2 }}",
		`${{ {"a": {"b": 1}} }}`, "${{", "${{ }}", "${{ '}}' }}", `${{ """}}""" }}`,
		"${{ tasks.fetch.output.items.map(x, x * 2) }}", "${{ inputs.tags[5] }}",
		"${{ 1 / 0 }}", "${{ 0.0 / 0.0 }}", "$${{ x }}", "${{ item }}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Render(s, testVars())
		_, _ = Render(map[string]any{"k": []any{s}}, testVars())
		_ = CheckTemplate(s, testDecls())
	})
}

func FuzzEvalBool(f *testing.F) {
	for _, s := range []string{
		"inputs.amount > 1000", "inputs.n + 1 == 4", `tasks["my-job"].status == "succeeded"`,
		"has(tasks.fetch.output.x)", "[1,2,3].all(x, x > 0)", "1 +", "", "event.x",
		`inputs.order_id.matches("^o-")`, "inputs.tags.exists(t, t == 'a')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = EvalBool(s, testVars())
		_ = CheckBool(s, testDecls())
	})
}
