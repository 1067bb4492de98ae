-- +goose Up
ALTER TABLE runs ADD COLUMN sla_breached_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    task        TEXT    NOT NULL,
    idx         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
) STRICT;
CREATE INDEX notifications_due ON notifications (next_at) WHERE status = 'pending';
CREATE INDEX notifications_run ON notifications (run_id, id);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE runs DROP COLUMN sla_breached_at;
