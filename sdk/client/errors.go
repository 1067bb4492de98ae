package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the API contract (APIError.Code).
const (
	CodeUnauthenticated = "unauthenticated"
	CodeNotFound        = "not_found"
	CodeInvalidWorkflow = "invalid_workflow"
	CodeInvalidInputs   = "invalid_inputs"
	CodeInvalidRequest  = "invalid_request"
	CodeInvalidState    = "invalid_state"
	CodeStaleLease      = "stale_lease"
	CodeInternal        = "internal"
)

// APIError is an error answered by the server: its HTTP status and the
// body {"error": {"code", "message", "details"}}. A response that is not
// in that shape (a proxy's error page) gets the code "http_<status>".
type APIError struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

// Error returns "<code>: <message>".
func (e *APIError) Error() string {
	return e.Code + ": " + e.Message
}

// FileError is one problem of an invalid workflow file, as listed in the
// details of an invalid_workflow error.
type FileError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// String returns "file:line:col: message".
func (f FileError) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", f.File, f.Line, f.Col, f.Message)
}

// WorkflowErrors returns the file errors of an invalid_workflow error
// (details.errors), or nil.
func (e *APIError) WorkflowErrors() []FileError {
	var d struct {
		Errors []FileError `json:"errors"`
	}
	if !e.decodeDetails(&d) {
		return nil
	}
	return d.Errors
}

// Problems returns the problems of an invalid_inputs error
// (details.problems), or nil.
func (e *APIError) Problems() []string {
	var d struct {
		Problems []string `json:"problems"`
	}
	if !e.decodeDetails(&d) {
		return nil
	}
	return d.Problems
}

func (e *APIError) decodeDetails(v any) bool {
	if len(e.Details) == 0 {
		return false
	}
	b, err := json.Marshal(e.Details)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func parseAPIError(status int, body []byte) *APIError {
	var env struct {
		Error *struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		return &APIError{Status: status, Code: env.Error.Code, Message: env.Error.Message, Details: env.Error.Details}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Code: fmt.Sprintf("http_%d", status), Message: msg}
}
