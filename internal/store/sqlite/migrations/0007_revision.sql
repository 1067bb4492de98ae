-- +goose Up
-- runs.revision is incremented by every update of a run (every transition):
-- an engine keeps a run's state across transactions while it is unchanged.
ALTER TABLE runs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
-- Claims mark task runs running without updating their run: a cached state
-- is brought up to date by reading its run's running task runs only.
CREATE INDEX task_runs_running ON task_runs (run_id) WHERE status = 'running';

-- +goose Down
DROP INDEX task_runs_running;
ALTER TABLE runs DROP COLUMN revision;
