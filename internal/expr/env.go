package expr

import (
	"sort"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// Limits on what one expression may cost.
const (
	// CostLimit bounds the work of one evaluation (cel.CostLimit units,
	// roughly one per operation or per list element visited).
	CostLimit = 1_000_000
	// MaxSourceLen bounds the length of one expression.
	MaxSourceLen = 16 << 10
)

// baseOptions are the options every environment shares: the standard
// library, deterministic extensions and mixed int/double arithmetic.
func baseOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(&env.LibrarySubset{ExcludeFunctions: arithmeticExcluded()})),
		arithmetic(),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(),
		ext.Sets(),
		cel.ParserRecursionLimit(64),
		cel.ParserExpressionSizeLimit(MaxSourceLen),
	}
}

func toDouble(v ref.Val) (float64, bool) {
	switch n := v.(type) {
	case types.Double:
		return float64(n), true
	case types.Int:
		return float64(n), true
	case types.Uint:
		return float64(n), true
	}
	return 0, false
}

// runtimeEnv declares every variable as dyn: it compiles what Render and
// EvalBool evaluate; the static types were checked at validation.
var runtimeEnv = func() *cel.Env {
	opts := baseOptions()
	for _, n := range varNames {
		opts = append(opts, cel.Variable(n, cel.DynType))
	}
	env, err := cel.NewCustomEnv(opts...)
	if err != nil {
		panic("expr: runtime environment: " + err.Error())
	}
	return env
}()

// celType maps a spec input type to its CEL type.
func celType(specType string) *cel.Type {
	switch specType {
	case "string":
		return cel.StringType
	case "number":
		return cel.DoubleType
	case "integer":
		return cel.IntType
	case "boolean":
		return cel.BoolType
	case "object":
		return cel.MapType(cel.StringType, cel.DynType)
	case "array":
		return cel.ListType(cel.DynType)
	}
	return cel.DynType
}

// declOptions declares the variables that exist at one place of a
// workflow. Inputs and tasks are declared both as maps and, per name, as
// qualified variables (inputs.amount, tasks.x.output) so that the checker
// knows each one's type.
func declOptions(d Decls) []cel.EnvOption {
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{
		cel.Variable("inputs", dynMap),
		cel.Variable("tasks", cel.MapType(cel.StringType, dynMap)),
		cel.Variable("run", dynMap),
		cel.Variable("env", cel.MapType(cel.StringType, cel.StringType)),
	}
	names := make([]string, 0, len(d.Inputs))
	for n := range d.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if isIdent(n) {
			opts = append(opts, cel.Variable("inputs."+n, celType(d.Inputs[n])))
		}
	}
	seen := map[string]bool{}
	for _, id := range d.Tasks {
		if !isIdent(id) || seen[id] {
			continue
		}
		seen[id] = true
		opts = append(opts,
			cel.Variable("tasks."+id, dynMap),
			cel.Variable("tasks."+id+".output", cel.DynType),
			cel.Variable("tasks."+id+".status", cel.StringType),
			cel.Variable("tasks."+id+".error", cel.StringType),
		)
	}
	if d.Item {
		opts = append(opts, cel.Variable("item", cel.DynType), cel.Variable("index", cel.IntType))
	}
	if d.Event {
		opts = append(opts, cel.Variable("event", cel.DynType))
	}
	if d.Request {
		opts = append(opts, cel.Variable("request", cel.DynType))
	}
	if d.Schedule {
		opts = append(opts, cel.Variable("schedule", cel.MapType(cel.StringType, cel.StringType)))
	}
	if d.Secrets {
		opts = append(opts, cel.Variable("secrets", cel.MapType(cel.StringType, cel.StringType)))
	}
	return opts
}

// isIdent reports whether s can follow a dot in CEL (tasks.s).
func isIdent(s string) bool {
	if s == "" || reserved[s] {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

var reserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}
