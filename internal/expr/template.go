package expr

import (
	"fmt"
	"strings"
)

const (
	openDelim  = "${{"
	closeDelim = "}}"
)

// segment is one piece of a template: literal text, or an expression whose
// source starts at byte offset off in the template.
type segment struct {
	text   string
	isExpr bool
	off    int
}

// HasTemplate reports whether s holds a ${{ }} template.
func HasTemplate(s string) bool {
	return strings.Contains(s, openDelim)
}

// splitTemplate cuts s into literal and expression segments. An error is an
// *Error with the offset of the unterminated or empty template.
func splitTemplate(s string) ([]segment, error) {
	var segs []segment
	pos := 0
	for {
		i := strings.Index(s[pos:], openDelim)
		if i < 0 {
			if pos < len(s) {
				segs = append(segs, segment{text: s[pos:]})
			}
			return segs, nil
		}
		start := pos + i
		if start > pos {
			segs = append(segs, segment{text: s[pos:start]})
		}
		exprStart := start + len(openDelim)
		end := findClose(s, exprStart)
		if end < 0 {
			return nil, &Error{Offset: start, Msg: "unterminated ${{: missing }}"}
		}
		src := s[exprStart:end]
		if strings.TrimSpace(src) == "" {
			return nil, &Error{Offset: start, Msg: "empty ${{ }} expression"}
		}
		segs = append(segs, segment{text: src, isExpr: true, off: exprStart})
		pos = end + len(closeDelim)
	}
}

// findClose returns the offset of the "}}" closing an expression that
// starts at from, skipping string literals and balanced braces (map
// literals), or -1.
func findClose(s string, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'':
			j := skipString(s, i)
			if j < 0 {
				return -1
			}
			i = j
		case '{':
			depth++
		case '}':
			if depth == 0 {
				if i+1 < len(s) && s[i+1] == '}' {
					return i
				}
				continue
			}
			depth--
		}
	}
	return -1
}

// skipString returns the offset of the quote closing the string literal
// opened at s[i], or -1.
func skipString(s string, i int) int {
	q := s[i]
	if strings.HasPrefix(s[i:], strings.Repeat(string(q), 3)) {
		end := strings.Index(s[i+3:], strings.Repeat(string(q), 3))
		if end < 0 {
			return -1
		}
		return i + 3 + end + 2
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		case '\n':
			return -1
		}
	}
	return -1
}

// single reports whether the template is exactly one expression with only
// white space around it, and returns that expression's segment.
func single(segs []segment) (segment, bool) {
	var found segment
	n := 0
	for _, sg := range segs {
		if sg.isExpr {
			found = sg
			n++
			continue
		}
		if strings.TrimSpace(sg.text) != "" {
			return segment{}, false
		}
	}
	return found, n == 1
}

func templateError(s string, err error) error {
	return &EvalError{Expr: s, Err: fmt.Errorf("template: %w", err)}
}
