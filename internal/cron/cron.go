// Package cron owns cron schedules: parsing a crontab expression (five
// fields, an optional leading seconds field, @hourly-style macros, @every)
// in an IANA time zone, and computing its fire times with a defined rule
// across daylight-saving changes.
//
// github.com/netresearch/go-cron is used as a parser only: it tells which
// wall-clock times match. This package maps wall-clock times to instants:
//
//   - A wall time that occurs twice (clocks go back) fires once, at its
//     first occurrence.
//   - A wall time that does not exist (clocks go forward) fires at the
//     first instant after the gap (the moment of the change); several such
//     times collapse into that one fire.
package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the same zones on every machine

	gocron "github.com/netresearch/go-cron"
)

// parser reads crontab's five fields (minute hour day-of-month month
// day-of-week) with an optional leading seconds field and the descriptors;
// DowOrDom keeps crontab's rule: when both day fields are restricted, a
// day matching either fires.
var parser = gocron.NewParser(gocron.SecondOptional | gocron.Minute | gocron.Hour | gocron.Dom |
	gocron.Month | gocron.Dow | gocron.Descriptor | gocron.DowOrDom)

// maxSteps bounds the wall-clock candidates Next examines (an hour of
// every-second ticks repeated when clocks go back is 3600).
const maxSteps = 100000

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	expr string
	loc  *time.Location
	// wall matches wall-clock times written as UTC; nil for @every.
	wall *gocron.SpecSchedule
	// every is the interval of an @every schedule.
	every time.Duration
}

// Parse reads expr in the time zone named tz (an IANA name; "" is UTC).
func Parse(expr, tz string) (*Schedule, error) {
	loc, err := Location(tz)
	if err != nil {
		return nil, err
	}
	e := strings.TrimSpace(expr)
	if e == "" {
		return nil, errors.New("empty cron expression")
	}
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, errors.New("put the time zone in the trigger's timezone field, not in the expression")
	}
	if rest, ok := strings.CutPrefix(e, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("@every needs a duration of at least 1s such as 5m, got %q", rest)
		}
		return &Schedule{expr: e, loc: loc, every: d.Truncate(time.Second)}, nil
	}
	if !strings.HasPrefix(e, "@") {
		if n := len(strings.Fields(e)); n != 5 && n != 6 {
			return nil, fmt.Errorf("got %d fields, want 5 or 6", n)
		}
	}
	s, err := parser.Parse(e)
	if err != nil {
		return nil, err
	}
	spec, ok := s.(*gocron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unsupported cron expression %q", expr)
	}
	w := *spec
	w.Location = time.UTC
	return &Schedule{expr: e, loc: loc, wall: &w}, nil
}

// Location loads an IANA time zone; "" is UTC and "Local" is refused (a
// schedule must not depend on the server's settings).
func Location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(tz, "local") {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris or UTC", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris or UTC", tz)
	}
	return loc, nil
}

// String returns the expression as parsed.
func (s *Schedule) String() string { return s.expr }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first fire time strictly after `after`, in the
// schedule's time zone, or the zero time when there is none within the
// parser's search bound (an impossible date such as 30 February).
func (s *Schedule) Next(after time.Time) time.Time {
	if s.wall == nil {
		// @every ticks are the multiples of the interval since the Unix
		// epoch, so they do not depend on when a server started.
		n := after.Unix()/int64(s.every/time.Second) + 1
		return time.Unix(n*int64(s.every/time.Second), 0).In(s.loc)
	}
	w := wallOf(after.In(s.loc))
	for range maxSteps {
		w = s.wall.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := s.instant(w); at.After(after) {
			return at
		}
	}
	return time.Time{}
}

// wallOf writes the wall clock of t as the same reading in UTC.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// instant maps a wall-clock reading (written in UTC) to the instant it
// fires at in the schedule's zone: its first occurrence, or the end of the
// gap when the reading does not exist.
func (s *Schedule) instant(w time.Time) time.Time {
	var first time.Time
	var later time.Time // a candidate past the gap, for its zone's start
	for _, probe := range []time.Duration{-36 * time.Hour, 36 * time.Hour} {
		_, off := w.Add(probe).In(s.loc).Zone()
		c := w.Add(-time.Duration(off) * time.Second).In(s.loc)
		if wallOf(c).Equal(w) {
			if first.IsZero() || c.Before(first) {
				first = c
			}
		} else if later.IsZero() || c.After(later) {
			later = c
		}
	}
	if !first.IsZero() {
		return first
	}
	// The reading falls in a gap: the zone in force after it began at the
	// instant clocks jumped.
	start, _ := later.ZoneBounds()
	if start.IsZero() {
		return later
	}
	return start.In(s.loc)
}

// Last returns the last n fire times t with after < t <= until, oldest
// first, and whether earlier ones were left out. It looks back from until
// in doubling windows, so a long gap costs little.
func (s *Schedule) Last(after, until time.Time, n int) ([]time.Time, bool) {
	if n <= 0 || !until.After(after) {
		return nil, false
	}
	from := after
	for w := time.Minute; ; w *= 2 {
		f := until.Add(-w)
		if !f.After(after) || w > 100*365*24*time.Hour {
			break
		}
		if _, more := s.Between(f, until, n); more {
			from = f
			break
		}
	}
	var ring []time.Time
	dropped := from.After(after)
	for t := s.Next(from); !t.IsZero() && !t.After(until); t = s.Next(t) {
		if len(ring) == n {
			ring = ring[1:]
			dropped = true
		}
		ring = append(ring, t)
	}
	return ring, dropped
}

// Between lists the fire times t with after < t <= until, at most limit
// (the earliest ones), and whether more were left out.
func (s *Schedule) Between(after, until time.Time, limit int) ([]time.Time, bool) {
	var out []time.Time
	for t := s.Next(after); !t.IsZero() && !t.After(until); t = s.Next(t) {
		if len(out) == limit {
			return out, true
		}
		out = append(out, t)
	}
	return out, false
}
