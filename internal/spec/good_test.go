package spec

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parseGood(t *testing.T, name string) *Workflow {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata/good", name))
	require.NoError(t, err)
	w, err := Parse(name, src)
	require.NoError(t, err)
	return w
}

// clearPos drops positions so that models compare on content.
func clearPos(w *Workflow) *Workflow {
	for i := range w.Tasks {
		w.Tasks[i].Pos = Pos{}
		if w.Tasks[i].OnFailure != nil {
			w.Tasks[i].OnFailure.Pos = Pos{}
		}
		if w.Tasks[i].Compensate != nil {
			w.Tasks[i].Compensate.Pos = Pos{}
		}
	}
	return w
}

func ptr[T any](v T) *T { return &v }

func TestGoodFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		want *Workflow
	}{
		{"minimal.yaml", &Workflow{
			Name: "minimal", Namespace: "default",
			Tasks: []Task{{ID: "hello", Type: "noop"}},
		}},
		{"order-fulfillment.yaml", &Workflow{
			Name: "order-fulfillment", Namespace: "sales",
			Description: "Reserve stock, get approval for large orders, invoice, notify.",
			Inputs: []Input{
				{Name: "order_id", Type: "string", Required: true},
				{Name: "amount", Type: "number", Default: 0.0},
			},
			Triggers: []Trigger{
				{Event: "order.created", Filter: "event.data.amount > 0", Inputs: map[string]any{
					"order_id": "${{ event.data.id }}", "amount": "${{ event.data.amount }}",
				}},
				{Cron: "0 2 * * *", Timezone: "Europe/Paris"},
			},
			Tasks: []Task{
				{
					ID: "reserve", Type: "http",
					With: map[string]any{
						"method": "POST", "url": "${{ env.INVENTORY_URL }}/reserve",
						"json": map[string]any{"order": "${{ inputs.order_id }}"},
					},
					Retry:   &Retry{Attempts: 5, Backoff: "exponential", Initial: Duration(time.Second), Max: Duration(time.Minute)},
					Timeout: Duration(30 * time.Second),
					Compensate: &Task{ID: "reserve.compensate", Type: "http", With: map[string]any{
						"method": "POST", "url": "${{ env.INVENTORY_URL }}/release",
					}},
				},
				{
					ID: "approve", Type: "approval", Needs: []string{"reserve"}, When: "inputs.amount > 1000",
					With: map[string]any{"assignees": []any{"role:finance"}, "timeout": "24h"},
				},
				{
					ID: "invoice", Type: "shell", Needs: []string{"approve"},
					With: map[string]any{"run": "./bin/invoice --order ${{ inputs.order_id }}"},
				},
			},
			Outputs: map[string]any{"invoice": "${{ tasks.invoice.output.stdout }}"},
		}},
		{"full.json", &Workflow{
			Name: "nightly.report", Namespace: "default", Description: "Everything a file can say, as JSON.",
			Inputs: []Input{
				{Name: "day", Type: "string"},
				{Name: "limit", Type: "integer", Default: 10.0},
				{Name: "ratio", Type: "number", Default: 0.5, Description: "share"},
			},
			Triggers: []Trigger{
				{Cron: "@daily", Timezone: "UTC", Inputs: map[string]any{"day": "today"}},
				{Cron: "0 */6 * * *", Timezone: "Europe/Paris", Name: "every-6h", Catchup: "all", CatchupLimit: 3, Overlap: "skip", Inputs: map[string]any{"day": "${{ schedule.time }}"}},
				{Webhook: "github", Secret: "${{ env.GITHUB_SECRET }}", Filter: "request.body.action == 'push'", IdempotencyKey: "${{ request.headers['x-github-delivery'] }}"},
			},
			Timeout:     Duration(2 * time.Hour),
			Concurrency: &Concurrency{Limit: 1},
			Tasks: []Task{
				{ID: "list", Type: "http", With: map[string]any{"url": "https://example.com/${{ inputs.day }}"}},
				{
					ID: "each", Type: "shell", Needs: []string{"list"},
					ForEach: "${{ tasks.list.output.items }}", MaxParallel: 4,
					With: map[string]any{"run": "process ${{ item }} ${{ index }} ${{ secrets.KEY }}"},
					Retry: &Retry{Attempts: 3, Backoff: "fixed", Initial: Duration(2 * time.Second), Max: Duration(time.Minute),
						Factor: 2, Jitter: ptr(0.0)},
					Timeout: Duration(5 * time.Minute), Queue: "batch",
					OnFailure:  &Task{ID: "each.on_failure", Type: "noop", With: map[string]any{"why": "${{ tasks.each.error }}"}},
					Compensate: &Task{ID: "each.compensate", Type: "shell", With: map[string]any{"run": "undo ${{ tasks.list.output.id }}"}},
				},
				{
					ID: "report", Type: "noop", Needs: []string{"each"},
					When:            "tasks.each.status == 'succeeded' && inputs.limit > 5",
					ContinueOnError: true, ForEach: []any{int64(1), "${{ inputs.ratio }}"},
				},
			},
			Outputs: map[string]any{"count": "${{ size(tasks.list.output.items) }}", "literal": int64(3)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, clearPos(parseGood(t, tc.file)))
		})
	}
}

func TestTaskPositions(t *testing.T) {
	t.Parallel()
	w := parseGood(t, "order-fulfillment.yaml")
	require.Equal(t, Pos{File: "order-fulfillment.yaml", Line: 14, Col: 5}, w.Tasks[0].Pos)
	require.Equal(t, "order-fulfillment.yaml:20:5", w.Tasks[1].Pos.String())
}

func TestParseFile(t *testing.T) {
	t.Parallel()
	w, err := ParseFile("testdata/good/minimal.yaml")
	require.NoError(t, err)
	require.Equal(t, "minimal", w.Name)
	_, err = ParseFile("testdata/good/nope.yaml")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = ParseFile("testdata/bad/cycle.yaml")
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Equal(t, "testdata/bad/cycle.yaml", list[0].Pos.File)
}
