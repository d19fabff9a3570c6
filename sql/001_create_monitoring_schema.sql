-- The analysts' schema. Everything the pipeline publishes lives here.
CREATE SCHEMA IF NOT EXISTS monitoring;
COMMENT ON SCHEMA monitoring IS
    'Published output of monitoring_pipeline: per-model, per-day tables for analysts (read-only role monitoring_reader).';
