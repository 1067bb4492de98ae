package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api"
)

const nightlyFile = `name: nightly
inputs:
  day: {type: string, required: true}
triggers:
  - cron: "30 2 * * *"
    timezone: Europe/Paris
    name: report
    inputs: {day: "${{ schedule.time }}"}
tasks:
  - id: a
    type: noop
`

func TestSchedulesListPauseResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	status, out := b.apply(t, "nightly.yaml", nightlyFile)
	require.Equal(t, http.StatusCreated, status, "%v", out)

	var list api.ScheduleList
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/schedules", nil, &list))
	require.Len(t, list.Schedules, 1)
	s := list.Schedules[0]
	require.Equal(t, "report", s.Name)
	require.Equal(t, "nightly", s.Workflow)
	require.Equal(t, "Europe/Paris", s.Timezone)
	require.NotNil(t, s.NextFireAt)
	require.True(t, s.NextFireAt.After(time.Now()))
	require.Equal(t, 30, s.NextFireAt.In(mustZone(t, "Europe/Paris")).Minute())

	var paused api.Schedule
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/schedules/default/nightly/report/pause", nil, &paused))
	require.True(t, paused.Paused)
	require.Nil(t, paused.NextFireAt)
	require.Equal(t, "admin", paused.UpdatedBy)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/schedules?workflow=nightly", nil, &list))
	require.True(t, list.Schedules[0].Paused)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/schedules?namespace=other", nil, &list))
	require.Empty(t, list.Schedules)

	var resumed api.Schedule
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPost, "/api/v1/schedules/default/nightly/report/resume", nil, &resumed))
	require.False(t, resumed.Paused)
	require.NotNil(t, resumed.NextFireAt)

	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/schedules/default/nightly/nope/pause", nil)
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodGet, "/api/v1/schedules", nil, nil))
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodPost, "/api/v1/schedules/default/nightly/report/pause", nil, nil))
}

func TestBackfillAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	status, out := b.apply(t, "nightly.yaml", nightlyFile)
	require.Equal(t, http.StatusCreated, status, "%v", out)

	var got api.BackfillResponse
	require.Equal(t, http.StatusCreated, b.do(t, http.MethodPost, "/api/v1/workflows/default/nightly/backfill",
		map[string]any{"from": "2026-03-27T00:00:00Z", "to": "2026-03-31T00:00:00Z"}, &got))
	require.Len(t, got.Runs, 4)
	// 29 March 2026: 02:30 does not exist in Paris; the run starts at the end of the gap.
	require.Equal(t, "2026-03-29T01:00:00Z", got.Runs[2].Time.UTC().Format(time.RFC3339))
	run := b.waitRun(t, got.Runs[2].RunID, statusIs("succeeded"))
	require.Equal(t, "2026-03-29T03:00:00+02:00", run["inputs"].(map[string]any)["day"])
	require.Equal(t, "report", got.Runs[2].Schedule)

	// Refused requests start nothing.
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows/default/nightly/backfill",
		map[string]any{"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows/default/nightly/backfill",
		map[string]any{"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
	b.requireError(t, http.StatusBadRequest, "invalid_request", http.MethodPost, "/api/v1/workflows/default/nightly/backfill",
		map[string]any{"from": "yesterday", "to": "2026-01-01T00:00:00Z"})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/workflows/default/nope/backfill",
		map[string]any{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})
	b.requireError(t, http.StatusNotFound, "not_found", http.MethodPost, "/api/v1/workflows/default/nightly/backfill",
		map[string]any{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "schedule": "nope"})
	var runs struct {
		Runs []map[string]any `json:"runs"`
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/runs?workflow=nightly", nil, &runs))
	require.Len(t, runs.Runs, 4)
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}
