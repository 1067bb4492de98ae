// Package expr owns Legato's expression language: CEL (cel.dev/cel-go)
// evaluated with a cost limit, bare for `when:` conditions and inside
// ${{ }} templates everywhere else.
//
// Evaluation is deterministic: the environment has no clock and no
// randomness. Numbers follow JSON: a number from a file or an API is a
// double unless it was written as an integer literal; arithmetic that mixes
// int and double gives a double, and comparisons across int and double are
// allowed both when checking and when evaluating.
package expr

import (
	"fmt"
	"strings"
)

// Vars are the values an expression sees: keys "inputs", "tasks", "run",
// "item", "index", "env", "event", "secrets", "request", "schedule".
//
// At run time "tasks" maps a task id to {"output": any, "status": string,
// "error": string} and "run" is {"id", "workflow", "namespace", "attempt",
// "started_at"}. Values are plain Go JSON-like values (map[string]any,
// []any, string, float64, int64, bool, nil).
type Vars map[string]any

// Variable names, in the order they are declared.
var varNames = []string{"inputs", "tasks", "run", "item", "index", "env", "event", "secrets", "request", "schedule"}

// ScheduleFields are the keys of the "schedule" variable (cron trigger
// inputs): "time" is the tick's time as an RFC 3339 string in the
// schedule's zone, "name" the trigger's name.
var ScheduleFields = []string{"name", "time"}

// RunFields are the keys of the "run" variable.
var RunFields = []string{"attempt", "id", "namespace", "started_at", "workflow"}

// TaskFields are the keys of one entry of the "tasks" variable.
var TaskFields = []string{"error", "output", "status"}

// Decls describes what names exist at a place in a workflow: the declared
// inputs with their types, the task ids visible, whether item/index exist
// (inside for_each), and whether event and secrets may be read.
type Decls struct {
	// Inputs maps an input name to its spec type (string, number, integer,
	// boolean, object, array, any).
	Inputs map[string]string
	// Tasks are the ids an expression may read as tasks.<id>.
	Tasks []string
	// Item declares item and index (inside a for_each task).
	Item bool
	// Event declares event (trigger filters and inputs).
	Event bool
	// Secrets declares secrets (task parameters only).
	Secrets bool
	// Request declares request (webhook trigger filters, inputs and
	// idempotency keys): {body, headers, query}.
	Request bool
	// Schedule declares schedule (cron trigger inputs).
	Schedule bool
}

// Error is one problem with an expression.
type Error struct {
	// Offset is the byte offset inside the checked string (the template or
	// the bare expression) where the problem is; -1 when unknown.
	Offset int
	// Msg says what is wrong.
	Msg string
	// Task is set when the problem is a reference to a task that is not
	// visible (tasks.<Task>), so callers can say why.
	Task string
	// Path names the string inside the value given to CheckTemplate (map
	// keys and list indexes); empty for the value itself.
	Path []string
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
	}
	return e.Msg
}

// EvalError is an expression that failed to compile or evaluate at run time.
type EvalError struct {
	// Expr is the expression's source.
	Expr string
	// Err is what went wrong.
	Err error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("expression %s: %v", quoteShort(e.Expr), e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

func quoteShort(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}
