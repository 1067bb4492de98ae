// Package api owns Legato's HTTP API (v1): JSON endpoints under /api/v1 for
// workflows, runs, logs and events, the worker protocol for remote workers, the OpenAPI 3.1 document generated from
// the Go types of this package (served at /api/v1/openapi.json), and the
// health endpoints. docs/api-contract.md is the contract; docs/api.md the
// user documentation.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/legatohq/legato/internal/auth"
	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

// Prefix is the path every v1 endpoint starts with.
const Prefix = "/api/v1"

// OpenAPIPath is where the OpenAPI 3.1 document is served (no token needed).
const OpenAPIPath = Prefix + "/openapi.json"

// Config is what the API serves from.
type Config struct {
	// Engine starts, cancels and retries runs and applies workflows.
	Engine *engine.Engine
	// Store is read directly for the read endpoints.
	Store store.Store
	// Auth checks bearer tokens; it is required (New panics on nil).
	Auth *auth.Verifier
	// Logger receives internal errors (default slog.Default()).
	Logger *slog.Logger
	// Version is the build version, shown in the OpenAPI document.
	Version string
	// WorkerSeen, when set, is told the id of each remote worker that
	// claims or heartbeats (metrics count the workers seen recently).
	WorkerSeen func(workerID string)
}

// server holds what the handlers need.
type server struct {
	eng   *engine.Engine
	st    store.Store
	log   *slog.Logger
	polls polls
	seen  func(workerID string)
}

// publicPaths answer without a token.
var publicPaths = []string{
	"GET /healthz", "GET /readyz",
	"GET " + Prefix + "/openapi.json", "GET " + Prefix + "/openapi.yaml",
	"GET " + Prefix + "/openapi-3.0.json", "GET " + Prefix + "/openapi-3.0.yaml",
}

// New returns the handler of /api/v1/*, /healthz and /readyz. Every path
// under /api/v1 except the OpenAPI document needs a bearer token; other
// paths answer 404 not_found.
func New(cfg Config) http.Handler {
	if cfg.Auth == nil {
		panic("api.New: Config.Auth is nil: the API never serves without authentication")
	}
	if cfg.Engine == nil || cfg.Store == nil {
		panic("api.New: Config.Engine and Config.Store are required")
	}
	s := &server{eng: cfg.Engine, st: cfg.Store, log: cfg.Logger, seen: cfg.WorkerSeen}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.seen == nil {
		s.seen = func(string) {}
	}
	mux := http.NewServeMux()
	hapi := humago.New(mux, humaConfig(cfg.Version))
	s.registerHealth(hapi)
	s.registerWorkflows(hapi)
	s.registerRuns(hapi)
	s.registerLogs(hapi)
	s.registerWorkers(hapi)
	s.registerCluster(hapi)
	s.registerEvents(hapi)
	s.registerStats(hapi)
	s.registerLimits(hapi)
	s.registerSchedules(hapi)
	mux.HandleFunc(Prefix+"/", notFound)
	tidyErrors(hapi.OpenAPI())

	root := http.NewServeMux()
	for _, p := range publicPaths {
		root.Handle(p, mux)
	}
	root.Handle(Prefix+"/", auth.Middleware(cfg.Auth, mux))
	root.HandleFunc("POST "+HooksPrefix+"{namespace}/{workflow}/{trigger}", s.hook)
	root.HandleFunc("/", notFound)
	return root
}

// humaConfig is huma's default without its docs page, its schema links
// ($schema in every body) and its separate schema endpoints.
func humaConfig(version string) huma.Config {
	if version == "" {
		version = "dev"
	}
	c := huma.DefaultConfig("Legato API", version)
	c.Info.Description = "The HTTP API of Legato, a workflow orchestrator. " +
		"Every endpoint under /api/v1 except this document needs `Authorization: Bearer <token>`. " +
		`Errors are {"error": {"code", "message", "details"}} with the HTTP status.`
	c.OpenAPIPath = Prefix + "/openapi"
	c.DocsPath = ""
	c.SchemasPath = ""
	c.CreateHooks = nil
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API token (lgt_…); the admin token is in the server's data directory (admin.token)."},
	}
	c.Security = []map[string][]string{{"bearer": {}}}
	return c
}

// tidyErrors removes the 422 huma documents for every operation with
// parameters: its validation failures are answered 400 invalid_request
// here, and only apply and start-run answer 422.
func tidyErrors(doc *huma.OpenAPI) {
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post} {
			if op == nil || slices.Contains(answers422, op.OperationID) {
				continue
			}
			delete(op.Responses, "422")
		}
	}
}

// answers422 are the operations that answer 422 (invalid_workflow,
// invalid_inputs).
var answers422 = []string{"apply-workflow", "start-run", "backfill-workflow"}

// notFound answers paths no endpoint serves.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, errNotFound("no endpoint %s %s", r.Method, r.URL.Path))
}

// writeError writes e outside huma (routing and auth failures).
func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = jsonEncode(w, e)
}

// actor is the subject recorded as the author of a change.
func actor(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return p.Subject
	}
	return ""
}

// fail maps err to the API's error (see apiError).
func (s *server) fail(ctx context.Context, err error) error {
	return apiError(ctx, s.log, err)
}
