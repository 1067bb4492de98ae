// Package worker runs custom task types for Legato in your own process:
// the remote side of the worker protocol (docs/workers.md), over the HTTP
// API through package sdk/client.
//
// A workflow names a custom type with a dot (crm.create_contact); the
// server accepts such tasks with any with: block and queues their
// attempts, and only a worker that registered the type runs them. Make a
// Worker with New, register a HandlerFunc per type with Handle, and call
// Run: the package example is a complete program.
//
// Run claims attempts with a long poll (no busy polling), runs up to
// Options.Concurrency handlers at once, each with its attempt's timeout,
// and keeps their leases alive with one heartbeat request every third of
// the lease. A slot reports a finished attempt with a hand-off that also
// claims the slot's next attempt, and runs it at once: under load a slot
// goes from attempt to attempt with one request each. A handler's context
// ends when its run is canceled (the
// attempt is then acknowledged as canceled), when its lease is lost (its
// result is dropped: the attempt belongs to someone else now), and when
// Run's context ends: the attempts still running are given back so that
// they run again at once, on this worker's next start or on another one.
// Errors that may pass (the server restarting, the network) are retried
// with backoff.
//
// A handler's output is the task's output (tasks.<id>.output in the
// workflow); its error fails the attempt, and the task's retry policy
// decides whether another follows, unless the error is marked with
// NonRetryable. Side effects are at least once: an attempt may run again
// after a crash, a lost lease or a stop. Pass Task.IdempotencyKey, the same
// for every attempt of a task run, to the systems you call so that they do
// the work once.
//
// The SDK depends on none of Legato's internal packages.
package worker
