package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

func (a *app) runCmd() *cobra.Command {
	var (
		inputs    []string
		inputFile string
		wait      bool
		namespace string
		version   int
		priority  int
	)
	cmd := &cobra.Command{
		Use:   "run WORKFLOW",
		Short: "Start a run of a workflow, and optionally follow it to its end",
		Long: `Run starts a run of WORKFLOW ("name" or "namespace/name") and prints its id.

Inputs come from --input-file (a JSON or YAML mapping), then from each
-i key=value, which wins. A value that parses as JSON keeps its type
(-i amount=12 is a number, -i rush=true a boolean, -i 'tags=["a"]' a list);
anything else is a string.

With --wait, run follows the run until it ends: on a terminal a table of its
tasks is redrawn in place; otherwise one line is printed per change. It exits
0 when the run succeeded and 1 when it failed or was canceled.`,
		Example: `  legato run order-fulfillment -n sales -i order_id=A-1 -i amount=1200
  legato run sales/order-fulfillment --input-file order.json --wait
  legato run nightly-report --wait -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, name, err := splitWorkflow(args[0], namespace)
			if err != nil {
				return err
			}
			in, err := parseInputs(inputFile, inputs)
			if err != nil {
				return err
			}
			c := a.client()
			r, err := c.StartRun(cmd.Context(), client.StartRunRequest{Namespace: ns, Workflow: name, Version: version, Inputs: in, Priority: priority})
			if err != nil {
				return err
			}
			if !wait {
				if a.jsonOutput() {
					return printJSON(a.stdout, r)
				}
				fmt.Fprintln(a.stdout, r.ID)
				return nil
			}
			return a.follow(cmd.Context(), c, r)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&inputs, "input", "i", nil, "input as key=value (repeatable; the value is JSON when it parses)")
	f.StringVar(&inputFile, "input-file", "", "file of inputs: a JSON (.json) or YAML (.yaml, .yml) mapping")
	f.BoolVarP(&wait, "wait", "w", false, "follow the run until it ends; exit 1 unless it succeeded")
	f.StringVarP(&namespace, "namespace", "n", "", `namespace of the workflow (default "default")`)
	f.IntVar(&version, "version", 0, "workflow version to run (default: the latest)")
	f.IntVar(&priority, "priority", 0, "higher runs first: among queued runs of the workflow and for workers (default 0)")
	return cmd
}

// follow waits for a run to end, showing its progress, and turns its final
// status into the exit code.
func (a *app) follow(ctx context.Context, c *client.Client, r *client.Run) error {
	var p progress
	switch {
	case a.jsonOutput():
	case isTerminal(a.stdout):
		fmt.Fprintln(a.stdout, r.ID)
		p = newLiveProgress(a.stdout)
	default:
		fmt.Fprintln(a.stdout, r.ID)
		p = newLineProgress(a.stdout)
	}
	var onChange func(*client.Run)
	if p != nil {
		onChange = p.update
		p.update(r)
	}
	final, err := c.Wait(ctx, r.ID, onChange)
	if p != nil {
		p.stop()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following run %s; it goes on (see \"legato runs get %s\")", r.ID, r.ID)
		}
		return err
	}
	if a.jsonOutput() {
		if err := printJSON(a.stdout, final); err != nil {
			return err
		}
	}
	if final.Status == client.StatusSucceeded {
		if !a.jsonOutput() {
			fmt.Fprintf(a.stdout, "run %s succeeded in %s\n", final.ID, span(final.StartedAt, final.FinishedAt))
		}
		return nil
	}
	msg := final.Error
	if msg == "" {
		msg = "no error message"
	}
	fmt.Fprintf(a.stderr, "legato: run %s %s: %s\n", final.ID, final.Status, msg)
	return exitCode(exitError)
}

// splitWorkflow reads "name" or "ns/name"; --namespace may say the same
// namespace, not another one.
func splitWorkflow(arg, flagNS string) (ns, name string, err error) {
	name = arg
	if i := strings.IndexByte(arg, '/'); i >= 0 {
		ns, name = arg[:i], arg[i+1:]
		if ns == "" || name == "" || strings.Contains(name, "/") {
			return "", "", usageErrorf("workflow %q: want NAME or NAMESPACE/NAME", arg)
		}
		if flagNS != "" && flagNS != ns {
			return "", "", usageErrorf("workflow %q is in namespace %q but --namespace says %q", arg, ns, flagNS)
		}
		return ns, name, nil
	}
	if name == "" {
		return "", "", usageErrorf("workflow name is empty")
	}
	if flagNS == "" {
		flagNS = client.DefaultNamespace
	}
	return flagNS, name, nil
}

// parseInputs merges the inputs of an input file and of -i key=value
// flags (which win).
func parseInputs(file string, kvs []string) (map[string]any, error) {
	in := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("input file: %w", err)
		}
		switch strings.ToLower(filepath.Ext(file)) {
		case ".yaml", ".yml":
			err = yaml.UnmarshalWithOptions(b, &in, yaml.UseJSONUnmarshaler())
		default:
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			err = dec.Decode(&in)
		}
		if err != nil {
			return nil, fmt.Errorf("input file %s: want a mapping of input names to values: %w", file, err)
		}
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("-i %q: want key=value", kv)
		}
		in[k] = inputValue(v)
	}
	if len(in) == 0 {
		return nil, nil
	}
	return in, nil
}

// inputValue is v parsed as JSON when it is exactly one JSON value (numbers
// keep their digits), else v as a string.
func inputValue(v string) any {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return v
	}
	if _, err := dec.Token(); err != io.EOF {
		return v
	}
	return out
}
