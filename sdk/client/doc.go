// Package client is the public Go client of Legato's HTTP API (v1).
//
// It speaks the JSON API under /api/v1 described in docs/api-contract.md:
// applying workflow files, starting, listing, cancelling and retrying runs,
// reading their logs and event journals, and the worker protocol (Claim,
// Heartbeat, CompleteAttempt, HandOff, InterruptAttempt, AppendAttemptLogs,
// ReleaseWorker) that
// package sdk/worker runs for custom task types. It does not depend on any of
// Legato's internal packages, so programs outside this module can use it.
//
// Errors returned by the server are *APIError values carrying the stable
// error code of the contract; match them with errors.As and the Code
// constants, never by message text.
package client
