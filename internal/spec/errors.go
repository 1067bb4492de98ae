package spec

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Error is one problem in a workflow, at a position when it came from a
// file. Msg never repeats the position.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "file:line:col: msg", or just msg without a position.
func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		if e.Pos.File != "" {
			return e.Pos.File + ": " + e.Msg
		}
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// ErrorList is every problem found in a workflow, sorted by position.
type ErrorList []*Error

// Error joins the errors with newlines.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// sort orders the list by file, line and column, keeping the order of
// errors at the same place, and drops exact duplicates.
func (l ErrorList) sort() ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}

// FieldError is a problem with one field of a task's `with` block, as a
// TypeChecker reports it; Path is the keys (and list indexes) from `with`
// down to the field.
type FieldError struct {
	Path []string
	Msg  string
}

func (e *FieldError) Error() string {
	if len(e.Path) == 0 {
		return e.Msg
	}
	return "with." + strings.Join(e.Path, ".") + ": " + e.Msg
}

// TypeChecker validates a task's type and its `with` block; the tasks
// package registers one at init. Unset means any type is accepted. An
// error that is a *FieldError is placed at the field it names; any other
// error is placed at the task's type.
type TypeChecker func(taskType string, with map[string]any) []error

var (
	checkerMu sync.RWMutex
	checker   TypeChecker
)

// SetTypeChecker installs the checker that validation calls for every task.
func SetTypeChecker(c TypeChecker) {
	checkerMu.Lock()
	defer checkerMu.Unlock()
	checker = c
}

func typeChecker() TypeChecker {
	checkerMu.RLock()
	defer checkerMu.RUnlock()
	return checker
}
