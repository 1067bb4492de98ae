package cron

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestNextAcrossDST walks schedules over the daylight-saving changes of
// 2026 in three zones: an ambiguous wall time fires once (its first
// occurrence), a missing one fires at the end of the gap.
func TestNextAcrossDST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, tz, after string
		want                  []string // UTC
	}{
		// Paris: 2026-03-29 02:00 CET → 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST → 02:00 CET (01:00Z).
		{"paris spring daily 02:30 fires at the gap's end", "30 2 * * *", "Europe/Paris", "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"paris fall daily 02:30 fires once", "30 2 * * *", "Europe/Paris", "2026-10-23T12:00:00Z",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"paris spring hourly", "0 * * * *", "Europe/Paris", "2026-03-28T23:30:00Z",
			[]string{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
		{"paris fall hourly skips the repeated 02:00", "0 * * * *", "Europe/Paris", "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"paris spring every 15 min", "*/15 * * * *", "Europe/Paris", "2026-03-29T00:40:00Z",
			[]string{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"}},
		{"paris fall every 15 min", "*/15 * * * *", "Europe/Paris", "2026-10-25T00:40:00Z",
			[]string{"2026-10-25T00:45:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:15:00Z"}},
		{"paris fall every 15 min from inside the repeated hour", "*/15 * * * *", "Europe/Paris", "2026-10-25T01:10:00Z",
			[]string{"2026-10-25T02:00:00Z", "2026-10-25T02:15:00Z"}},
		{"paris @hourly macro", "@hourly", "Europe/Paris", "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"}},

		// New York: 2026-03-08 02:00 EST → 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
		{"new york spring daily 02:30", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"new york fall daily 02:30", "30 2 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"}},
		{"new york fall daily 01:30 fires once", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"new york spring hourly", "0 * * * *", "America/New_York", "2026-03-08T05:30:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"new york fall hourly", "0 * * * *", "America/New_York", "2026-11-01T04:30:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
		{"new york spring every 15 min", "*/15 * * * *", "America/New_York", "2026-03-08T06:40:00Z",
			[]string{"2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"}},
		{"new york fall every 15 min", "*/15 * * * *", "America/New_York", "2026-11-01T05:40:00Z",
			[]string{"2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z"}},

		// Sydney: 2026-04-05 03:00 AEDT → 02:00 AEST (04-04 16:00Z); 2026-10-04 02:00 AEST → 03:00 AEDT (10-03 16:00Z).
		{"sydney fall daily 02:30 fires once", "30 2 * * *", "Australia/Sydney", "2026-04-03T12:00:00Z",
			[]string{"2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"}},
		{"sydney spring daily 02:30", "30 2 * * *", "Australia/Sydney", "2026-10-02T12:00:00Z",
			[]string{"2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"}},
		{"sydney spring every 15 min", "*/15 * * * *", "Australia/Sydney", "2026-10-03T15:40:00Z",
			[]string{"2026-10-03T15:45:00Z", "2026-10-03T16:00:00Z", "2026-10-03T16:15:00Z"}},
		{"sydney fall hourly", "0 * * * *", "Australia/Sydney", "2026-04-04T14:30:00Z",
			[]string{"2026-04-04T15:00:00Z", "2026-04-04T17:00:00Z"}},

		// No zone: UTC.
		{"utc seconds field", "*/20 * * * * *", "", "2026-01-01T00:00:05Z",
			[]string{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
		// crontab's rule: both day fields restricted means either day.
		{"day of month or day of week", "0 0 13 * 5", "", "2026-02-01T00:00:00Z",
			[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"}},
		{"day of week 7 is sunday, names", "0 0 * MAR 7", "", "2026-03-02T00:00:00Z",
			[]string{"2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z"}},
		{"day of month only", "0 0 13 * *", "", "2026-02-01T00:00:00Z",
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"}},
		// @every ticks are multiples of the interval since the Unix epoch.
		{"@every", "@every 90s", "", "2026-01-01T00:02:00.5Z",
			[]string{"2026-01-01T00:03:00Z", "2026-01-01T00:04:30Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr, tc.tz)
			require.NoError(t, err)
			at := utc(tc.after)
			var got []string
			for range tc.want {
				at = s.Next(at)
				got = append(got, at.UTC().Format(time.RFC3339))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestNoDoubleNoSkip walks a whole year of every-15-minute and hourly
// schedules in several zones: fire times strictly increase, and every
// day has the same number of distinct fires as a day without a change
// minus the repeated hour's (clocks back) and never more.
func TestNoDoubleNoSkip(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata"} {
		s, err := Parse("30 2 * * *", tz)
		require.NoError(t, err)
		days := map[string]int{}
		at := utc("2026-01-01T00:00:00Z")
		prev := at
		for at.Before(utc("2027-01-01T00:00:00Z")) {
			at = s.Next(at)
			require.True(t, at.After(prev), "%s: %s after %s", tz, at, prev)
			prev = at
			days[at.In(s.Location()).Format(time.DateOnly)]++
		}
		for d, n := range days {
			require.Equal(t, 1, n, "%s: %s fired %d times", tz, d, n)
		}
		require.GreaterOrEqual(t, len(days), 365, tz)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, tz, want string }{
		{"0 2 * *", "", "got 4 fields, want 5 or 6"},
		{"61 * * * *", "", "61"},
		{"* * * * *", "Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"* * * * *", "Local", "unknown time zone"},
		{"@sometimes", "", "sometimes"},
		{"@every x", "", "@every needs a duration"},
		{"TZ=UTC * * * * *", "", "timezone field"},
		{"", "", "empty"},
	} {
		_, err := Parse(tc.expr, tc.tz)
		require.ErrorContains(t, err, tc.want, tc.expr)
	}
}

func TestBetween(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 * * * *", "UTC")
	require.NoError(t, err)
	got, more := s.Between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T05:00:00Z"), 10)
	require.Len(t, got, 5)
	require.False(t, more)
	got, more = s.Between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T05:00:00Z"), 3)
	require.Len(t, got, 3)
	require.True(t, more)
	require.Equal(t, utc("2026-01-01T03:00:00Z"), got[2].UTC())
}

func TestLast(t *testing.T) {
	t.Parallel()
	s, err := Parse("*/10 * * * * *", "Europe/Paris")
	require.NoError(t, err)
	// A year without the server: the last three ticks only, found fast.
	got, dropped := s.Last(utc("2025-01-01T00:00:00Z"), utc("2026-01-01T00:00:05Z"), 3)
	require.True(t, dropped)
	require.Equal(t, []time.Time{utc("2025-12-31T23:59:40Z"), utc("2025-12-31T23:59:50Z"), utc("2026-01-01T00:00:00Z")},
		[]time.Time{got[0].UTC(), got[1].UTC(), got[2].UTC()})
	got, dropped = s.Last(utc("2025-12-31T23:59:45Z"), utc("2026-01-01T00:00:05Z"), 3)
	require.False(t, dropped)
	require.Len(t, got, 2)
	got, dropped = s.Last(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T00:00:05Z"), 3)
	require.False(t, dropped)
	require.Empty(t, got)
	// A daily schedule after ten years.
	d, err := Parse("@daily", "America/New_York")
	require.NoError(t, err)
	got, dropped = d.Last(utc("2016-01-01T00:00:00Z"), utc("2026-01-01T12:00:00Z"), 2)
	require.True(t, dropped)
	require.Equal(t, utc("2026-01-01T05:00:00Z"), got[1].UTC())
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * * MON-FRI", "@hourly", "0 0 0 30 2 *"} {
		f.Add(s, "Europe/Paris")
	}
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := Parse(expr, tz)
		if err != nil {
			return
		}
		at := utc("2026-03-28T00:00:00Z")
		for range 3 {
			n := s.Next(at)
			if n.IsZero() {
				return
			}
			if !n.After(at) {
				t.Fatalf("%q: Next(%s) = %s", expr, at, n)
			}
			at = n
		}
	})
}
