package expr

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Numbers that come from JSON are doubles even when they are whole, so a
// declared integer input given as 3 arrives as 3.0. Standard CEL refuses
// int + double; Legato redeclares +, -, * and / with the standard overloads
// plus int/double mixes that compute in double.

var arithmeticOps = []string{operators.Add, operators.Subtract, operators.Multiply, operators.Divide}

func arithmeticExcluded() []*env.Function {
	out := make([]*env.Function, 0, len(arithmeticOps)+2)
	for _, op := range append(arithmeticOps, operators.Equals, operators.NotEquals) {
		out = append(out, &env.Function{Name: op})
	}
	return out
}

// equality redeclares == and != over any two values so that the checker
// accepts a double compared with an int; CEL's runtime equality is already
// heterogeneous (1 == 1.0 is true, "1" == 1 is false).
func equality() []cel.EnvOption {
	var opts []cel.EnvOption
	for _, op := range []struct {
		name, id string
		neg      bool
	}{{operators.Equals, "equals", false}, {operators.NotEquals, "not_equals", true}} {
		neg := op.neg
		opts = append(opts, cel.Function(op.name,
			cel.Overload("legato_"+op.id, []*cel.Type{cel.DynType, cel.DynType}, cel.BoolType),
			cel.SingletonBinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				eq := lhs.Equal(rhs)
				if b, ok := eq.(types.Bool); ok && neg {
					return !b
				}
				return eq
			})))
	}
	return opts
}

func arithmetic() cel.EnvOption {
	i, u, d, s, b := cel.IntType, cel.UintType, cel.DoubleType, cel.StringType, cel.BytesType
	ts, dur := cel.TimestampType, cel.DurationType
	listA := cel.ListType(cel.TypeParamType("A"))
	type sig struct {
		id       string
		lhs, rhs *cel.Type
		out      *cel.Type
	}
	numeric := []sig{{"int", i, i, i}, {"uint", u, u, u}, {"double", d, d, d}, {"double_int", d, i, d}, {"int_double", i, d, d}}
	sigs := map[string][]sig{
		operators.Add: append(numeric[:len(numeric):len(numeric)],
			sig{"string", s, s, s}, sig{"bytes", b, b, b}, sig{"list", listA, listA, listA},
			sig{"timestamp_duration", ts, dur, ts}, sig{"duration_timestamp", dur, ts, ts}, sig{"duration_duration", dur, dur, dur}),
		operators.Subtract: append(numeric[:len(numeric):len(numeric)],
			sig{"timestamp_timestamp", ts, ts, dur}, sig{"timestamp_duration", ts, dur, ts}, sig{"duration_duration", dur, dur, dur}),
		operators.Multiply: numeric,
		operators.Divide:   numeric,
	}
	names := map[string]string{operators.Add: "add", operators.Subtract: "subtract", operators.Multiply: "multiply", operators.Divide: "divide"}
	opts := equality()
	for _, op := range arithmeticOps {
		var fopts []cel.FunctionOpt
		for _, sg := range sigs[op] {
			fopts = append(fopts, cel.Overload("legato_"+names[op]+"_"+sg.id, []*cel.Type{sg.lhs, sg.rhs}, sg.out))
		}
		fopts = append(fopts, cel.SingletonBinaryBinding(binaryOp(op)))
		opts = append(opts, cel.Function(op, fopts...))
	}
	return func(e *cel.Env) (*cel.Env, error) {
		var err error
		for _, o := range opts {
			if e, err = o(e); err != nil {
				return nil, err
			}
		}
		return e, nil
	}
}

func binaryOp(op string) func(lhs, rhs ref.Val) ref.Val {
	return func(lhs, rhs ref.Val) ref.Val {
		if mixed(lhs, rhs) {
			a, _ := toDouble(lhs)
			b, _ := toDouble(rhs)
			lhs, rhs = types.Double(a), types.Double(b)
		}
		switch op {
		case operators.Add:
			if x, ok := lhs.(traits.Adder); ok {
				return x.Add(rhs)
			}
		case operators.Subtract:
			if x, ok := lhs.(traits.Subtractor); ok {
				return x.Subtract(rhs)
			}
		case operators.Multiply:
			if x, ok := lhs.(traits.Multiplier); ok {
				return x.Multiply(rhs)
			}
		case operators.Divide:
			if x, ok := lhs.(traits.Divider); ok {
				return x.Divide(rhs)
			}
		}
		return types.MaybeNoSuchOverloadErr(lhs)
	}
}

// mixed reports whether one side is a double and the other an int or uint.
func mixed(lhs, rhs ref.Val) bool {
	_, ld := lhs.(types.Double)
	_, rd := rhs.(types.Double)
	if ld == rd {
		return false
	}
	_, okL := toDouble(lhs)
	_, okR := toDouble(rhs)
	return okL && okR
}
