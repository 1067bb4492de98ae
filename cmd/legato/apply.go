package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/sdk/client"
)

type applied struct {
	File     string                  `json:"file"`
	Created  bool                    `json:"created"`
	Workflow *client.WorkflowVersion `json:"workflow"`
}

func (a *app) applyCmd() *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR...",
		Short: "Send workflow files to the server, making new versions of the changed ones",
		Long: `Apply validates every file locally first and sends nothing if any is
invalid. Then it sends them in order; a file whose content is already the
workflow's latest version makes no new version ("unchanged").`,
		Example: "  legato apply -f orders.yaml\n  legato apply -f workflows/ -f extra.yaml",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(paths) == 0 {
				return usageErrorf("apply needs at least one -f FILE or DIR")
			}
			files, err := spec.FindFiles(paths)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return fmt.Errorf("no workflow files (*.yaml, *.yml, *.json) in %v", paths)
			}
			if bad := a.checkFiles(files, false); bad > 0 {
				fmt.Fprintf(a.stderr, "legato: %d of %d workflow files are invalid; nothing was applied\n", bad, len(files))
				return exitCode(exitError)
			}
			c := a.client()
			var out []applied
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				v, created, err := c.Apply(cmd.Context(), f, src)
				if err != nil {
					return fmt.Errorf("apply %s: %w", f, err)
				}
				out = append(out, applied{File: f, Created: created, Workflow: v})
				if !a.jsonOutput() {
					verb := "unchanged"
					if created {
						verb = "created"
					}
					fmt.Fprintf(a.stdout, "%s %s/%s v%d\n", verb, v.Namespace, v.Name, v.Version)
				}
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, map[string]any{"applied": out})
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&paths, "file", "f", nil, "workflow file or directory (repeatable)")
	return cmd
}
