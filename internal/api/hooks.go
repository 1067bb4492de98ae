package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/expr"
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/trigger"
)

// HooksPrefix is where webhooks are served: POST
// /hooks/{namespace}/{workflow}/{trigger}. These paths need no API token:
// each request is authenticated by its trigger's signature or token.
const HooksPrefix = "/hooks/"

// CodePayloadTooLarge is answered 413 when a webhook body is over
// trigger.MaxBodyBytes.
const CodePayloadTooLarge = "payload_too_large"

// HookResponse is the body of a webhook's answer.
type HookResponse struct {
	RunID string `json:"run_id,omitempty"`
	// Duplicate says the idempotency key was used before: RunID is the run
	// that delivery started, and nothing new started.
	Duplicate bool `json:"duplicate"`
	// Filtered says the trigger's filter was false: nothing started.
	Filtered bool `json:"filtered,omitempty"`
}

// hook starts a run from a webhook request: 202 with the new run, 200
// when the idempotency key was seen (the first run) or the filter is
// false, 401 when unsigned or badly signed (nothing starts), 404 for no
// such workflow or webhook trigger.
func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	received := s.eng.Now().UTC()
	ns, name, hookName := r.PathValue("namespace"), r.PathValue("workflow"), r.PathValue("trigger")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, trigger.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, newError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			fmt.Sprintf("the body is over %d bytes", trigger.MaxBodyBytes), nil))
		return
	}
	if err != nil {
		writeError(w, errInvalidRequest("read the body: %v", err))
		return
	}
	wf, version, err := s.eng.LatestWorkflow(ctx, ns, name)
	if errors.Is(err, engine.ErrWorkflowNotFound) {
		writeError(w, errNotFound("workflow %s/%s not found", ns, name))
		return
	}
	if err != nil {
		writeError(w, s.fail(ctx, err).(*Error))
		return
	}
	t := webhookTrigger(wf, hookName)
	if t == nil {
		writeError(w, errNotFound("workflow %s/%s has no webhook trigger %q", ns, name, hookName))
		return
	}
	if err := trigger.Authenticate(t, s.eng.Env(), r.Header, body, received); err != nil {
		s.log.WarnContext(ctx, "webhook refused", "workflow", ns+"/"+name, "trigger", hookName, "reason", err)
		writeError(w, newError(http.StatusUnauthorized, CodeUnauthenticated, err.Error(), nil))
		return
	}
	vars := trigger.Vars(trigger.RequestVar(r.Method, r.URL.Path, r.Header, r.URL.Query(), body), s.eng.Env())
	inputs, ok, err := engine.TriggerInputs(t.Filter, t.Inputs, vars)
	if err != nil {
		writeError(w, errInvalidRequest("webhook %s: %v", hookName, err))
		return
	}
	if !ok {
		writeJSON(w, http.StatusOK, HookResponse{Filtered: true})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" && t.IdempotencyKey != "" {
		v, err := expr.Render(t.IdempotencyKey, vars)
		if err != nil {
			writeError(w, errInvalidRequest("webhook %s: idempotency_key: %v", hookName, err))
			return
		}
		if v != nil {
			key = fmt.Sprint(v) // empty: no key
		}
	}
	run, created, err := s.eng.Start(ctx, &engine.StartRunParams{
		Namespace: ns, Workflow: name, Version: version, Inputs: inputs, Actor: "webhook:" + hookName,
		IdempotencyKey: key,
		Trigger:        &store.RunTrigger{Kind: "webhook", Name: hookName, ReceivedAt: received},
	})
	if err != nil {
		writeError(w, s.fail(ctx, err).(*Error))
		return
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, HookResponse{RunID: run.ID, Duplicate: !created})
}

func webhookTrigger(w *spec.Workflow, name string) *spec.Trigger {
	for i := range w.Triggers {
		if w.Triggers[i].Webhook == name {
			return &w.Triggers[i]
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = jsonEncode(w, v)
}
