package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

func (a *app) schedulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List, pause and resume cron schedules",
		Args:  unknownCommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.schedulesListCmd(), a.scheduleActionCmd("pause", "Pause a schedule: its ticks start nothing until resumed"),
		a.scheduleActionCmd("resume", "Resume a schedule from its next tick (ticks missed while paused are not started)"))
	return cmd
}

func (a *app) schedulesListCmd() *cobra.Command {
	var namespace, workflow string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List cron schedules and their next fire times",
		Example: "  legato schedules list\n  legato schedules list --workflow nightly-report -o json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := a.client().Schedules(cmd.Context(), namespace, workflow)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				if list == nil {
					list = []client.Schedule{}
				}
				return printJSON(a.stdout, map[string]any{"schedules": list})
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stderr, "no schedules")
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "WORKFLOW\tSCHEDULE\tCRON\tTIMEZONE\tNEXT\tLAST")
			for _, s := range list {
				next := "paused"
				if !s.Paused {
					next = orDash(timeText(s.NextFireAt))
				}
				tz := s.Timezone
				if tz == "" {
					tz = "UTC"
				}
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Workflow, s.Name, s.Cron, tz, next, orDash(timeText(s.LastFiredAt)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "only schedules of this namespace")
	cmd.Flags().StringVar(&workflow, "workflow", "", "only schedules of this workflow")
	return cmd
}

// timeText is an RFC 3339 time in the local zone; "" for nil.
func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Local().Format(time.RFC3339)
}

func (a *app) scheduleActionCmd(verb, short string) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:     verb + " WORKFLOW SCHEDULE",
		Short:   short,
		Example: fmt.Sprintf("  legato schedules %s nightly-report cron-1\n  legato schedules %s sales/nightly-report report", verb, verb),
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, wf, err := splitWorkflow(args[0], namespace)
			if err != nil {
				return err
			}
			c := a.client()
			act := c.PauseSchedule
			if verb == "resume" {
				act = c.ResumeSchedule
			}
			s, err := act(cmd.Context(), ns, wf, args[1])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, s)
			}
			if s.Paused {
				fmt.Fprintf(a.stdout, "schedule %s/%s/%s paused\n", s.Namespace, s.Workflow, s.Name)
				return nil
			}
			fmt.Fprintf(a.stdout, "schedule %s/%s/%s resumed; next %s\n", s.Namespace, s.Workflow, s.Name, orDash(timeText(s.NextFireAt)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", `namespace of the workflow (default "default")`)
	return cmd
}

func (a *app) backfillCmd() *cobra.Command {
	var namespace, from, to, schedule string
	cmd := &cobra.Command{
		Use:   "backfill WORKFLOW --from TIME --to TIME",
		Short: "Start the runs a window of a workflow's cron schedules would have started",
		Long: `Backfill starts one run per tick in [--from, --to) of every cron trigger of
the workflow's latest version (or of --schedule), oldest first; each run's
inputs see the tick as schedule.time. Overlap and catchup policies do not
apply. At most 1000 runs: a larger window is refused and starts nothing.`,
		Example: "  legato backfill nightly-report --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, wf, err := splitWorkflow(args[0], namespace)
			if err != nil {
				return err
			}
			req := client.BackfillRequest{Schedule: schedule}
			for _, f := range []struct {
				name, val string
				dst       *time.Time
			}{{"--from", from, &req.From}, {"--to", to, &req.To}} {
				if f.val == "" {
					return usageErrorf("%s is required", f.name)
				}
				if *f.dst, err = time.Parse(time.RFC3339, f.val); err != nil {
					return usageErrorf("%s %q: want an RFC 3339 time like 2026-01-02T15:04:05Z", f.name, f.val)
				}
			}
			runs, err := a.client().Backfill(cmd.Context(), ns, wf, req)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				if runs == nil {
					runs = []client.BackfillRun{}
				}
				return printJSON(a.stdout, map[string]any{"runs": runs})
			}
			if len(runs) == 0 {
				fmt.Fprintln(a.stderr, "no ticks in the window: no runs started")
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "RUN\tSCHEDULE\tTICK")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.RunID, r.Schedule, r.Time.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "", `namespace of the workflow (default "default")`)
	f.StringVar(&from, "from", "", "start of the window, included (RFC 3339)")
	f.StringVar(&to, "to", "", "end of the window, excluded (RFC 3339)")
	f.StringVar(&schedule, "schedule", "", "only this cron trigger (default: all)")
	return cmd
}
