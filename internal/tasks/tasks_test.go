package tasks

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"http", "noop", "shell", "sleep", "wait_event", "workflow"}, Names())
	typ, ok := Lookup("shell")
	require.True(t, ok)
	require.NotNil(t, typ.Executor)
	typ, ok = Lookup("sleep")
	require.True(t, ok)
	require.Nil(t, typ.Executor)
	_, ok = Lookup("nope")
	require.False(t, ok)
	require.Panics(t, func() { Register(Type{Name: "noop"}) })
	require.Panics(t, func() { Register(Type{}) })
}

func TestCheckUnknownType(t *testing.T) {
	t.Parallel()
	errs := Check("x", nil)
	require.Len(t, errs, 1)
	require.EqualError(t, errs[0], `unknown task type "x"; known: http, noop, shell, sleep, wait_event, workflow, or an external type with a dot (crm.create_contact)`)
	require.Empty(t, Check("noop", nil))
}

func TestFieldError(t *testing.T) {
	t.Parallel()
	require.EqualError(t, &FieldError{Path: []string{"url"}, Msg: "required"}, "with.url: required")
	require.EqualError(t, &FieldError{Path: []string{"argv", "1"}, Msg: "bad"}, "with.argv[1]: bad")
	require.EqualError(t, &FieldError{Msg: "bad"}, "with: bad")
}

func TestNonRetryable(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	err := fmt.Errorf("wrapped: %w", NonRetryable(base))
	require.True(t, IsNonRetryable(err))
	require.ErrorIs(t, err, base)
	require.EqualError(t, err, "wrapped: boom")
	require.False(t, IsNonRetryable(base))
	require.NoError(t, NonRetryable(nil))
	var fe *FieldError
	require.ErrorAs(t, NonRetryable(&FieldError{Msg: "x"}), &fe)
}

func TestExecutorFunc(t *testing.T) {
	t.Parallel()
	var e Executor = ExecutorFunc(func(_ context.Context, req *Request) (any, error) { return req.TaskID, nil })
	out, err := e.Execute(t.Context(), &Request{TaskID: "a"})
	require.NoError(t, err)
	require.Equal(t, "a", out)
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := canceled(ctx)
	require.ErrorIs(t, err, ErrCanceled)
	require.ErrorIs(t, err, context.Canceled)
}

func TestExternalTypes(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"crm.create_contact": true, "acme.tickets.open": true,
		"shell": false, "crm": false, ".crm": false, "crm.": false,
	} {
		require.Equal(t, want, IsExternal(name), name)
	}
	require.Empty(t, Check("crm.create_contact", map[string]any{"anything": 1}))
	errs := Check("crm", nil)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), `unknown task type "crm"`)
}
