package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
)

const reportYAML = `name: report
namespace: ops
inputs:
  day: {type: string, required: true}
triggers:
  - cron: "0 6 * * 1-5"
    timezone: America/New_York
    name: weekdays
    inputs: {day: "${{ schedule.time }}"}
tasks:
  - id: a
    type: noop
`

// The schedule commands against a real server.
func TestSchedulesCommands(t *testing.T) {
	t.Parallel()
	srv := apitest.Run(t, 1)
	_, _, err := client.New(srv.URL, srv.Token).Apply(t.Context(), "report.yaml", []byte(reportYAML))
	require.NoError(t, err)
	cli := func(args ...string) result {
		return runCLI(append([]string{"--server", srv.URL, "--token", srv.Token}, args...)...)
	}

	r := cli("schedules", "list")
	require.Equal(t, exitOK, r.code, r.err)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 2, r.out)
	require.Regexp(t, `^WORKFLOW\s+SCHEDULE\s+CRON\s+TIMEZONE\s+NEXT\s+LAST$`, lines[0])
	require.Regexp(t, `^ops/report\s+weekdays\s+0 6 \* \* 1-5\s+America/New_York\s+\d{4}-\d\d-\d\dT\d\d:00:00Z\s+-$`, lines[1])

	r = cli("schedules", "pause", "ops/report", "weekdays")
	require.Equal(t, exitOK, r.code, r.err)
	require.Equal(t, "schedule ops/report/weekdays paused\n", r.out)
	r = cli("schedules", "list", "-o", "json")
	require.Equal(t, exitOK, r.code, r.err)
	var list struct{ Schedules []client.Schedule }
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	require.True(t, list.Schedules[0].Paused)
	require.Nil(t, list.Schedules[0].NextFireAt)
	r = cli("schedules", "resume", "report", "weekdays", "-n", "ops")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "schedule ops/report/weekdays resumed; next ")

	r = cli("schedules", "pause", "ops/report", "nope")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.err, "legato: not_found: schedule not found: ops/report/nope")

	// A week of weekdays: five runs, 06:00 in New York each.
	r = cli("backfill", "ops/report", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-09T00:00:00Z", "-o", "json")
	require.Equal(t, exitOK, r.code, r.err)
	var bf struct{ Runs []client.BackfillRun }
	require.NoError(t, json.Unmarshal([]byte(r.out), &bf))
	require.Len(t, bf.Runs, 5)
	require.Equal(t, "2026-03-02T11:00:00Z", bf.Runs[0].Time.UTC().Format("2006-01-02T15:04:05Z"))
	// 8 March: New York moves to summer time; 06:00 is 10:00Z from then on.
	r = cli("backfill", "ops/report", "--from", "2026-03-09T00:00:00Z", "--to", "2026-03-10T00:00:00Z")
	require.Equal(t, exitOK, r.code, r.err)
	require.Regexp(t, `(?m)^\S+\s+weekdays\s+2026-03-09T06:00:00-04:00$`, r.out)

	for args, msg := range map[string]string{
		"backfill ops/report --to 2026-03-10T00:00:00Z":                             "legato: --from is required\n",
		"backfill ops/report --from yesterday --to 2026-03-10T00:00:00Z":            "legato: --from \"yesterday\": want an RFC 3339 time like 2026-01-02T15:04:05Z\n",
		"backfill ops/report --from 2020-03-09T00:00:00Z --to 2026-03-10T00:00:00Z": "legato: invalid_request: backfill window too large: it holds more than 1000 ticks; narrow it\n",
		"schedules pause ops/report":                                                "",
	} {
		r := cli(strings.Fields(args)...)
		require.NotEqual(t, exitOK, r.code, args)
		if msg != "" {
			require.True(t, strings.HasPrefix(r.err, msg), "%s: %q", args, r.err)
		}
	}
}
