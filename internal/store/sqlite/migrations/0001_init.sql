-- Legato's initial schema. Times are INTEGER unix microseconds UTC (0 is
-- the zero time); maps and any values are JSON text (NULL for nil).
-- Children of a run reference it with deferred foreign keys (checked at
-- commit, so the order of inserts within a transaction does not matter) and
-- go away with it.

-- +goose Up
CREATE TABLE workflow_versions (
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    spec        TEXT,
    source      TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    PRIMARY KEY (namespace, name, version)
) STRICT;

CREATE TABLE runs (
    id            TEXT    NOT NULL PRIMARY KEY,
    namespace     TEXT    NOT NULL,
    workflow      TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    inputs        TEXT,
    outputs       TEXT,
    error         TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    compensating  INTEGER NOT NULL,
    parent_run_id TEXT    NOT NULL,
    parent_task   TEXT    NOT NULL,
    parent_index  INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    deadline      INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX runs_created ON runs (created_at, id);
CREATE INDEX runs_workflow_status ON runs (namespace, workflow, status, created_at);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id <> '';

CREATE TABLE task_runs (
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task         TEXT    NOT NULL,
    idx          INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    output       TEXT,
    error        TEXT    NOT NULL,
    items        INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    child_run_id TEXT    NOT NULL,
    wake_at      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, idx)
) STRICT;

CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task             TEXT    NOT NULL,
    idx              INTEGER NOT NULL,
    number           INTEGER NOT NULL,
    namespace        TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    params           TEXT,
    timeout_ns       INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    not_before       INTEGER NOT NULL,
    lease_token      TEXT    NOT NULL,
    lease_expires_at INTEGER NOT NULL,
    worker_id        TEXT    NOT NULL,
    cancel_requested INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL,
    error            TEXT    NOT NULL
) STRICT;
CREATE INDEX attempts_claim ON attempts (status, queue, not_before);
CREATE INDEX attempts_lease ON attempts (status, lease_expires_at);
CREATE INDEX attempts_run ON attempts (run_id, task, idx);

CREATE TABLE timers (
    run_id  TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task    TEXT    NOT NULL,
    idx     INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    fire_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, idx, kind)
) STRICT;
CREATE INDEX timers_fire ON timers (fire_at);

CREATE TABLE logs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task    TEXT    NOT NULL,
    idx     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    stream  TEXT    NOT NULL,
    line    TEXT    NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX logs_run ON logs (run_id, seq);

CREATE TABLE events (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    type   TEXT    NOT NULL,
    task   TEXT    NOT NULL,
    idx    INTEGER NOT NULL,
    data   TEXT,
    actor  TEXT    NOT NULL,
    at     INTEGER NOT NULL
) STRICT;
CREATE INDEX events_run ON events (run_id, seq);

CREATE TABLE kv (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE kv;
DROP TABLE events;
DROP TABLE logs;
DROP TABLE timers;
DROP TABLE attempts;
DROP TABLE task_runs;
DROP TABLE runs;
DROP TABLE workflow_versions;
