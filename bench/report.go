package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printTable prints the results as a table, each headline beside its
// ratio to the floor.
func printTable(w io.Writer, f *floorResult, rs []*result) {
	fmt.Fprintf(w, "\nstore: %s (%s)\nfloor: %.3f ms per durable single-row commit (p99 %.3f), %.0f rows/s batched by 100\n\n",
		f.Store, f.Durability, f.CommitMS, f.CommitP99, f.BatchedRPS)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\theadline\t×floor\tdetail")
	for _, r := range rs {
		head, detail := headline(r)
		ratio := "-"
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Workload, head, ratio, detail)
	}
	_ = tw.Flush()
}

func headline(r *result) (string, string) {
	switch {
	case r.StepMS != nil:
		return fmt.Sprintf("%.3f ms/step", r.StepMS.Median),
			fmt.Sprintf("total %.1f ms (min %.1f, max %.1f) over %d runs", r.TotalMS.Median, r.TotalMS.Min, r.TotalMS.Max, r.Repeats)
	case r.TasksPerS != nil:
		return fmt.Sprintf("%.0f tasks/s", r.TasksPerS.Median),
			fmt.Sprintf("min %.0f, max %.0f over %d runs", r.TasksPerS.Min, r.TasksPerS.Max, r.Repeats)
	case r.RunsPerS != 0:
		return fmt.Sprintf("%.0f runs/s", r.RunsPerS), fmt.Sprintf("start→finish p50 %.1f ms, p99 %.1f ms; %d runs", r.P50MS, r.P99MS, r.Runs)
	case r.RSSPerRunKiB != 0 || r.DrainMS != 0:
		return fmt.Sprintf("%.2f KiB/run", r.RSSPerRunKiB), fmt.Sprintf("cancel all %d in %.0f ms; %s", r.Runs, r.DrainMS, r.Note)
	case r.Lost != nil:
		return fmt.Sprintf("lost %d, dup %d", *r.Lost, *r.Duplicates), fmt.Sprintf("resumed %.0f ms after restart, all final after %.0f ms; %d runs", r.ResumeMS, r.TotalMS.Median, r.Runs)
	}
	return "-", r.Note
}
