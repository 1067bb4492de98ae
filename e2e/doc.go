// Package e2e holds Legato's end-to-end tests: they build the real
// `legato` binary once, start `legato server` processes on free ports with
// their own data directories, drive them with the CLI and the HTTP API, and
// kill them with SIGKILL to check that runs survive crashes.
//
// Run them with `go test ./e2e/` (the crash test takes a few minutes;
// `-short` leaves it out). The package has no code besides its tests.
package e2e
