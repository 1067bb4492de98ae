package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Run's tasks come in file order, with for_each items after their
// aggregate and fallbacks and compensations after their task.
const shapesFile = `name: shapes
tasks:
  - id: reserve
    type: noop
    compensate: {type: noop, with: {undo: true}}
  - id: fan
    needs: [reserve]
    type: noop
    for_each: ${{ ["a", "b", "c"] }}
    with: {item: "${{ item }}"}
  - id: flaky
    needs: [fan]
    type: noop
    with: {fail: "down"}
    on_failure: {type: noop, with: {fallback: true}}
  - id: last
    needs: [flaky]
    type: noop
    with: {fail: "the end"}
`

func TestRunTaskOrderAndKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.applyOK(t, "shapes.yaml", shapesFile)
	id := b.startRun(t, "shapes", nil)["id"].(string)
	run := b.waitRun(t, id, func(r map[string]any) bool {
		if r["status"] != "failed" {
			return false
		}
		for _, tr := range r["tasks"].([]any) {
			if tr.(map[string]any)["kind"] == "compensation" {
				return tr.(map[string]any)["status"] == "succeeded"
			}
		}
		return false
	})

	type row struct {
		ID, Kind string
		Index    any
		Items    any
	}
	var got []row
	for _, tr := range run["tasks"].([]any) {
		m := tr.(map[string]any)
		got = append(got, row{m["id"].(string), m["kind"].(string), m["index"], m["items"]})
	}
	require.Equal(t, []row{
		{"reserve", "task", nil, nil},
		{"reserve.compensate", "compensation", nil, nil},
		{"fan", "task", nil, float64(3)},
		{"fan", "item", float64(0), nil},
		{"fan", "item", float64(1), nil},
		{"fan", "item", float64(2), nil},
		{"flaky", "task", nil, nil},
		{"flaky.on_failure", "fallback", nil, nil},
		{"last", "task", nil, nil},
	}, got, "%v", run["tasks"])

	// Item logs and events carry their index.
	var events struct {
		Events []map[string]any `json:"events"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs/"+id+"/events", nil, &events))
	sawItem := false
	for _, ev := range events.Events {
		if ev["task"] == "fan" && ev["index"] != nil {
			sawItem = true
		}
	}
	require.True(t, sawItem, "%v", events.Events)
}
