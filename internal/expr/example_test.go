package expr_test

import (
	"fmt"

	"github.com/legatohq/legato/internal/expr"
)

func ExampleRender() {
	vars := expr.Vars{"inputs": map[string]any{"id": "o-1", "amount": 1500.0, "items": []any{"a", "b"}}}
	out, err := expr.Render(map[string]any{
		"label": "order ${{ inputs.id }}: ${{ inputs.items }}",
		"big":   "${{ inputs.amount > 1000 }}",
		"count": "${{ size(inputs.items) }}",
	}, vars)
	fmt.Println(out, err)
	// Output: map[big:true count:2 label:order o-1: ["a","b"]] <nil>
}

func ExampleCheckBool() {
	d := expr.Decls{Inputs: map[string]string{"amount": "number"}}
	for _, err := range expr.CheckBool("inputs.amont > 1000", d) {
		fmt.Println(err)
	}
	// Output: offset 0: undeclared input "amont"; declared: amount
}
