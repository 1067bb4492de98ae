package postgres

import (
	"time"

	"github.com/legatohq/legato/internal/store"
)

// The column lists of the tables read whole, each with the function that
// scans a row of it into a record, field by field in the same order.

const versionCols = `namespace, name, version, hash, spec, source, description, created_at, created_by`

func scanVersion(sc scanner) (*store.WorkflowVersion, error) {
	v := new(store.WorkflowVersion)
	return v, sc.Scan(&v.Namespace, &v.Name, &v.Version, &v.Hash, jsonCol{&v.Spec}, &v.Source,
		&v.Description, tsCol{&v.CreatedAt}, &v.CreatedBy)
}

const runCols = `id, namespace, workflow, version, status, inputs, outputs, error, attempt,
	compensating, parent_run_id, parent_task, parent_index, seq, created_at, started_at,
	finished_at, deadline, created_by, updated_at, sla_breached_at, concurrency_key, priority, revision`

func scanRun(sc scanner) (*store.Run, error) {
	r := new(store.Run)
	return r, sc.Scan(&r.ID, &r.Namespace, &r.Workflow, &r.Version, &r.Status,
		jsonCol{&r.Inputs}, jsonCol{&r.Outputs}, &r.Error, &r.Attempt, &r.Compensating,
		&r.ParentRunID, &r.ParentTask, &r.ParentIndex, &r.Seq,
		tsCol{&r.CreatedAt}, tsCol{&r.StartedAt}, tsCol{&r.FinishedAt}, tsCol{&r.Deadline},
		&r.CreatedBy, tsCol{&r.UpdatedAt}, tsCol{&r.SLABreachedAt}, &r.ConcurrencyKey, &r.Priority, &r.Revision)
}

const taskRunCols = `run_id, task, idx, status, attempts, output, error, items, seq,
	child_run_id, wake_at, started_at, finished_at`

func scanTaskRun(sc scanner) (*store.TaskRun, error) {
	tr := new(store.TaskRun)
	return tr, sc.Scan(&tr.RunID, &tr.Task, &tr.Index, &tr.Status, &tr.Attempts,
		jsonCol{&tr.Output}, &tr.Error, &tr.Items, &tr.Seq, &tr.ChildRunID,
		tsCol{&tr.WakeAt}, tsCol{&tr.StartedAt}, tsCol{&tr.FinishedAt})
}

// attemptCols is every column of attempts, in the table's order (the claim
// returns a.*).
const attemptCols = `id, run_id, task, idx, number, namespace, workflow, queue, type, params,
	timeout_ns, status, not_before, lease_token, lease_expires_at, worker_id, cancel_requested,
	created_at, started_at, finished_at, error, priority, resource`

func scanAttempt(sc scanner) (*store.Attempt, error) {
	a := new(store.Attempt)
	var timeout int64
	err := sc.Scan(&a.ID, &a.RunID, &a.Task, &a.Index, &a.Number, &a.Namespace,
		&a.Workflow, &a.Queue, &a.Type, jsonCol{&a.Params}, &timeout, &a.Status,
		tsCol{&a.NotBefore}, &a.LeaseToken, tsCol{&a.LeaseExpiresAt}, &a.WorkerID,
		&a.CancelRequested, tsCol{&a.CreatedAt}, tsCol{&a.StartedAt}, tsCol{&a.FinishedAt},
		&a.Error, &a.Priority, &a.Resource)
	a.Timeout = time.Duration(timeout)
	return a, err
}
