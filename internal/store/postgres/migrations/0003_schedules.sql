-- +goose Up
CREATE TABLE schedules (
    namespace     text        NOT NULL,
    workflow      text        NOT NULL,
    name          text        NOT NULL,
    version       integer     NOT NULL,
    cron          text        NOT NULL,
    timezone      text        NOT NULL,
    next_fire_at  timestamptz NOT NULL,
    paused        boolean     NOT NULL,
    last_fired_at timestamptz NOT NULL,
    last_run_id   text        NOT NULL,
    queued_run_id text        NOT NULL,
    last_error    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    PRIMARY KEY (namespace, workflow, name)
);

CREATE INDEX schedules_next ON schedules (next_fire_at) WHERE NOT paused AND isfinite(next_fire_at);

-- +goose Down
DROP TABLE schedules;
