package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Apply sends a workflow file (YAML or JSON text; file names it in error
// messages) and returns the workflow's latest version. created is false
// when identical content already was the latest version: no new version
// was made. An invalid file gives an *APIError with code invalid_workflow
// whose WorkflowErrors lists the problems.
func (c *Client) Apply(ctx context.Context, file string, source []byte) (*WorkflowVersion, bool, error) {
	body := struct {
		Source string `json:"source"`
		File   string `json:"file"`
	}{string(source), file}
	var out struct {
		Created  bool            `json:"created"`
		Workflow WorkflowVersion `json:"workflow"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/workflows", nil, body, &out); err != nil {
		return nil, false, err
	}
	return &out.Workflow, out.Created, nil
}

// Workflows returns the latest version of each workflow of namespace (all
// readable namespaces when it is empty), without spec or source.
func (c *Client) Workflows(ctx context.Context, namespace string) ([]WorkflowVersion, error) {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	var out struct {
		Workflows []WorkflowVersion `json:"workflows"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/workflows", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Workflows, nil
}

// Workflow returns one version of a workflow with its spec and source;
// version 0 means the latest.
func (c *Client) Workflow(ctx context.Context, namespace, name string, version int) (*WorkflowVersion, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	q := url.Values{}
	if version > 0 {
		q.Set("version", strconv.Itoa(version))
	}
	var out WorkflowVersion
	path := "/workflows/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
	if _, err := c.do(ctx, http.MethodGet, path, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
