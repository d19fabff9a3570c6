-- Audit trail: which code and which configuration produced a published row. Every row of
-- the published tables carries run_id; this table says, per run and model, the package
-- version, the git revision of a source checkout, and the model's configuration section
-- with its hash. Written once per (run, model) by the first step of the run that writes
-- for the model; never updated or deleted (a log of runs, like Dagster's run history).

CREATE TABLE IF NOT EXISTS monitoring.run_provenance (
    run_id           text         NOT NULL,
    model_name       text         NOT NULL,
    package_version  text         NOT NULL,
    git_revision     text,
    config_hash      text         NOT NULL,
    config           jsonb        NOT NULL,
    recorded_at      timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, model_name)
);
CREATE INDEX IF NOT EXISTS run_provenance_config_hash_idx
    ON monitoring.run_provenance (model_name, config_hash);
COMMENT ON TABLE monitoring.run_provenance IS
    'Which code and configuration each Dagster run used for each model: join any published table on (run_id, model_name). One row per run and model, written when the run''s first step for the model starts.';
COMMENT ON COLUMN monitoring.run_provenance.run_id IS 'Dagster run id, as in the run_id column of every published table.';
COMMENT ON COLUMN monitoring.run_provenance.model_name IS 'Monitored model, as named in the config file.';
COMMENT ON COLUMN monitoring.run_provenance.package_version IS 'Version of the installed monitoring_pipeline package.';
COMMENT ON COLUMN monitoring.run_provenance.git_revision IS 'Commit of the source checkout the package ran from (suffix +dirty: with uncommitted changes); NULL for an installed wheel.';
COMMENT ON COLUMN monitoring.run_provenance.config_hash IS 'sha256 of config (canonical JSON, sorted keys); its first 10 characters are the hash part of the assets'' Dagster code_version.';
COMMENT ON COLUMN monitoring.run_provenance.config IS 'Everything that decides what the model''s assets compute: its config section (owners and description aside) and the shared settings it inherits (minimum cohort size, quality, health, chunk size, first partition).';
COMMENT ON COLUMN monitoring.run_provenance.recorded_at IS 'When the run recorded it.';
