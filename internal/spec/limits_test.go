package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConcurrencyKeyAndResource(t *testing.T) {
	t.Parallel()
	w, err := Parse("keyed.yaml", []byte(`name: keyed
inputs:
  customer: string
concurrency: {key: "${{ inputs.customer }}", limit: 2}
tasks:
  - id: sync
    type: noop
    resource: crm
    on_failure: {type: noop, resource: crm-fallback}
`))
	require.NoError(t, err)
	require.Equal(t, &Concurrency{Limit: 2, Key: "${{ inputs.customer }}"}, w.Concurrency)
	require.Equal(t, "crm", w.Tasks[0].Resource)
	require.Equal(t, "crm-fallback", w.Tasks[0].OnFailure.Resource)
}
