// Package schema holds the JSON Schema (draft 2020-12) of workflow files,
// for editors, the API and tests. The spec package's validation is the
// authority; the schema describes the same format for tools.
package schema

import _ "embed"

// Workflow is the JSON Schema of a workflow file.
//
//go:embed workflow.schema.json
var Workflow []byte
