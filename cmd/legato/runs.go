package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

func (a *app) runsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, inspect, cancel and retry runs",
		Args:  unknownCommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.runsListCmd(), a.runsGetCmd(), a.runsCancelCmd(), a.runsRetryCmd())
	return cmd
}

func (a *app) runsListCmd() *cobra.Command {
	var (
		q      client.RunsQuery
		before string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List runs, newest first",
		Example: "  legato runs list\n  legato runs list --workflow order-fulfillment --status failed --limit 5\n  legato runs list -o json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Limit < 0 {
				return usageErrorf("--limit must be positive")
			}
			if before != "" {
				t, err := time.Parse(time.RFC3339Nano, before)
				if err != nil {
					return usageErrorf("--before %q: want an RFC 3339 time like 2026-01-02T15:04:05Z", before)
				}
				q.Before = t
			}
			runs, err := a.client().Runs(cmd.Context(), q)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				if runs == nil {
					runs = []client.Run{}
				}
				return printJSON(a.stdout, map[string]any{"runs": runs})
			}
			if len(runs) == 0 {
				fmt.Fprintln(a.stderr, "no runs")
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tWORKFLOW\tSTATUS\tCREATED\tDURATION")
			for i := range runs {
				r := &runs[i]
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\n", r.ID, runName(r), symbol(r.Status), r.Status,
					ago(r.CreatedAt), orDash(span(r.StartedAt, r.FinishedAt)))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&q.Namespace, "namespace", "n", "", "only runs of this namespace")
	f.StringVar(&q.Workflow, "workflow", "", "only runs of this workflow")
	f.StringVar(&q.Status, "status", "", "only runs with this status (queued, running, waiting, succeeded, failed, canceled)")
	f.IntVar(&q.Limit, "limit", 20, "at most this many runs")
	f.StringVar(&before, "before", "", "only runs created before this RFC 3339 time (to page)")
	return cmd
}

func (a *app) runsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get RUN",
		Short:   "Show a run and its tasks",
		Example: "  legato runs get 01JH2K7...\n  legato runs get 01JH2K7... -o json | jq .tasks",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.client().Run(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.showRun(r)
		},
	}
}

func (a *app) showRun(r *client.Run) error {
	if a.jsonOutput() {
		return printJSON(a.stdout, r)
	}
	printRun(a.stdout, r)
	return nil
}

func (a *app) runsCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a run that has not finished",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.client().CancelRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, r)
			}
			fmt.Fprintf(a.stdout, "run %s %s\n", r.ID, r.Status)
			return nil
		},
	}
}

func (a *app) runsRetryCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "retry RUN",
		Short: "Retry a failed or canceled run: its unfinished tasks run again",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := a.client()
			r, err := c.RetryRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if wait {
				return a.follow(cmd.Context(), c, r)
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, r)
			}
			fmt.Fprintf(a.stdout, "run %s %s (attempt %d)\n", r.ID, r.Status, r.Attempt)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the run until it ends, as run --wait does")
	return cmd
}
