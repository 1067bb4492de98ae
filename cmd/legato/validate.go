package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/internal/spec"
)

// parseWorkflowFile parses and checks one workflow file the way the server
// does (a variable so tests can stand in for it).
var parseWorkflowFile = func(path string) error {
	_, err := spec.ParseFile(path)
	return err
}

// errInvalidFiles ends validate and apply after the file errors were
// printed.
var errInvalidFiles = errors.New("invalid workflow files")

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check workflow files locally, without a server",
		Long: `Validate parses and checks workflow files the way the server would:
unknown fields, cycles, unknown needs, bad expressions, type errors. Each
problem is printed as file:line:col: message on stderr. A directory stands
for its *.yaml, *.yml and *.json files, recursively.`,
		Example: "  legato validate examples/orders.yaml\n  legato validate examples/",
		Args:    minArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			files, err := spec.FindFiles(args)
			if err != nil {
				return err
			}
			if bad := a.checkFiles(files, true); bad > 0 {
				fmt.Fprintf(a.stderr, "legato: %d of %d workflow files are invalid\n", bad, len(files))
				return exitCode(exitError)
			}
			return nil
		},
	}
}

// checkFiles parses every file, prints the problems of the invalid ones on
// stderr (and "ok FILE" for the valid ones when printOK) and returns the
// number of invalid files.
func (a *app) checkFiles(files []string, printOK bool) int {
	bad := 0
	for _, f := range files {
		if err := parseWorkflowFile(f); err != nil {
			bad++
			fmt.Fprintln(a.stderr, strings.TrimRight(err.Error(), "\n"))
			continue
		}
		if printOK {
			fmt.Fprintln(a.stdout, "ok", f)
		}
	}
	return bad
}
