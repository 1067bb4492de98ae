package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/legatohq/legato/internal/store"
)

const (
	qVersionLatest = `SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = $1 AND name = $2 ORDER BY version DESC LIMIT 1`
	qVersionGet = `SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = $1 AND name = $2 AND version = $3`
	qVersionList = `SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = $1 AND name = $2 ORDER BY version DESC`
	qVersionInsert = `INSERT INTO workflow_versions (` + versionCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	// The latest version of each workflow, by name then namespace.
	qWorkflowList = `SELECT ` + versionCols + ` FROM (
			SELECT DISTINCT ON (namespace, name) ` + versionCols + ` FROM workflow_versions
			WHERE $1::text = '' OR namespace = $1
			ORDER BY namespace, name, version DESC
		) latest ORDER BY name, namespace`
)

// VersionPut numbers the new version under an advisory lock on the
// workflow, so that two servers applying at once neither conflict nor
// both store the same content.
func (t *tx) VersionPut(ctx context.Context, v *store.WorkflowVersion) (*store.WorkflowVersion, bool, error) {
	if err := t.lock(ctx, lockWorkflow, v.Namespace+"/"+v.Name); err != nil {
		return nil, false, fmt.Errorf("postgres: version put: %w", err)
	}
	latest, err := scanVersion(t.tx.QueryRow(ctx, qVersionLatest, v.Namespace, v.Name))
	err = interpretError(err)
	switch {
	case errors.Is(err, store.ErrNotFound):
		latest = &store.WorkflowVersion{}
	case err != nil:
		return nil, false, fmt.Errorf("postgres: version put: %w", err)
	case latest.Hash == v.Hash:
		return latest, false, nil
	}
	made := *v
	made.Version = latest.Version + 1
	if made.CreatedAt.IsZero() {
		made.CreatedAt = nowFunc()
	}
	made.CreatedAt = truncate(made.CreatedAt)
	spec, err := jsonArg(made.Spec)
	if err != nil {
		return nil, false, err
	}
	_, err = t.tx.Exec(ctx, qVersionInsert, made.Namespace, made.Name, made.Version, made.Hash, spec,
		made.Source, made.Description, tz(made.CreatedAt), made.CreatedBy)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: version put: %w", interpretError(err))
	}
	return &made, true, nil
}

func (t *tx) VersionGet(ctx context.Context, namespace, name string, version int) (*store.WorkflowVersion, error) {
	var row scanner
	if version == 0 {
		row = t.tx.QueryRow(ctx, qVersionLatest, namespace, name)
	} else {
		row = t.tx.QueryRow(ctx, qVersionGet, namespace, name, version)
	}
	v, err := scanVersion(row)
	if err != nil {
		return nil, fmt.Errorf("postgres: version %s/%s@%d: %w", namespace, name, version, interpretError(err))
	}
	return v, nil
}

func (t *tx) VersionList(ctx context.Context, namespace, name string) ([]*store.WorkflowVersion, error) {
	return queryAll(ctx, t, scanVersion, qVersionList, namespace, name)
}

func (t *tx) WorkflowList(ctx context.Context, namespace string) ([]*store.WorkflowVersion, error) {
	return queryAll(ctx, t, scanVersion, qWorkflowList, namespace)
}
