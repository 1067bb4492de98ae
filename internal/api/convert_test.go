package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/store"
)

func TestTaskRunOrder(t *testing.T) {
	t.Parallel()
	tr := func(task string, index, items int) *store.TaskRun {
		return &store.TaskRun{Task: task, Index: index, Items: items, Status: store.TaskSucceeded}
	}
	// Stored in an arbitrary order.
	in := []*store.TaskRun{
		tr("notify", -1, 0),
		tr("fanout", 2, 0),
		tr("reserve.compensate", -1, 0),
		tr("fanout", -1, 3),
		tr("reserve.on_failure", -1, 0),
		tr("fanout", 0, 0),
		tr("ghost", -1, 0),
		tr("reserve", -1, 0),
		tr("fanout", 1, 0),
	}
	got := toTaskRuns(in, []string{"reserve", "fanout", "notify"})

	type row struct {
		id, kind string
		index    *int
		items    int
	}
	var rows []row
	for _, g := range got {
		rows = append(rows, row{g.ID, g.Kind, g.Index, g.Items})
	}
	i := func(n int) *int { return &n }
	require.Equal(t, []row{
		{"reserve", "task", nil, 0},
		{"reserve.on_failure", "fallback", nil, 0},
		{"reserve.compensate", "compensation", nil, 0},
		{"fanout", "task", nil, 3},
		{"fanout", "item", i(0), 0},
		{"fanout", "item", i(1), 0},
		{"fanout", "item", i(2), 0},
		{"notify", "task", nil, 0},
		{"ghost", "task", nil, 0}, // not in the file: last
	}, rows)
}

func TestTaskRunOrderWithoutSpec(t *testing.T) {
	t.Parallel()
	got := toTaskRuns([]*store.TaskRun{{Task: "b", Index: -1}, {Task: "a", Index: -1}}, nil)
	require.Equal(t, "a", got[0].ID)
	require.Equal(t, "b", got[1].ID)
	require.Empty(t, toTaskRuns(nil, nil))
}

func TestHumaErrorShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     int
		status int
		code   string
	}{
		{422, 400, CodeInvalidRequest},
		{400, 400, CodeInvalidRequest},
		{413, 413, CodeInvalidRequest},
		{401, 401, CodeUnauthenticated},
		{404, 404, CodeNotFound},
		{500, 500, CodeInternal},
	} {
		e := humaError(tc.in, "validation failed").(*Error)
		require.Equal(t, tc.status, e.GetStatus())
		require.Equal(t, tc.code, e.Err.Code)
		require.NotNil(t, e.Err.Details)
	}
}
