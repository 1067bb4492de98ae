package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// Error codes of the API (the "code" of an error body). They are stable:
// clients match on them, never on messages.
const (
	CodeUnauthenticated = "unauthenticated"  // 401: no or invalid bearer token
	CodeNotFound        = "not_found"        // 404: no such workflow, version, run, schedule or endpoint
	CodeInvalidWorkflow = "invalid_workflow" // 422: details.errors [{file, line, col, message}]
	CodeInvalidInputs   = "invalid_inputs"   // 422: details.problems ["…"]
	CodeInvalidRequest  = "invalid_request"  // 400: bad JSON, bad parameters
	CodeInvalidState    = "invalid_state"    // 409: the run's status does not allow it
	CodeStaleLease      = "stale_lease"      // 409: the attempt's lease is no longer held
	CodeInternal        = "internal"         // 500: a bug or an unavailable store
)

// Error is an error as the API answers it: an HTTP status and the body
// {"error": {"code", "message", "details"}}. It implements huma.StatusError.
type Error struct {
	Status int       `json:"-"`
	Err    ErrorBody `json:"error"`
}

// ErrorBody is the inside of an error response.
type ErrorBody struct {
	Code    string         `json:"code" doc:"Stable snake_case error code" enum:"unauthenticated,not_found,invalid_workflow,invalid_inputs,invalid_request,invalid_state,stale_lease,internal"`
	Message string         `json:"message" doc:"A human sentence saying what went wrong"`
	Details map[string]any `json:"details" doc:"Code-specific details: errors for invalid_workflow, problems for invalid_inputs"`
}

func (e *Error) Error() string { return e.Err.Code + ": " + e.Err.Message }

// GetStatus returns the HTTP status (huma.StatusError).
func (e *Error) GetStatus() int { return e.Status }

func newError(status int, code, msg string, details map[string]any) *Error {
	if details == nil {
		details = map[string]any{}
	}
	return &Error{Status: status, Err: ErrorBody{Code: code, Message: msg, Details: details}}
}

func errNotFound(format string, args ...any) *Error {
	return newError(http.StatusNotFound, CodeNotFound, fmt.Sprintf(format, args...), nil)
}

func errInvalidRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, args...), nil)
}

// WorkflowError is one problem of a workflow file, in invalid_workflow's
// details.errors.
type WorkflowError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

func init() {
	// huma makes its own errors (validation, bad JSON, unacceptable
	// content type) through NewError: make them the API's shape. Only this
	// package uses huma, so the global is ours to set.
	huma.NewError = humaError
}

// humaError turns an error huma made into the API's shape: its validation
// failures (400 and 422) become invalid_request 400 with details.errors
// [{location, message, value}].
func humaError(status int, msg string, errs ...error) huma.StatusError {
	var details []map[string]any
	for _, err := range errs {
		if err == nil {
			continue
		}
		d := map[string]any{"message": err.Error()}
		var ed huma.ErrorDetailer
		if errors.As(err, &ed) {
			e := ed.ErrorDetail()
			d = map[string]any{"message": e.Message}
			if e.Location != "" {
				d["location"] = e.Location
			}
			if e.Value != nil {
				d["value"] = e.Value
			}
		}
		details = append(details, d)
	}
	code := CodeInvalidRequest
	switch {
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		status = http.StatusBadRequest
	case status == http.StatusUnauthorized:
		code = CodeUnauthenticated
	case status == http.StatusNotFound:
		code = CodeNotFound
	case status >= 500:
		code = CodeInternal
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(details) == 1 {
		if m, _ := details[0]["message"].(string); m != "" && m != msg {
			msg += ": " + m
			if loc, _ := details[0]["location"].(string); loc != "" {
				msg += " (" + loc + ")"
			}
		}
	}
	var d map[string]any
	if len(details) > 0 {
		d = map[string]any{"errors": details}
	}
	return newError(status, code, msg, d)
}

// apiError maps an error from the engine, the spec parser or the store to
// the API's codes. Anything unknown is logged and answered as internal,
// without its text (it may hold details a client must not see).
func apiError(ctx context.Context, log *slog.Logger, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var list spec.ErrorList
	if errors.As(err, &list) {
		return invalidWorkflow(list)
	}
	var one *spec.Error
	if errors.As(err, &one) {
		return invalidWorkflow(spec.ErrorList{one})
	}
	var inputs *engine.InputError
	if errors.As(err, &inputs) {
		problems := append([]string{}, inputs.Problems...)
		return newError(http.StatusUnprocessableEntity, CodeInvalidInputs, err.Error(), map[string]any{"problems": problems})
	}
	switch {
	case errors.Is(err, engine.ErrBackfillTooLarge), errors.Is(err, engine.ErrBadWindow):
		return newError(http.StatusBadRequest, CodeInvalidRequest, err.Error(), nil)
	case errors.Is(err, engine.ErrWorkflowNotFound), errors.Is(err, engine.ErrRunNotFound), errors.Is(err, engine.ErrScheduleNotFound), errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, err.Error(), nil)
	case errors.Is(err, engine.ErrInvalidState):
		return newError(http.StatusConflict, CodeInvalidState, err.Error(), nil)
	case errors.Is(err, store.ErrStaleLease):
		return newError(http.StatusConflict, CodeStaleLease, err.Error(), nil)
	}
	if ctx.Err() == nil {
		log.ErrorContext(ctx, "api request failed", "err", err)
	}
	return newError(http.StatusInternalServerError, CodeInternal, "internal error: the server logged the details", nil)
}

func invalidWorkflow(list spec.ErrorList) *Error {
	errs := make([]WorkflowError, 0, len(list))
	msg := "the workflow file is not valid"
	for _, e := range list {
		if e == nil {
			continue
		}
		if len(errs) == 0 {
			msg = e.Error()
		}
		errs = append(errs, WorkflowError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
	}
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return newError(http.StatusUnprocessableEntity, CodeInvalidWorkflow, msg, map[string]any{"errors": errs})
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
