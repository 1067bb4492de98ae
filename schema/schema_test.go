package schema_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/schema"
)

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.Workflow))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("workflow.schema.json", doc))
	s, err := c.Compile("workflow.schema.json")
	require.NoError(t, err)
	return s
}

// load reads a YAML or JSON file as the plain values the schema validates.
func load(t *testing.T, path string) any {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	var v any
	require.NoError(t, yaml.Unmarshal(src, &v), path)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return out
}

// workflowFiles are the examples (none may exist yet) and the spec
// package's good test files.
func workflowFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	require.NoError(t, err)
	good, err := filepath.Glob("../internal/spec/testdata/good/*")
	require.NoError(t, err)
	require.NotEmpty(t, good)
	return append(files, good...)
}

func TestFilesMatchTheSchema(t *testing.T) {
	t.Parallel()
	s := compile(t)
	for _, f := range workflowFiles(t) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, s.Validate(load(t, f)))
		})
	}
}

func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	s := compile(t)
	for _, f := range []string{"unknown_field_task.yaml", "missing_required.yaml", "retry.yaml", "nested.yaml", "names.yaml", "alerts.yaml"} {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			require.Error(t, s.Validate(load(t, filepath.Join("../internal/spec/testdata/bad", f))))
		})
	}
}
