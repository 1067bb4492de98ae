package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

func (a *app) emitCmd() *cobra.Command {
	var (
		data, source, subject, id, namespace string
	)
	cmd := &cobra.Command{
		Use:   "emit TYPE",
		Short: "Post an event: start the runs subscribed to its type and wake the tasks waiting for it",
		Long: `Emit posts a CloudEvent of type TYPE to the server (POST /api/v1/events).

Workflows with a trigger "event: TYPE" whose filter passes start a run;
wait_event tasks waiting for TYPE whose match is true complete. An event
with the same --source and --id as one stored before changes nothing
(the command says "duplicate"). Without --id a random id is used.

It prints the event's id and the runs it started; -o json prints the
server's answer.`,
		Example: `  legato emit order.created --data '{"order_id": "A-1", "amount": 120}'
  legato emit payment.received --source bank --id pay-77 --data '{"order_id": "A-1"}'`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ev := client.CloudEvent{Type: args[0], Source: source, Subject: subject, ID: id, Namespace: namespace}
			if data != "" {
				if err := json.Unmarshal([]byte(data), &ev.Data); err != nil {
					return fmt.Errorf("--data is not JSON: %v", err)
				}
			}
			res, err := a.client().Emit(cmd.Context(), ev)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, res)
			}
			state := "stored"
			if res.Duplicate {
				state = "duplicate: already stored, nothing done"
			}
			fmt.Fprintf(a.stdout, "event %s (%s) %s\n", res.Event.ID, res.Event.Source, state)
			for _, r := range res.Runs {
				fmt.Fprintf(a.stdout, "started run %s\n", r)
			}
			for _, w := range res.Woke {
				fmt.Fprintf(a.stdout, "woke %s\n", w)
			}
			for _, p := range res.Problems {
				fmt.Fprintf(a.stderr, "warning: %s\n", strings.TrimSpace(p))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "the event's data, as JSON")
	f.StringVar(&source, "source", "legato-cli", "the event's source (with --id, what makes it unique)")
	f.StringVar(&subject, "subject", "", "the event's subject")
	f.StringVar(&id, "id", "", "the event's id (default: a random one)")
	f.StringVarP(&namespace, "namespace", "n", "", `namespace whose workflows the event reaches (default "default")`)
	return cmd
}
