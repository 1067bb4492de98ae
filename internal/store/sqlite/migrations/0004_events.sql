-- Webhooks and events: run idempotency keys, what started a run, the
-- inbox of posted events (the run journal is `events`), and the rows of
-- waiting wait_event tasks.

-- +goose Up
CREATE TABLE run_keys (
    namespace  TEXT    NOT NULL,
    workflow   TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, workflow, key)
) STRICT;

CREATE TABLE run_triggers (
    run_id       TEXT    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    event_source TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE inbox (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace         TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    time              INTEGER NOT NULL,
    datacontenttype   TEXT    NOT NULL,
    data              TEXT,
    received_at       INTEGER NOT NULL,
    actor             TEXT    NOT NULL,
    UNIQUE (source, id)
) STRICT;
CREATE INDEX inbox_type ON inbox (namespace, type, received_at);

CREATE TABLE event_waits (
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task       TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    namespace  TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    match      TEXT    NOT NULL,
    context    TEXT,
    deadline   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, idx)
) STRICT;
CREATE INDEX event_waits_type ON event_waits (namespace, type, created_at);

-- +goose Down
DROP TABLE event_waits;
DROP TABLE inbox;
DROP TABLE run_triggers;
DROP TABLE run_keys;
