package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// path names a place in a workflow: keys and list indexes from the root.
type path []string

func (p path) with(elems ...string) path {
	return append(p[:len(p):len(p)], elems...)
}

func (p path) key() string { return strings.Join(p, "\x1f") }

func idx(i int) string { return strconv.Itoa(i) }

// place is where one path's key and value are in the file.
type place struct {
	key, val Pos
	// quoted and multiline say how an offset inside a string value maps to
	// a column.
	quoted, multiline bool
	// block is set for a literal block scalar (|): its text starts on the
	// line after the key, indented by indent columns.
	block *blockText
}

type blockText struct {
	line, indent int
	text         string
}

// decoder turns a YAML AST into the model, reporting structural problems
// (wrong types, unknown fields) and recording where every path is.
type decoder struct {
	file    string
	errs    ErrorList
	places  map[string]place
	anchors map[string]ast.Node
	budget  int // nodes left to expand, against alias bombs
	tooDeep bool
	active  map[ast.Node]bool // containers being converted, to catch recursive aliases
}

// maxDepth bounds how deep values nest.
const maxDepth = 64

func (d *decoder) pos(n ast.Node) Pos {
	switch v := n.(type) {
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return d.pos(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return d.pos(v.Key)
	}
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return Pos{File: d.file}
	}
	p := n.GetToken().Position
	return Pos{File: d.file, Line: p.Line, Col: p.Column}
}

func (d *decoder) errorf(n ast.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// record remembers where the value at p is; key may be nil.
func (d *decoder) record(p path, key, val ast.Node) {
	pl := place{key: d.pos(key), val: d.pos(val)}
	if key == nil {
		pl.key = pl.val
	}
	switch v := val.(type) {
	case *ast.StringNode:
		if t := v.GetToken(); t != nil {
			pl.quoted = t.Type == token.DoubleQuoteType || t.Type == token.SingleQuoteType
			pl.multiline = strings.Contains(v.Value, "\n") || strings.Contains(strings.TrimSpace(t.Origin), "\n")
		}
	case *ast.LiteralNode:
		pl.multiline = true
		if v.Start != nil && v.Start.Position != nil && strings.HasPrefix(v.Start.Value, "|") && v.Value != nil && v.Value.Token != nil {
			origin := v.Value.Token.Origin
			pl.block = &blockText{line: v.Start.Position.Line + 1, indent: len(origin) - len(strings.TrimLeft(origin, " ")), text: v.Value.Value}
		}
	}
	d.places[p.key()] = pl
}

// resolve strips anchors and tags and follows aliases.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range 100 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if name, ok := v.Name.(*ast.StringNode); ok {
				d.anchors[name.Value] = v.Value
			}
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.String()
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errorf(v, "unknown alias *%s", name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
	return nil
}

// kindOf names a node's kind the way JSON does, for messages.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a map"
	case *ast.SequenceNode:
		return "a list"
	}
	return "an unsupported value"
}

// mapping returns the entries of a map node in order, reporting unknown
// and duplicate keys. valid lists the keys allowed; what names the map in
// messages ("task", "retry").
func (d *decoder) mapping(n ast.Node, what string, valid []string, p path) []*ast.MappingValueNode {
	var entries []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		entries = v.Values
	case *ast.MappingValueNode:
		entries = []*ast.MappingValueNode{v}
	default:
		d.errorf(n, "%s must be a map, got %s", what, kindOf(n))
		return nil
	}
	seen := map[string]bool{}
	out := entries[:0:0]
	for _, e := range entries {
		k := d.keyString(e.Key)
		switch {
		case k == "<<":
			d.errorf(e.Key, "merge keys (<<) are not supported in %s", what)
			continue
		case seen[k]:
			d.errorf(e.Key, "duplicate key %q in %s", k, what)
			continue
		case valid != nil && !slices.Contains(valid, k):
			d.errorf(e.Key, "unknown field %q in %s; %s", k, what, suggest(k, valid))
			continue
		}
		seen[k] = true
		d.record(p.with(k), e.Key, e.Value)
		out = append(out, e)
	}
	return out
}

func (d *decoder) keyString(k ast.Node) string {
	n := d.resolve(k)
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.MappingKeyNode:
		return d.keyString(v.Value)
	case nil:
		return ""
	}
	if t := n.GetToken(); t != nil {
		return t.Value
	}
	return n.String()
}

func (d *decoder) str(n ast.Node, what string) (string, bool) {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	}
	d.errorf(n, "%s must be a string, got %s", what, kindOf(d.resolve(n)))
	return "", false
}

func (d *decoder) boolean(n ast.Node, what string) (bool, bool) {
	if v, ok := d.resolve(n).(*ast.BoolNode); ok {
		return v.Value, true
	}
	d.errorf(n, "%s must be true or false, got %s", what, kindOf(d.resolve(n)))
	return false, false
}

func (d *decoder) integer(n ast.Node, what string) (int, bool) {
	switch v := d.resolve(n).(type) {
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				return int(i), true
			}
		case uint64:
			if i <= math.MaxInt32 {
				return int(i), true
			}
		}
		d.errorf(n, "%s is out of range", what)
		return 0, false
	case *ast.FloatNode:
		if v.Value == math.Trunc(v.Value) && math.Abs(v.Value) <= math.MaxInt32 {
			return int(v.Value), true
		}
	}
	d.errorf(n, "%s must be a whole number, got %s", what, kindOf(d.resolve(n)))
	return 0, false
}

func (d *decoder) number(n ast.Node, what string) (float64, bool) {
	switch v := d.resolve(n).(type) {
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return float64(i), true
		case uint64:
			return float64(i), true
		}
	case *ast.FloatNode:
		return v.Value, true
	}
	d.errorf(n, "%s must be a number, got %s", what, kindOf(d.resolve(n)))
	return 0, false
}

func (d *decoder) duration(n ast.Node, what string) (Duration, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	return Duration(v), true
}

// value converts any node to plain JSON-like Go values: map[string]any,
// []any, string, int64, float64, bool, nil. It records every path inside.
func (d *decoder) value(n ast.Node, p path) any {
	if len(p) > maxDepth {
		if !d.tooDeep {
			d.tooDeep = true
			d.errorf(n, "values are nested more than %d deep (a recursive alias?)", maxDepth)
		}
		return nil
	}
	target := d.resolve(n)
	if d.active[target] {
		d.errorf(n, "recursive alias: a value that contains itself")
		return nil
	}
	switch target.(type) {
	case *ast.SequenceNode, *ast.MappingNode, *ast.MappingValueNode:
		if d.active == nil {
			d.active = map[ast.Node]bool{}
		}
		d.active[target] = true
		defer delete(d.active, target)
	}
	d.budget--
	if d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, "the file expands to too many values (aliases?)")
		}
		return nil
	}
	switch v := target.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		s, _ := d.str(v, "value")
		return s
	case *ast.BoolNode:
		return v.Value
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return i
		case uint64:
			if i <= math.MaxInt64 {
				return int64(i)
			}
			return float64(i)
		}
		return nil
	case *ast.FloatNode:
		return v.Value
	case *ast.InfinityNode, *ast.NanNode:
		d.errorf(n, "%s is not a JSON number", v.String())
		return nil
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for i, e := range v.Values {
			d.record(p.with(idx(i)), nil, e)
			out = append(out, d.value(e, p.with(idx(i))))
		}
		return out
	case *ast.MappingNode, *ast.MappingValueNode:
		out := map[string]any{}
		for _, e := range d.mapping(v, "map", nil, p) {
			k := d.keyString(e.Key)
			out[k] = d.value(e.Value, p.with(k))
		}
		return out
	}
	d.errorf(n, "unsupported YAML value")
	return nil
}
