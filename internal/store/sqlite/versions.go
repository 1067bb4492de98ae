package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/legatohq/legato/internal/store"
)

const versionCols = `namespace, name, version, hash, spec, source, description, created_at, created_by`

var (
	qVersionLatest = prep(`SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = ? AND name = ? ORDER BY version DESC LIMIT 1`)
	qVersionGet = prep(`SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = ? AND name = ? AND version = ?`)
	qVersionInsert = prep(`INSERT INTO workflow_versions (` + versionCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qVersionList = prep(`SELECT ` + versionCols + ` FROM workflow_versions
		WHERE namespace = ? AND name = ? ORDER BY version DESC`)
	qWorkflowList = prep(`SELECT ` + versionCols + ` FROM workflow_versions v
		WHERE (?1 = '' OR namespace = ?1) AND version = (
			SELECT max(version) FROM workflow_versions l
			WHERE l.namespace = v.namespace AND l.name = v.name)
		ORDER BY name, namespace`)
)

func scanVersion(sc scanner) (*store.WorkflowVersion, error) {
	var v store.WorkflowVersion
	err := sc.Scan(&v.Namespace, &v.Name, &v.Version, &v.Hash, jsonCol{&v.Spec}, &v.Source,
		&v.Description, microTime{&v.CreatedAt}, &v.CreatedBy)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func (t *tx) VersionPut(ctx context.Context, v *store.WorkflowVersion) (*store.WorkflowVersion, bool, error) {
	latest, err := scanVersion(t.queryRow(ctx, qVersionLatest, v.Namespace, v.Name))
	switch err = interpretError(err); {
	case err == nil && latest.Hash == v.Hash:
		return latest, false, nil
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		latest = &store.WorkflowVersion{}
	default:
		return nil, false, fmt.Errorf("sqlite: version put: %w", err)
	}
	nv := *v
	nv.Version = latest.Version + 1
	if nv.CreatedAt.IsZero() {
		nv.CreatedAt = nowFunc()
	}
	nv.CreatedAt = fromMicros(toMicros(nv.CreatedAt))
	spec, err := toJSON(nv.Spec)
	if err != nil {
		return nil, false, err
	}
	_, err = t.exec(ctx, qVersionInsert, nv.Namespace, nv.Name, nv.Version, nv.Hash, spec, nv.Source,
		nv.Description, toMicros(nv.CreatedAt), nv.CreatedBy)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: version put: %w", interpretError(err))
	}
	return &nv, true, nil
}

func (t *tx) VersionGet(ctx context.Context, namespace, name string, version int) (*store.WorkflowVersion, error) {
	var v *store.WorkflowVersion
	var err error
	if version == 0 {
		v, err = scanVersion(t.queryRow(ctx, qVersionLatest, namespace, name))
	} else {
		v, err = scanVersion(t.queryRow(ctx, qVersionGet, namespace, name, version))
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: version %s/%s@%d: %w", namespace, name, version, interpretError(err))
	}
	return v, nil
}

func (t *tx) VersionList(ctx context.Context, namespace, name string) ([]*store.WorkflowVersion, error) {
	rows, err := t.query(ctx, qVersionList, namespace, name)
	return collect(rows, err, scanVersion)
}

func (t *tx) WorkflowList(ctx context.Context, namespace string) ([]*store.WorkflowVersion, error) {
	rows, err := t.query(ctx, qWorkflowList, namespace)
	return collect(rows, err, scanVersion)
}
