package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

// followInterval is how often logs --follow polls (a seam for tests).
var followInterval = 500 * time.Millisecond

func (a *app) logsCmd() *cobra.Command {
	var (
		index  int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs RUN [TASK]",
		Short: "Print the log lines of a run, or of one of its tasks",
		Long: `Logs prints the lines the run's tasks wrote, in order, as "[task] line".
Lines written to stderr are marked "[task] ! line", lines from Legato itself
(retries, timeouts) "[task] * line". A for_each item shows as "[task[2]]".
With -o json, each line is a JSON object on its own line.`,
		Example: "  legato logs 01JH2K7...\n  legato logs 01JH2K7... invoice --follow\n  legato logs 01JH2K7... notify --index 2",
		Args:    rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.LogsQuery{Limit: 1000}
			if len(args) == 2 {
				q.Task = args[1]
			}
			if cmd.Flags().Changed("index") {
				if q.Task == "" {
					return usageErrorf("--index needs a TASK")
				}
				q.Index = &index
			}
			return a.printLogs(cmd.Context(), a.client(), args[0], q, follow)
		},
	}
	cmd.Flags().IntVar(&index, "index", 0, "only the lines of this for_each item of TASK")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the run has ended")
	return cmd
}

// printLogs prints every line after q.After; with follow, it polls until
// the run is final and every line is read.
func (a *app) printLogs(ctx context.Context, c *client.Client, id string, q client.LogsQuery, follow bool) error {
	enc := json.NewEncoder(a.stdout)
	for {
		// Read the run's status before draining: the lines a final run
		// wrote are all stored by then.
		final := !follow
		if follow {
			r, err := c.Run(ctx, id)
			if err != nil {
				return err
			}
			final = r.Final()
		}
		for {
			lines, next, err := c.Logs(ctx, id, q)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if a.jsonOutput() {
					if err := enc.Encode(l); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintln(a.stdout, logText(l))
			}
			if len(lines) == 0 || next <= q.After {
				break
			}
			q.After = next
		}
		if final {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends --follow quietly
		case <-time.After(followInterval):
		}
	}
}

func logText(l client.LogLine) string {
	name := l.Task
	if l.Index != nil {
		name = fmt.Sprintf("%s[%d]", l.Task, *l.Index)
	}
	switch l.Stream {
	case "stderr":
		return "[" + name + "] ! " + l.Line
	case "system":
		return "[" + name + "] * " + l.Line
	}
	return "[" + name + "] " + l.Line
}
