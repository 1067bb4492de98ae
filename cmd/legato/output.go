package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/legatohq/legato/sdk/client"
)

// nowFunc is the clock of relative times and durations (a seam for tests).
var nowFunc = time.Now

// printJSON writes v as indented JSON, with the same field names and
// shapes the API uses (the sdk types carry the contract's tags).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// isTerminal reports whether w is a terminal (for the live display).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ago formats t relative to now: "12s ago", "5m ago", "3h ago", "2d ago",
// and a date past a week; "-" for the zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := nowFunc().Sub(t)
	switch {
	case d < 0:
		return t.Local().Format("Jan 02 15:04")
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.Local().Format("2006-01-02")
}

// short formats a duration: "850ms", "4.2s", "3m04s", "1h02m".
func short(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// span is how long something that started at start has run: until end, or
// until now when it has not ended; "" when it has not started.
func span(start, end time.Time) string {
	if start.IsZero() {
		return ""
	}
	if end.IsZero() {
		end = nowFunc()
	}
	return short(end.Sub(start))
}

func runName(r *client.Run) string {
	return fmt.Sprintf("%s/%s v%d", r.Namespace, r.Workflow, r.Version)
}

// oneLine shortens s to its first line, at most n runes.
func oneLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// valueText renders an input or output value compactly, as JSON.
func valueText(v any) string {
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// printRun writes a run and its task runs as text.
func printRun(w io.Writer, r *client.Run) {
	tw := newTable(w)
	fmt.Fprintf(tw, "Run:\t%s\n", r.ID)
	fmt.Fprintf(tw, "Workflow:\t%s\n", runName(r))
	fmt.Fprintf(tw, "Status:\t%s %s\n", symbol(r.Status), r.Status)
	if r.Attempt > 1 {
		fmt.Fprintf(tw, "Attempt:\t%d\n", r.Attempt)
	}
	if r.ParentRunID != "" {
		fmt.Fprintf(tw, "Parent:\t%s\n", r.ParentRunID)
	}
	fmt.Fprintf(tw, "Created:\t%s by %s\n", ago(r.CreatedAt), r.CreatedBy)
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(tw, "Duration:\t%s\n", span(r.StartedAt, r.FinishedAt))
	}
	fmt.Fprintf(tw, "Inputs:\t%s\n", oneLine(valueText(r.Inputs), 200))
	if r.Outputs != nil {
		fmt.Fprintf(tw, "Outputs:\t%s\n", oneLine(valueText(r.Outputs), 200))
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "Error:\t%s\n", r.Error)
	}
	if !r.SLABreachedAt.IsZero() {
		fmt.Fprintf(tw, "SLA:\tbreached at %s\n", ago(r.SLABreachedAt))
	}
	for _, n := range r.Notifications {
		fmt.Fprintf(tw, "Notified:\t%s\n", notificationLine(n))
	}
	_ = tw.Flush()
	if len(r.Tasks) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "TASK\tSTATUS\tATTEMPTS\tDURATION\tERROR")
	for _, t := range r.Tasks {
		name := t.Name()
		if t.Kind == "item" {
			name = "  " + name
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%d\t%s\t%s\n", name, symbol(t.Status), t.Status, t.Attempts,
			orDash(span(t.StartedAt, t.FinishedAt)), orDash(oneLine(t.Error, 80)))
	}
	_ = tw.Flush()
}

// notificationLine says where a notification went and how its delivery is
// going: "sla_breach (task load) → ops-slack: delivered".
func notificationLine(n client.Notification) string {
	what := n.Event
	if n.Task != "" {
		what += " (task " + n.Task + ")"
	}
	s := fmt.Sprintf("%s → %s: %s", what, n.Channel, n.Status)
	if n.Status != "delivered" && n.LastError != "" {
		s += fmt.Sprintf(" after %d tries: %s", n.Attempts, oneLine(n.LastError, 80))
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
