package main

// TEMPORARY: the lead writes cmd/legato/server.go with the real command and
// deletes this file.

import (
	"errors"

	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "server",
		Short: "Run the API, scheduler, in-process workers and console",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("server: not built into this binary yet")
		},
	}
}
