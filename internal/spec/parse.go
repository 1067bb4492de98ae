package spec

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// maxValues bounds how many values a file may expand to, so a few aliases
// cannot make a huge workflow.
const maxValues = 20_000

// Parse reads a workflow from YAML or JSON and validates it. The error is
// an ErrorList holding every problem found, each with file:line:col.
func Parse(file string, src []byte) (*Workflow, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, ErrorList{syntaxError(file, err)}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			if _, ok := doc.Body.(*ast.CommentGroupNode); !ok {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) == 0 {
		return nil, ErrorList{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty workflow file: want a map with name and tasks"}}
	}
	d := &decoder{file: file, places: map[string]place{}, anchors: map[string]ast.Node{}, budget: maxValues}
	if len(docs) > 1 {
		d.errorf(docs[1].Body, "a workflow file holds one document; split the others into their own files")
	}
	body := docs[0].Body
	d.record(nil, nil, body)
	w := d.workflow(body)
	// A value the decoder refused is zero in the model; drop what the
	// validator then says about the same place.
	refused := map[Pos]bool{}
	for _, e := range d.errs {
		refused[e.Pos] = true
	}
	errs := d.errs
	for _, e := range validate(w, d.places, file) {
		if !refused[e.Pos] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs.sort()
	}
	return w, nil
}

// ParseFile reads and parses the workflow file at path.
func ParseFile(path string) (*Workflow, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workflow file: %w", err)
	}
	return Parse(path, src)
}

// Validate checks a workflow built in code or decoded from the API's JSON,
// where there are no positions: each message names its task or field. It
// fills in defaults (namespace, input types) as Parse does.
func Validate(w *Workflow) ErrorList {
	return validate(w, nil, "").sort()
}

func syntaxError(file string, err error) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		pos := Pos{File: file}
		if t := ye.GetToken(); t != nil && t.Position != nil {
			pos.Line, pos.Col = t.Position.Line, t.Position.Column
		}
		return &Error{Pos: pos, Msg: "invalid YAML: " + ye.GetMessage()}
	}
	return &Error{Pos: Pos{File: file}, Msg: "invalid YAML: " + err.Error()}
}

func quote(s string) string { return strconv.Quote(s) }

func contains(list []string, s string) bool { return slices.Contains(list, s) }
