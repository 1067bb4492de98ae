-- +goose Up
-- runs.revision is incremented by every update of a run (every transition):
-- an engine keeps a run's state across transactions while it is unchanged.
ALTER TABLE runs ADD COLUMN revision bigint NOT NULL DEFAULT 0;
-- Claims mark task runs running without updating their run: a cached state
-- is brought up to date by reading its run's running task runs only.
CREATE INDEX task_runs_running ON task_runs (run_id) WHERE status = 'running';

-- A server of an earlier version, sharing the database during an upgrade,
-- updates runs without knowing the column: the trigger increments it for
-- any update that leaves it unchanged, so that no kept state outlives it.
-- +goose StatementBegin
CREATE FUNCTION runs_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision = OLD.revision THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER runs_revision BEFORE UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_revision();

-- +goose Down
DROP TRIGGER runs_revision ON runs;
DROP FUNCTION runs_revision();
DROP INDEX task_runs_running;
ALTER TABLE runs DROP COLUMN revision;
