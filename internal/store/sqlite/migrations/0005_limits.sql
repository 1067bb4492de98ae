-- Concurrency keys and priorities of runs, priorities and resources of
-- attempts, and the limits claims obey (in-flight caps and token buckets).

-- +goose Up
ALTER TABLE runs ADD COLUMN concurrency_key TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_concurrency ON runs (namespace, workflow, concurrency_key, status, priority, created_at);

ALTER TABLE attempts ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN resource TEXT NOT NULL DEFAULT '';
CREATE INDEX attempts_claim_priority ON attempts (status, queue, priority DESC, not_before, id);

CREATE TABLE limits (
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    max_running INTEGER NOT NULL,
    rate        REAL    NOT NULL,
    burst       REAL    NOT NULL,
    tokens      REAL    NOT NULL,
    refilled_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) STRICT;

-- +goose Down
DROP TABLE limits;
DROP INDEX attempts_claim_priority;
ALTER TABLE attempts DROP COLUMN resource;
ALTER TABLE attempts DROP COLUMN priority;
DROP INDEX runs_concurrency;
ALTER TABLE runs DROP COLUMN priority;
ALTER TABLE runs DROP COLUMN concurrency_key;
