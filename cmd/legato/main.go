// Command legato is Legato's command line: it runs the server and talks to
// one over the HTTP API (through sdk/client) to apply workflows, start and
// follow runs and read their logs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/legatohq/legato/sdk/client"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// when empty, the module version from the build info is used.
var version string

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // a command failed, or a followed run failed or was canceled
	exitUsage = 2 // bad flags or arguments
)

const defaultServer = "http://127.0.0.1:8420"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	a.printError(err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

// app holds the global flags and the output streams of one invocation.
type app struct {
	stdout, stderr io.Writer

	server string
	token  string
	data   string
	output string
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "legato",
		Short:         "Legato runs workflows: tasks across scripts, APIs, people and agents",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "text" && a.output != "json" {
				return usageErrorf("--output must be text or json, not %q", a.output)
			}
			return nil
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", envOr("LEGATO_SERVER", defaultServer), "address of the Legato server (env LEGATO_SERVER)")
	pf.StringVar(&a.token, "token", "", "API token (env LEGATO_TOKEN; default: the admin token in the data directory)")
	pf.StringVar(&a.data, "data", envOr("LEGATO_DATA", ".legato"), "data directory, where the server keeps admin.token (env LEGATO_DATA)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format of read commands: text or json")

	root.AddCommand(
		a.serverCmd(),
		a.workerCmd(),
		a.validateCmd(),
		a.applyCmd(),
		a.runCmd(),
		a.runsCmd(),
		a.logsCmd(),
		a.emitCmd(),
		a.schedulesCmd(),
		a.backfillCmd(),
		a.versionCmd(),
	)
	return root
}

// client returns an API client for the global flags. The token is
// --token, LEGATO_TOKEN, or else the admin token file the server wrote in
// the data directory.
func (a *app) client() *client.Client {
	token := a.token
	if token == "" {
		token = os.Getenv("LEGATO_TOKEN")
	}
	if token == "" {
		if b, err := os.ReadFile(a.tokenPath()); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return client.New(a.server, token, client.WithUserAgent("legato-cli/"+versionString()))
}

func (a *app) tokenPath() string { return filepath.Join(a.data, "admin.token") }

func (a *app) jsonOutput() bool { return a.output == "json" }

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			if a.jsonOutput() {
				return printJSON(a.stdout, map[string]string{"version": versionString()})
			}
			fmt.Fprintln(a.stdout, "legato", versionString())
			return nil
		},
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
