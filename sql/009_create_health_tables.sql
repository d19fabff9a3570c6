-- Pipeline health (meta-monitoring): is the monitoring of a model trustworthy on a day?
-- One row per (model, day, check), written by the <model>/pipeline_health asset; the
-- alerting side reads the rows with status 'fail' and raises their severity.
-- Each (model_name, partition_date) is replaced as a whole, in one transaction.

CREATE TABLE IF NOT EXISTS monitoring.health_checks (
    partition_date  date             NOT NULL,
    model_name      text             NOT NULL,
    check_name      text             NOT NULL,
    status          text             NOT NULL CHECK (status IN ('ok', 'warn', 'fail')),
    severity        text             NOT NULL CHECK (severity IN ('ticket', 'page')),
    observed        double precision,
    threshold       double precision,
    message         text             NOT NULL,
    details         jsonb            NOT NULL,
    run_id          text             NOT NULL,
    produced_at     timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, check_name)
);
CREATE INDEX IF NOT EXISTS health_checks_failing_idx
    ON monitoring.health_checks (partition_date, model_name) WHERE status <> 'ok';
COMMENT ON TABLE monitoring.health_checks IS
    'Meta-monitoring findings per model, day and check: stale_baseline (drift baseline missing, too old, too small or with missing days), overdue_partitions (earlier days of the lookback not materialized, stopped by a blocking check, or with their chain incomplete), label_lag (p90 label lag beyond expected_label_lag_days), label_coverage (days older than the expected label lag with too few labels), label_coverage_trend (coverage of such days dropping). Judged from the stored figures of days up to partition_date; thresholds in the config''s health section.';
COMMENT ON COLUMN monitoring.health_checks.partition_date IS 'Day the checks were judged for (the Dagster partition of <model>/pipeline_health).';
COMMENT ON COLUMN monitoring.health_checks.model_name IS 'Monitored model, as named in the config file.';
COMMENT ON COLUMN monitoring.health_checks.check_name IS 'stale_baseline, overdue_partitions, label_lag, label_coverage or label_coverage_trend (also the Dagster asset check name).';
COMMENT ON COLUMN monitoring.health_checks.status IS 'ok; warn (worth a look, tolerated by the thresholds); fail (the threshold is broken: raise severity).';
COMMENT ON COLUMN monitoring.health_checks.severity IS 'What a fail should raise: ticket or page (config health.<check>.severity); stored on every row.';
COMMENT ON COLUMN monitoring.health_checks.observed IS 'The figure judged: baseline age, days or rows; overdue days; p90 label lag in days; lowest coverage; coverage drop. NULL when nothing could be judged yet.';
COMMENT ON COLUMN monitoring.health_checks.threshold IS 'The limit observed was judged against, in the same unit.';
COMMENT ON COLUMN monitoring.health_checks.message IS 'One line a human can act on: what is wrong, on which days, and what to do.';
COMMENT ON COLUMN monitoring.health_checks.details IS 'The evidence as JSON: judged window, per-day figures, missing or blocked days.';
COMMENT ON COLUMN monitoring.health_checks.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.health_checks.produced_at IS 'When that run wrote it.';
