package main

// A copy of sdk/client's fake_test.go (test files cannot be shared
// between packages). A small in-memory server that speaks docs/api-contract.md, for testing
// the client while the real server (internal/api) is written. Runs move
// one step each time they are read: queued → running → each task
// succeeds in order → succeeded; with the input "fail": true the last
// task fails and so does the run.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/sdk/client"
)

const fakeToken = "lg_test_token"

var fakeEpoch = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

type fakeServer struct {
	*httptest.Server

	mu        sync.Mutex
	workflows map[string][]client.WorkflowVersion // "ns/name" → versions, oldest first
	tasks     map[string][]string                 // "ns/name" → task ids of the latest version
	runs      map[string]*client.Run
	order     []string // run ids, oldest first
	logs      map[string][]client.LogLine
	events    map[string][]client.Event
	raw       map[string]string // run id → verbatim JSON answered for GET /runs/{id}
	seq       int64
	clock     time.Time
	requests  []string // "METHOD /path?query"
	bodies    []string
}

// newFakeServer starts a fake; the caller closes it.
func newFakeServer() *fakeServer {
	f := &fakeServer{
		workflows: map[string][]client.WorkflowVersion{},
		tasks:     map[string][]string{},
		runs:      map[string]*client.Run{},
		logs:      map[string][]client.LogLine{},
		events:    map[string][]client.Event{},
		raw:       map[string]string{},
		clock:     fakeEpoch,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/workflows", f.apply)
	mux.HandleFunc("GET /api/v1/workflows", f.listWorkflows)
	mux.HandleFunc("GET /api/v1/workflows/{ns}/{name}", f.getWorkflow)
	mux.HandleFunc("POST /api/v1/runs", f.startRun)
	mux.HandleFunc("GET /api/v1/runs", f.listRuns)
	mux.HandleFunc("GET /api/v1/runs/{id}", f.getRun)
	mux.HandleFunc("POST /api/v1/runs/{id}/cancel", f.cancelRun)
	mux.HandleFunc("POST /api/v1/runs/{id}/retry", f.retryRun)
	mux.HandleFunc("GET /api/v1/runs/{id}/logs", f.getLogs)
	mux.HandleFunc("GET /api/v1/runs/{id}/events", f.getEvents)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+fakeToken {
			writeErr(w, 401, "unauthenticated", "a bearer token is required", nil)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return f
}

func (f *fakeServer) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeServer) Bodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// SetRaw makes GET /runs/{id} answer body verbatim.
func (f *fakeServer) SetRaw(id, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raw[id] = body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, details map[string]any) {
	e := map[string]any{"code": code, "message": msg}
	if details != nil {
		e["details"] = details
	}
	writeJSON(w, status, map[string]any{"error": e})
}

var (
	reName      = regexp.MustCompile(`(?m)^name:\s*(\S+)`)
	reNamespace = regexp.MustCompile(`(?m)^namespace:\s*(\S+)`)
	reDesc      = regexp.MustCompile(`(?m)^description:\s*(.+)$`)
	reTaskID    = regexp.MustCompile(`(?m)^\s*- id:\s*(\S+)`)
)

func (f *fakeServer) tick() time.Time {
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

func (f *fakeServer) apply(w http.ResponseWriter, r *http.Request) {
	var body struct{ Source, File string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, 400, "invalid_request", "bad JSON: "+err.Error(), nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, body.File)
	m := reName.FindStringSubmatch(body.Source)
	var doc struct{ Name, Namespace string }
	if strings.HasPrefix(strings.TrimSpace(body.Source), "{") && json.Unmarshal([]byte(body.Source), &doc) == nil && doc.Name != "" {
		m = []string{"", doc.Name}
		if doc.Namespace != "" {
			body.Source = "namespace: " + doc.Namespace + "\n" + body.Source
		}
	}
	if m == nil {
		writeErr(w, 422, "invalid_workflow", body.File+": invalid workflow", map[string]any{
			"errors": []map[string]any{{"file": body.File, "line": 1, "col": 1, "message": "name is required"}},
		})
		return
	}
	ns := client.DefaultNamespace
	if n := reNamespace.FindStringSubmatch(body.Source); n != nil {
		ns = n[1]
	}
	key := ns + "/" + m[1]
	sum := sha256.Sum256([]byte(body.Source))
	hash := hex.EncodeToString(sum[:])
	versions := f.workflows[key]
	if len(versions) > 0 && versions[len(versions)-1].Hash == hash {
		writeJSON(w, 200, map[string]any{"created": false, "workflow": versions[len(versions)-1]})
		return
	}
	v := client.WorkflowVersion{Namespace: ns, Name: m[1], Version: len(versions) + 1, Hash: hash,
		CreatedAt: f.tick(), CreatedBy: "admin", Source: body.Source}
	if d := reDesc.FindStringSubmatch(body.Source); d != nil {
		v.Description = d[1]
	}
	f.workflows[key] = append(versions, v)
	var ids []string
	for _, t := range reTaskID.FindAllStringSubmatch(body.Source, -1) {
		ids = append(ids, t[1])
	}
	f.tasks[key] = ids
	v.Source = ""
	writeJSON(w, 201, map[string]any{"created": true, "workflow": v})
}

func (f *fakeServer) listWorkflows(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns := r.URL.Query().Get("namespace")
	out := []client.WorkflowVersion{}
	for _, vs := range f.workflows {
		v := vs[len(vs)-1]
		if ns == "" || v.Namespace == ns {
			v.Source = ""
			out = append(out, v)
		}
	}
	writeJSON(w, 200, map[string]any{"workflows": out})
}

func (f *fakeServer) getWorkflow(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.workflows[r.PathValue("ns")+"/"+r.PathValue("name")]
	if len(vs) == 0 {
		writeErr(w, 404, "not_found", "workflow not found", nil)
		return
	}
	v := vs[len(vs)-1]
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > len(vs) {
			writeErr(w, 404, "not_found", "workflow version not found", nil)
			return
		}
		v = vs[n-1]
	}
	v.Spec = json.RawMessage(`{"name":"` + v.Name + `"}`)
	writeJSON(w, 200, v)
}

func (f *fakeServer) startRun(w http.ResponseWriter, r *http.Request) {
	var req client.StartRunRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "invalid_request", "bad JSON: "+err.Error(), nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := req.Namespace + "/" + req.Workflow
	vs := f.workflows[key]
	if len(vs) == 0 {
		writeErr(w, 404, "not_found", "workflow "+key+" not found", nil)
		return
	}
	if _, ok := req.Inputs["bad"]; ok {
		writeErr(w, 422, "invalid_inputs", "invalid inputs", map[string]any{"problems": []string{"bad: unknown input"}})
		return
	}
	id := fmt.Sprintf("run-%d", len(f.order)+1)
	run := &client.Run{ID: id, Namespace: req.Namespace, Workflow: req.Workflow, Version: vs[len(vs)-1].Version,
		Status: client.StatusQueued, Inputs: req.Inputs, Attempt: 1, CreatedAt: f.tick(), CreatedBy: "admin"}
	for _, t := range f.tasks[key] {
		run.Tasks = append(run.Tasks, client.TaskRun{ID: t, Kind: "task", Status: client.TaskPending})
	}
	f.runs[id] = run
	f.order = append(f.order, id)
	f.event(id, "run.created", "", nil)
	writeJSON(w, 201, run)
}

func (f *fakeServer) event(id, typ, task string, data any) {
	f.seq++
	f.events[id] = append(f.events[id], client.Event{Seq: f.seq, Type: typ, Task: task, Data: data, Actor: "engine", At: f.clock})
}

func (f *fakeServer) log(id, task, stream, line string) {
	f.seq++
	f.logs[id] = append(f.logs[id], client.LogLine{Seq: f.seq, Task: task, Attempt: 1, Stream: stream, Line: line, At: f.clock})
}

// step moves a run one step forward.
func (f *fakeServer) step(run *client.Run) {
	if run.Final() {
		return
	}
	now := f.tick()
	if run.Status == client.StatusQueued {
		run.Status, run.StartedAt = client.StatusRunning, now
		f.event(run.ID, "run.started", "", nil)
		return
	}
	fail := false
	if in, ok := run.Inputs.(map[string]any); ok && in["fail"] == true {
		fail = true
	}
	for i := range run.Tasks {
		t := &run.Tasks[i]
		switch t.Status {
		case client.TaskPending:
			t.Status, t.StartedAt, t.Attempts = client.StatusRunning, now, 1
			f.event(run.ID, "task.started", t.ID, nil)
			f.log(run.ID, t.ID, "stdout", "starting "+t.ID)
			return
		case client.StatusRunning:
			t.FinishedAt = now
			if fail && i == len(run.Tasks)-1 {
				t.Status, t.Error = client.StatusFailed, "exit status 1"
				f.log(run.ID, t.ID, "stderr", "boom")
				f.event(run.ID, "task.failed", t.ID, nil)
				run.Status, run.FinishedAt, run.Error = client.StatusFailed, now, "task "+t.ID+" failed: exit status 1"
				return
			}
			t.Status, t.Output = client.StatusSucceeded, map[string]any{"ok": true}
			f.event(run.ID, "task.succeeded", t.ID, nil)
			return
		}
	}
	run.Status, run.FinishedAt, run.Outputs = client.StatusSucceeded, now, map[string]any{"done": true}
	f.event(run.ID, "run.succeeded", "", nil)
}

func (f *fakeServer) getRun(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if raw, ok := f.raw[id]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(raw))
		return
	}
	run, ok := f.runs[id]
	if !ok {
		writeErr(w, 404, "not_found", "run "+id+" not found", nil)
		return
	}
	f.step(run)
	writeJSON(w, 200, run)
}

func (f *fakeServer) listRuns(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeErr(w, 400, "invalid_request", "limit must be a positive integer", nil)
			return
		}
		limit = n
	}
	var before time.Time
	if s := q.Get("before"); s != "" {
		var err error
		if before, err = time.Parse(time.RFC3339Nano, s); err != nil {
			writeErr(w, 400, "invalid_request", "before must be RFC 3339", nil)
			return
		}
	}
	out := []client.Run{}
	for i := len(f.order) - 1; i >= 0 && len(out) < limit; i-- {
		run := *f.runs[f.order[i]]
		if (q.Get("namespace") != "" && run.Namespace != q.Get("namespace")) ||
			(q.Get("workflow") != "" && run.Workflow != q.Get("workflow")) ||
			(q.Get("status") != "" && run.Status != q.Get("status")) ||
			(!before.IsZero() && !run.CreatedAt.Before(before)) {
			continue
		}
		run.Tasks = nil
		out = append(out, run)
	}
	writeJSON(w, 200, map[string]any{"runs": out})
}

func (f *fakeServer) cancelRun(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	run, ok := f.runs[r.PathValue("id")]
	if !ok {
		writeErr(w, 404, "not_found", "run not found", nil)
		return
	}
	if run.Final() {
		writeErr(w, 409, "invalid_state", "run "+run.ID+" is already "+run.Status, nil)
		return
	}
	run.Status, run.FinishedAt, run.Error = client.StatusCanceled, f.tick(), "canceled by admin"
	writeJSON(w, 200, run)
}

func (f *fakeServer) retryRun(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	run, ok := f.runs[r.PathValue("id")]
	if !ok {
		writeErr(w, 404, "not_found", "run not found", nil)
		return
	}
	if run.Status != client.StatusFailed && run.Status != client.StatusCanceled {
		writeErr(w, 409, "invalid_state", "run "+run.ID+" is "+run.Status+": only failed or canceled runs can be retried", nil)
		return
	}
	run.Status, run.Error, run.FinishedAt, run.Attempt = client.StatusRunning, "", time.Time{}, run.Attempt+1
	if in, ok := run.Inputs.(map[string]any); ok {
		delete(in, "fail")
	}
	for i := range run.Tasks {
		if t := &run.Tasks[i]; t.Status != client.StatusSucceeded {
			t.Status, t.Error, t.FinishedAt = client.TaskPending, "", time.Time{}
		}
	}
	writeJSON(w, 200, run)
}

func (f *fakeServer) getLogs(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := f.runs[id]; !ok {
		writeErr(w, 404, "not_found", "run not found", nil)
		return
	}
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit := 1000
	if s := q.Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	out, next := []client.LogLine{}, after
	for _, l := range f.logs[id] {
		if l.Seq <= after || (q.Get("task") != "" && l.Task != q.Get("task")) || len(out) >= limit {
			continue
		}
		out = append(out, l)
		next = l.Seq
	}
	writeJSON(w, 200, map[string]any{"lines": out, "next": next})
}

func (f *fakeServer) getEvents(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := f.runs[id]; !ok {
		writeErr(w, 404, "not_found", "run not found", nil)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	out, next := []client.Event{}, after
	for _, e := range f.events[id] {
		if e.Seq > after {
			out = append(out, e)
			next = e.Seq
		}
	}
	writeJSON(w, 200, map[string]any{"events": out, "next": next})
}

// hasPrefix reports whether any request starts with p.
func hasPrefix(reqs []string, p string) bool {
	for _, r := range reqs {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}
