package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/schema"
)

// maxWorkflowBytes bounds the body of an apply.
const maxWorkflowBytes = 4 << 20

// ApplyRequest is the body of POST /workflows.
type ApplyRequest struct {
	Source string `json:"source" minLength:"1" doc:"The workflow file's text (YAML or JSON)"`
	File   string `json:"file,omitempty" doc:"The file's name, used in error positions (default workflow.yaml)"`
}

// ApplyResponse says whether a new version was made.
type ApplyResponse struct {
	Created  bool            `json:"created" doc:"true when a new version was made; false when identical content already was the latest"`
	Workflow WorkflowVersion `json:"workflow"`
}

type applyInput struct {
	Body ApplyRequest
}

type applyOutput struct {
	Status int
	Body   ApplyResponse
}

// WorkflowList is the body of GET /workflows.
type WorkflowList struct {
	Workflows []WorkflowVersion `json:"workflows" doc:"The latest version of each workflow, by name"`
}

type listWorkflowsInput struct {
	Namespace string `query:"namespace" doc:"Only this namespace (default: every namespace)"`
}

type listWorkflowsOutput struct{ Body WorkflowList }

type workflowPath struct {
	Namespace string `path:"namespace"`
	Name      string `path:"name"`
}

type getWorkflowInput struct {
	Namespace string `path:"namespace"`
	Name      string `path:"name"`
	Version   int    `query:"version" minimum:"0" doc:"The version (default 0: the latest)"`
}

type getWorkflowOutput struct{ Body WorkflowVersion }

// VersionList is the body of GET /workflows/{namespace}/{name}/versions.
type VersionList struct {
	Versions []WorkflowVersion `json:"versions" doc:"Newest first, without spec and source"`
}

type listVersionsOutput struct{ Body VersionList }

type schemaOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

func (s *server) registerWorkflows(api huma.API) {
	tags := []string{"workflows"}
	huma.Register(api, huma.Operation{
		OperationID: "apply-workflow", Method: http.MethodPost, Path: Prefix + "/workflows", Tags: tags,
		Summary:       "Apply a workflow file",
		Description:   "Validates the file and stores it as a new version unless the latest version has the same content. 201 when a version was made, 200 otherwise.",
		DefaultStatus: http.StatusCreated, MaxBodyBytes: maxWorkflowBytes,
		Responses: map[string]*huma.Response{"200": {Description: "Identical content already was the latest version"}},
		Errors:    []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusUnprocessableEntity},
	}, s.applyWorkflow)
	huma.Register(api, huma.Operation{
		OperationID: "list-workflows", Method: http.MethodGet, Path: Prefix + "/workflows", Tags: tags,
		Summary: "List workflows (latest version of each)",
		Errors:  []int{http.StatusUnauthorized},
	}, s.listWorkflows)
	huma.Register(api, huma.Operation{
		OperationID: "get-workflow", Method: http.MethodGet, Path: Prefix + "/workflows/{namespace}/{name}", Tags: tags,
		Summary: "Get a workflow version with its spec and source",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	}, s.getWorkflow)
	huma.Register(api, huma.Operation{
		OperationID: "list-workflow-versions", Method: http.MethodGet, Path: Prefix + "/workflows/{namespace}/{name}/versions", Tags: tags,
		Summary: "List the versions of a workflow, newest first",
		Errors:  []int{http.StatusUnauthorized, http.StatusNotFound},
	}, s.listVersions)
	huma.Register(api, huma.Operation{
		OperationID: "get-workflow-schema", Method: http.MethodGet, Path: Prefix + "/schema/workflow.json", Tags: tags,
		Summary: "The JSON Schema of workflow files",
		Responses: map[string]*huma.Response{"200": {
			Description: "A JSON Schema document",
			Content:     map[string]*huma.MediaType{"application/schema+json": {Schema: &huma.Schema{Type: huma.TypeObject}}},
		}},
		Errors: []int{http.StatusUnauthorized},
	}, func(context.Context, *struct{}) (*schemaOutput, error) {
		return &schemaOutput{ContentType: "application/schema+json", Body: schema.Workflow}, nil
	})
}

func (s *server) applyWorkflow(ctx context.Context, in *applyInput) (*applyOutput, error) {
	file := in.Body.File
	if file == "" {
		file = "workflow.yaml"
	}
	w, err := spec.Parse(file, []byte(in.Body.Source))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	v, created, err := s.eng.Apply(ctx, w, in.Body.Source, actor(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return &applyOutput{Status: status, Body: ApplyResponse{Created: created, Workflow: toVersion(v, false)}}, nil
}

func (s *server) listWorkflows(ctx context.Context, in *listWorkflowsInput) (*listWorkflowsOutput, error) {
	var vs []*store.WorkflowVersion
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		vs, err = tx.WorkflowList(ctx, in.Namespace)
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &listWorkflowsOutput{Body: WorkflowList{Workflows: toVersions(vs)}}, nil
}

func (s *server) getWorkflow(ctx context.Context, in *getWorkflowInput) (*getWorkflowOutput, error) {
	var v *store.WorkflowVersion
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.VersionGet(ctx, in.Namespace, in.Name, in.Version)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		if in.Version > 0 {
			return nil, errNotFound("workflow %s/%s has no version %d", in.Namespace, in.Name, in.Version)
		}
		return nil, errNotFound("workflow %s/%s not found", in.Namespace, in.Name)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &getWorkflowOutput{Body: toVersion(v, true)}, nil
}

func (s *server) listVersions(ctx context.Context, in *workflowPath) (*listVersionsOutput, error) {
	var vs []*store.WorkflowVersion
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		vs, err = tx.VersionList(ctx, in.Namespace, in.Name)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.fail(ctx, err)
	}
	if len(vs) == 0 {
		return nil, errNotFound("workflow %s/%s not found", in.Namespace, in.Name)
	}
	return &listVersionsOutput{Body: VersionList{Versions: toVersions(vs)}}, nil
}
