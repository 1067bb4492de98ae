package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// fakeCRM stands in for a CRM's HTTP API, in memory, so that the example
// needs no outside service. Like a real API that supports retries, it
// honours the Idempotency-Key header: a request whose key it has seen gets
// the record that key made, and nothing new is made.
//
// With flaky set, the first request of each key is carried out but
// answered 503, as when an answer is lost on the way back: the case
// idempotency keys are for. The task's next attempt sends the same key and
// gets the record made the first time.
type fakeCRM struct {
	flaky bool

	mu       sync.Mutex
	contacts map[string]*contact
	notes    []*note
	byKey    map[string]any // idempotency key → the record it made
	requests map[string]int // idempotency key → requests received
}

type contact struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type note struct {
	ID        string `json:"id"`
	ContactID string `json:"contact_id"`
	Text      string `json:"text"`
}

// crmError is a refusal of the fake CRM: an HTTP status and a message.
type crmError struct {
	status int
	msg    string
}

func (e *crmError) Error() string { return e.msg }

func newFakeCRM(flaky bool) *fakeCRM {
	return &fakeCRM{flaky: flaky, contacts: map[string]*contact{}, byKey: map[string]any{}, requests: map[string]int{}}
}

func (c *fakeCRM) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /contacts", func(w http.ResponseWriter, r *http.Request) {
		var in contact
		c.idempotent(w, r, &in, func() (any, error) {
			if !strings.Contains(in.Email, "@") {
				return nil, &crmError{http.StatusUnprocessableEntity, fmt.Sprintf("%q is not an email address", in.Email)}
			}
			ct := &contact{ID: fmt.Sprintf("C-%d", len(c.contacts)+1), Email: in.Email, Name: in.Name}
			c.contacts[ct.ID] = ct
			return ct, nil
		})
	})
	mux.HandleFunc("POST /contacts/{id}/notes", func(w http.ResponseWriter, r *http.Request) {
		var in note
		c.idempotent(w, r, &in, func() (any, error) {
			id := r.PathValue("id")
			if c.contacts[id] == nil {
				return nil, &crmError{http.StatusNotFound, "no contact " + id}
			}
			n := &note{ID: fmt.Sprintf("N-%d", len(c.notes)+1), ContactID: id, Text: in.Text}
			c.notes = append(c.notes, n)
			return n, nil
		})
	})
	return mux
}

// idempotent decodes the body into in and answers the record the request's
// idempotency key made, making it with create the first time.
func (c *fakeCRM) idempotent(w http.ResponseWriter, r *http.Request, in any, create func() (any, error)) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "an Idempotency-Key header is required"})
		return
	}
	if err := json.NewDecoder(r.Body).Decode(in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
		return
	}
	c.mu.Lock()
	c.requests[key]++
	first := c.requests[key] == 1
	rec, seen := c.byKey[key]
	var err error
	if !seen {
		if rec, err = create(); err == nil {
			c.byKey[key] = rec
		}
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		ce := err.(*crmError)
		writeJSON(w, ce.status, map[string]string{"error": ce.msg})
	case c.flaky && first:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "overloaded, try again"})
	case seen:
		writeJSON(w, http.StatusOK, rec)
	default:
		writeJSON(w, http.StatusCreated, rec)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
