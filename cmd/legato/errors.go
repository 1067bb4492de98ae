package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode ends the command with a code after it printed what it had to
// say (a followed run that failed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d; see %q", cmd.CommandPath(), n, len(args), cmd.CommandPath()+" --help")
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageErrorf("%s takes %d to %d arguments, got %d; see %q", cmd.CommandPath(), lo, hi, len(args), cmd.CommandPath()+" --help")
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs at least %d argument(s); see %q", cmd.CommandPath(), n, cmd.CommandPath()+" --help")
		}
		return nil
	}
}

// unknownCommand is the Args of commands that only group others.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q; see %q", args[0], cmd.CommandPath(), cmd.CommandPath()+" --help")
	}
	return nil
}

// printError writes err as "legato: <message>" lines on stderr, with what
// the API said and, when the server can't be reached, where it was looked
// for.
func (a *app) printError(err error) {
	w := a.stderr
	var apiErr *client.APIError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintf(w, "legato: %s\n", err.Error())
		for _, fe := range apiErr.WorkflowErrors() {
			fmt.Fprintf(w, "  %s\n", fe)
		}
		for _, p := range apiErr.Problems() {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if apiErr.Code == client.CodeUnauthenticated {
			fmt.Fprintf(w, "legato: hint: pass --token or set LEGATO_TOKEN; on the server's machine the admin token is read from %s (--data)\n", a.tokenPath())
		}
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &dnsErr):
		reason := err.Error()
		if opErr != nil && opErr.Err != nil {
			reason = opErr.Err.Error()
		} else if dnsErr != nil {
			reason = dnsErr.Error()
		}
		fmt.Fprintf(w, "legato: cannot reach the server at %s: %s (is \"legato server\" running? set --server or LEGATO_SERVER)\n", a.server, reason)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "legato: interrupted")
	default:
		msg := err.Error()
		msg = strings.TrimSuffix(msg, "\n")
		fmt.Fprintf(w, "legato: %s\n", msg)
	}
	var ue usageError
	if errors.As(err, &ue) && !strings.Contains(err.Error(), "--help") {
		fmt.Fprintln(w, "legato: run \"legato --help\" for usage")
	}
}
