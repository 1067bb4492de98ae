-- Legato's initial schema on PostgreSQL; the numbers of these files match
-- the SQLite driver's. Times are timestamptz (microseconds); the zero
-- time.Time is stored as '-infinity', so that it sorts first as SQLite's 0
-- does and no time column is NULL. Maps and any values are jsonb (NULL for
-- nil). Children of a run reference it with deferred foreign keys (checked
-- at commit, so the order of inserts within a transaction does not matter)
-- and go away with it. Every object is created in the first schema of the
-- search_path (the Schema option of Open).

-- +goose Up
CREATE TABLE workflow_versions (
    namespace   text        NOT NULL,
    name        text        NOT NULL,
    version     integer     NOT NULL,
    hash        text        NOT NULL,
    spec        jsonb,
    source      text        NOT NULL,
    description text        NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    PRIMARY KEY (namespace, name, version)
);

CREATE TABLE runs (
    id            text        NOT NULL PRIMARY KEY,
    namespace     text        NOT NULL,
    workflow      text        NOT NULL,
    version       integer     NOT NULL,
    status        text        NOT NULL,
    inputs        jsonb,
    outputs       jsonb,
    error         text        NOT NULL,
    attempt       integer     NOT NULL,
    compensating  boolean     NOT NULL,
    parent_run_id text        NOT NULL,
    parent_task   text        NOT NULL,
    parent_index  integer     NOT NULL,
    seq           bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX runs_created ON runs (created_at, id);
CREATE INDEX runs_workflow_status ON runs (namespace, workflow, status, created_at);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id <> '';

CREATE TABLE task_runs (
    run_id       text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task         text        NOT NULL,
    idx          integer     NOT NULL,
    status       text        NOT NULL,
    attempts     integer     NOT NULL,
    output       jsonb,
    error        text        NOT NULL,
    items        integer     NOT NULL,
    seq          bigint      NOT NULL,
    child_run_id text        NOT NULL,
    wake_at      timestamptz NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, task, idx)
);

-- The column order is the driver's attemptCols: the claim returns a.*.
CREATE TABLE attempts (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task             text        NOT NULL,
    idx              integer     NOT NULL,
    number           integer     NOT NULL,
    namespace        text        NOT NULL,
    workflow         text        NOT NULL,
    queue            text        NOT NULL,
    type             text        NOT NULL,
    params           jsonb,
    timeout_ns       bigint      NOT NULL,
    status           text        NOT NULL,
    not_before       timestamptz NOT NULL,
    lease_token      text        NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    worker_id        text        NOT NULL,
    cancel_requested boolean     NOT NULL,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    error            text        NOT NULL
);
-- The work queue: only queued attempts, in claim order per queue.
CREATE INDEX attempts_queued ON attempts (queue, not_before, id) WHERE status = 'queued';
-- The leases the reaper looks at.
CREATE INDEX attempts_running ON attempts (lease_expires_at, id) WHERE status = 'running';
CREATE INDEX attempts_run ON attempts (run_id, task, idx);

CREATE TABLE timers (
    run_id  text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task    text        NOT NULL,
    idx     integer     NOT NULL,
    kind    text        NOT NULL,
    fire_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, task, idx, kind)
);
CREATE INDEX timers_fire ON timers (fire_at);

CREATE TABLE logs (
    seq     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id  text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task    text        NOT NULL,
    idx     integer     NOT NULL,
    attempt integer     NOT NULL,
    stream  text        NOT NULL,
    line    text        NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX logs_run ON logs (run_id, seq);

CREATE TABLE events (
    seq    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    type   text        NOT NULL,
    task   text        NOT NULL,
    idx    integer     NOT NULL,
    data   jsonb,
    actor  text        NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX events_run ON events (run_id, seq);

CREATE TABLE kv (
    key   text NOT NULL PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE kv;
DROP TABLE events;
DROP TABLE logs;
DROP TABLE timers;
DROP TABLE attempts;
DROP TABLE task_runs;
DROP TABLE runs;
DROP TABLE workflow_versions;
