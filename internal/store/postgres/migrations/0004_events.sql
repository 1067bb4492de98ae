-- Webhooks and events: run idempotency keys, what started a run, the
-- inbox of posted events (the run journal is `events`), and the rows of
-- waiting wait_event tasks.

-- +goose Up
CREATE TABLE run_keys (
    namespace  text        NOT NULL,
    workflow   text        NOT NULL,
    key        text        NOT NULL,
    run_id     text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, workflow, key)
);

CREATE TABLE run_triggers (
    run_id       text        NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    kind         text        NOT NULL,
    name         text        NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    received_at  timestamptz NOT NULL
);

CREATE TABLE inbox (
    seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace       text        NOT NULL,
    id              text        NOT NULL,
    source          text        NOT NULL,
    type            text        NOT NULL,
    subject         text        NOT NULL,
    time            timestamptz NOT NULL,
    datacontenttype text        NOT NULL,
    data            jsonb,
    received_at     timestamptz NOT NULL,
    actor           text        NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX inbox_type ON inbox (namespace, type, received_at);

CREATE TABLE event_waits (
    run_id     text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task       text        NOT NULL,
    idx        integer     NOT NULL,
    namespace  text        NOT NULL,
    type       text        NOT NULL,
    match      text        NOT NULL,
    context    jsonb,
    deadline   timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, task, idx)
);
CREATE INDEX event_waits_type ON event_waits (namespace, type, created_at);

-- +goose Down
DROP TABLE event_waits;
DROP TABLE inbox;
DROP TABLE run_triggers;
DROP TABLE run_keys;
