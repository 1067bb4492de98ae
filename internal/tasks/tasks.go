// Package tasks owns the built-in task types and the contract between the
// worker and a task type: a Request describing one attempt, an Executor that
// runs it, and the errors that steer retries.
//
// Each type registers itself by name in init() with Register; the spec
// package checks a task's `with` block through Lookup(name).Validate before
// anything runs, and the worker runs attempts through Lookup(name).Executor.
package tasks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is one attempt handed to a task type. Params are already rendered
// (no templates left).
type Request struct {
	RunID, TaskID string
	// Index is the for_each item index, -1 when not a for_each item.
	Index int
	// Attempt is 1-based.
	Attempt int
	// IdempotencyKey is stable per task run ("<run>/<task>/<index>"): the
	// same across attempts, so a side effect can be deduplicated downstream.
	IdempotencyKey string
	Type           string
	// Params holds JSON-like values: string, float64/int64, bool, nil,
	// []any, map[string]any.
	Params map[string]any
	// Timeout is informative: 0 means none; the executor's ctx already
	// carries it.
	Timeout time.Duration
	// Log receives the attempt's log lines. The worker never leaves it nil;
	// tests may, and a nil Log discards.
	Log LogFunc
}

// LogFunc receives one log line; stream is "stdout", "stderr" or "system".
type LogFunc func(stream string, line string)

// logf writes a line to r.Log, or nowhere when it is nil.
func (r *Request) logf(stream, format string, args ...any) {
	if r.Log != nil {
		r.Log(stream, fmt.Sprintf(format, args...))
	}
}

// Executor runs one attempt. The returned output must be JSON-marshalable;
// it may be returned together with an error (a failed command's stdout).
// ctx is cancelled on timeout or run cancel: an Executor stops promptly and
// returns an error wrapping ErrCanceled and ctx.Err().
type Executor interface {
	Execute(ctx context.Context, req *Request) (any, error)
}

// ExecutorFunc adapts a function to Executor, like http.HandlerFunc.
type ExecutorFunc func(ctx context.Context, req *Request) (any, error)

// Execute calls f(ctx, req).
func (f ExecutorFunc) Execute(ctx context.Context, req *Request) (any, error) { return f(ctx, req) }

// Type is a registered task type.
type Type struct {
	Name string
	// Validate checks a `with` block statically. Values may still be
	// template strings ("${{ … }}", see HasTemplate) wherever a field is not
	// yet known: they are accepted. Errors are *FieldError where possible.
	Validate func(with map[string]any) []error
	// Executor is nil for types the engine handles itself (sleep, workflow).
	Executor Executor
}

var registry = struct {
	sync.RWMutex
	types map[string]Type
}{types: map[string]Type{}}

// Register adds a task type. It panics on an empty or duplicate name: it is
// meant for init().
func Register(t Type) {
	if t.Name == "" {
		panic("tasks: Register with an empty name")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[t.Name]; dup {
		panic(fmt.Sprintf("tasks: task type %q registered twice", t.Name))
	}
	registry.types[t.Name] = t
}

// Lookup returns the task type registered under name.
func Lookup(name string) (Type, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.types[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.types))
	for n := range registry.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// HasTemplate reports whether s holds a "${{" template, so that its value is
// not known before the run.
func HasTemplate(s string) bool { return strings.Contains(s, "${{") }

// IsExternal reports whether a type name is an external task type: a name
// with a dot (`crm.create_contact`), executed by a worker that registers it
// (see sdk/worker), never by the server's own workers. Built-in names have
// no dot.
func IsExternal(taskType string) bool {
	return strings.Contains(taskType, ".") && !strings.HasPrefix(taskType, ".") && !strings.HasSuffix(taskType, ".")
}

// Check validates the `with` block of a task of type taskType: an external
// type takes any `with` (its worker checks it); an unknown type is an error
// naming the known ones; otherwise the type's Validate decides. It is the
// checker the spec package calls.
func Check(taskType string, with map[string]any) []error {
	t, ok := Lookup(taskType)
	if !ok && IsExternal(taskType) {
		return nil
	}
	if !ok {
		return []error{fmt.Errorf("unknown task type %q; known: %s, or an external type with a dot (crm.create_contact)", taskType, strings.Join(Names(), ", "))}
	}
	if t.Validate == nil {
		return nil
	}
	if with == nil {
		with = map[string]any{}
	}
	return t.Validate(with)
}
