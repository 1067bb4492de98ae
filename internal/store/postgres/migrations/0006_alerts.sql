-- +goose Up
ALTER TABLE runs ADD COLUMN sla_breached_at timestamptz;

CREATE TABLE notifications (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task        text        NOT NULL,
    idx         integer     NOT NULL,
    event       text        NOT NULL,
    channel     text        NOT NULL,
    payload     jsonb       NOT NULL,
    status      text        NOT NULL,
    attempts    integer     NOT NULL,
    next_at     timestamptz NOT NULL,
    last_error  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL
);
CREATE INDEX notifications_due ON notifications (next_at) WHERE status = 'pending';
CREATE INDEX notifications_run ON notifications (run_id, id);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE runs DROP COLUMN sla_breached_at;
