-- +goose Up
CREATE TABLE schedules (
    namespace     TEXT    NOT NULL,
    workflow      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    cron          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL,
    next_fire_at  INTEGER NOT NULL,
    paused        INTEGER NOT NULL,
    last_fired_at INTEGER NOT NULL,
    last_run_id   TEXT    NOT NULL,
    queued_run_id TEXT    NOT NULL,
    last_error    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL,
    PRIMARY KEY (namespace, workflow, name)
) STRICT;

CREATE INDEX schedules_next ON schedules (next_fire_at) WHERE paused = 0 AND next_fire_at > 0;

-- +goose Down
DROP TABLE schedules;
