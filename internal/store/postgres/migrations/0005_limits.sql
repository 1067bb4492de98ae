-- Concurrency keys and priorities of runs, priorities and resources of
-- attempts, and the limits claims obey (in-flight caps and token buckets).

-- +goose Up
ALTER TABLE runs ADD COLUMN concurrency_key text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE INDEX runs_concurrency ON runs (namespace, workflow, concurrency_key, status, priority DESC, created_at);

ALTER TABLE attempts ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN resource text NOT NULL DEFAULT '';
-- The work queue in claim order: higher priority first, then due time.
DROP INDEX attempts_queued;
CREATE INDEX attempts_queued ON attempts (queue, priority DESC, not_before, id) WHERE status = 'queued';

-- A limit row is locked FOR UPDATE by every claim it applies to.
CREATE TABLE limits (
    kind        text             NOT NULL,
    name        text             NOT NULL,
    max_running integer          NOT NULL,
    rate        double precision NOT NULL,
    burst       double precision NOT NULL,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL,
    PRIMARY KEY (kind, name)
);

-- +goose Down
DROP TABLE limits;
DROP INDEX attempts_queued;
CREATE INDEX attempts_queued ON attempts (queue, not_before, id) WHERE status = 'queued';
ALTER TABLE attempts DROP COLUMN resource;
ALTER TABLE attempts DROP COLUMN priority;
DROP INDEX runs_concurrency;
ALTER TABLE runs DROP COLUMN priority;
ALTER TABLE runs DROP COLUMN concurrency_key;
