-- Label backfill, data quality and quarantine: the first link of every model's chain.
-- Every row carries the Dagster run that wrote it (run_id) and when (produced_at).
-- Each (table, model_name, partition_date) is replaced as a whole, in one transaction.

CREATE TABLE IF NOT EXISTS monitoring.labeled_predictions (
    partition_date     date             NOT NULL,
    model_name         text             NOT NULL,
    prediction_id      text             NOT NULL,
    scored_at          timestamptz      NOT NULL,
    model_version      text             NOT NULL,
    score              double precision NOT NULL,
    decision           smallint         NOT NULL,
    label              smallint,
    first_labelled_at  timestamptz,
    labelled_at        timestamptz,
    label_lag_hours    double precision,
    label_revisions    integer          NOT NULL,
    cohorts            jsonb            NOT NULL,
    features           jsonb            NOT NULL,
    run_id             text             NOT NULL,
    produced_at        timestamptz      NOT NULL
);
CREATE INDEX IF NOT EXISTS labeled_predictions_partition_idx
    ON monitoring.labeled_predictions (model_name, partition_date);
COMMENT ON TABLE monitoring.labeled_predictions IS
    'Each valid prediction of the day with its newest label. Unlabelled predictions stay (label NULL): their labels may still come and a re-run attaches them.';
COMMENT ON COLUMN monitoring.labeled_predictions.partition_date IS 'UTC day of scored_at: the Dagster partition.';
COMMENT ON COLUMN monitoring.labeled_predictions.model_name IS 'Monitored model, as named in the config file.';
COMMENT ON COLUMN monitoring.labeled_predictions.prediction_id IS 'Unique id of the prediction in the source log.';
COMMENT ON COLUMN monitoring.labeled_predictions.scored_at IS 'When the model scored the case.';
COMMENT ON COLUMN monitoring.labeled_predictions.model_version IS 'Model version that produced the score.';
COMMENT ON COLUMN monitoring.labeled_predictions.score IS 'Predicted probability of the positive class, in [0, 1].';
COMMENT ON COLUMN monitoring.labeled_predictions.decision IS '1 when the model acted positively (approve, shortlist...), else 0; from the log or score >= threshold.';
COMMENT ON COLUMN monitoring.labeled_predictions.label IS 'Newest ground-truth label (1 = positive class), NULL while none has arrived.';
COMMENT ON COLUMN monitoring.labeled_predictions.first_labelled_at IS 'When the first label for this prediction arrived.';
COMMENT ON COLUMN monitoring.labeled_predictions.labelled_at IS 'When the newest (used) label arrived; later than first_labelled_at when corrected.';
COMMENT ON COLUMN monitoring.labeled_predictions.label_lag_hours IS 'Hours from scored_at to first_labelled_at: how long ground truth took to arrive.';
COMMENT ON COLUMN monitoring.labeled_predictions.label_revisions IS 'Number of label rows received for the prediction (0 = unlabelled, 2+ = corrected).';
COMMENT ON COLUMN monitoring.labeled_predictions.cohorts IS 'Cohort attribute values, e.g. {"sex": "female", "region": "west"}.';
COMMENT ON COLUMN monitoring.labeled_predictions.features IS 'Watched feature values (numeric and categorical); null when missing.';
COMMENT ON COLUMN monitoring.labeled_predictions.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.labeled_predictions.produced_at IS 'When that run wrote it.';

CREATE TABLE IF NOT EXISTS monitoring.quarantined_rows (
    partition_date  date        NOT NULL,
    model_name      text        NOT NULL,
    source          text        NOT NULL CHECK (source IN ('predictions', 'labels')),
    prediction_id   text,
    reason          text        NOT NULL,
    row_data        jsonb       NOT NULL,
    run_id          text        NOT NULL,
    produced_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantined_rows_partition_idx
    ON monitoring.quarantined_rows (model_name, partition_date);
COMMENT ON TABLE monitoring.quarantined_rows IS
    'Source rows that could not be used, with the reason: kept here instead of being dropped.';
COMMENT ON COLUMN monitoring.quarantined_rows.partition_date IS 'Partition whose run read the row.';
COMMENT ON COLUMN monitoring.quarantined_rows.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.quarantined_rows.source IS 'predictions or labels: which source the row came from.';
COMMENT ON COLUMN monitoring.quarantined_rows.prediction_id IS 'The row''s prediction id as read (may be NULL: that can be the reason).';
COMMENT ON COLUMN monitoring.quarantined_rows.reason IS 'Every rule the row broke, separated by "; " (e.g. "score outside [0, 1]").';
COMMENT ON COLUMN monitoring.quarantined_rows.row_data IS 'The row as read from the source (source column names), for repair and replay.';
COMMENT ON COLUMN monitoring.quarantined_rows.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.quarantined_rows.produced_at IS 'When that run wrote it.';

CREATE TABLE IF NOT EXISTS monitoring.quality_results (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    check_name        text             NOT NULL,
    expectation       text             NOT NULL,
    column_name       text,
    success           boolean          NOT NULL,
    blocking          boolean          NOT NULL,
    element_count     bigint,
    unexpected_count  bigint,
    unexpected_share  double precision,
    observed_value    text,
    tolerance         text,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL
);
CREATE INDEX IF NOT EXISTS quality_results_partition_idx
    ON monitoring.quality_results (model_name, partition_date);
COMMENT ON TABLE monitoring.quality_results IS
    'One row per Great Expectations expectation evaluated on a partition''s prediction log (before quarantine).';
COMMENT ON COLUMN monitoring.quality_results.partition_date IS 'Partition validated.';
COMMENT ON COLUMN monitoring.quality_results.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.quality_results.check_name IS 'Dagster asset check the expectation belongs to (schema, keys_and_ranges, cohort_values, row_count, feature_nulls).';
COMMENT ON COLUMN monitoring.quality_results.expectation IS 'Great Expectations expectation type.';
COMMENT ON COLUMN monitoring.quality_results.column_name IS 'Column checked (standard name), NULL for table-level expectations.';
COMMENT ON COLUMN monitoring.quality_results.success IS 'Whether the expectation held within its tolerance.';
COMMENT ON COLUMN monitoring.quality_results.blocking IS 'Whether a failure stops downstream metrics for the partition.';
COMMENT ON COLUMN monitoring.quality_results.element_count IS 'Rows evaluated.';
COMMENT ON COLUMN monitoring.quality_results.unexpected_count IS 'Rows violating the expectation.';
COMMENT ON COLUMN monitoring.quality_results.unexpected_share IS 'unexpected_count over the rows the expectation applies to (GX: all rows for not-null, non-null rows otherwise).';
COMMENT ON COLUMN monitoring.quality_results.observed_value IS 'Observed figure for aggregate expectations (row count, column list).';
COMMENT ON COLUMN monitoring.quality_results.tolerance IS 'Tolerance applied, e.g. mostly=0.99 or the allowed row-count range.';
COMMENT ON COLUMN monitoring.quality_results.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.quality_results.produced_at IS 'When that run wrote it.';

CREATE TABLE IF NOT EXISTS monitoring.ingestion_stats (
    partition_date        date        NOT NULL,
    model_name            text        NOT NULL,
    rows_read             bigint      NOT NULL,
    rows_quarantined      bigint      NOT NULL,
    rows_written          bigint      NOT NULL,
    labels_read           bigint      NOT NULL,
    labels_quarantined    bigint      NOT NULL,
    labels_orphaned       bigint      NOT NULL,
    source_rows_without_time bigint,
    run_id                text        NOT NULL,
    produced_at           timestamptz NOT NULL,
    PRIMARY KEY (model_name, partition_date)
);
COMMENT ON TABLE monitoring.ingestion_stats IS
    'Row accounting per partition: rows_read = rows_quarantined + rows_written, nothing lost.';
COMMENT ON COLUMN monitoring.ingestion_stats.rows_read IS 'Prediction rows read from the source for the day.';
COMMENT ON COLUMN monitoring.ingestion_stats.rows_quarantined IS 'Prediction rows moved to quarantined_rows.';
COMMENT ON COLUMN monitoring.ingestion_stats.rows_written IS 'Prediction rows written to labeled_predictions.';
COMMENT ON COLUMN monitoring.ingestion_stats.labels_read IS 'Label rows read for the day''s predictions (all revisions).';
COMMENT ON COLUMN monitoring.ingestion_stats.labels_quarantined IS 'Label rows moved to quarantined_rows (bad value, no time, labelled before scored).';
COMMENT ON COLUMN monitoring.ingestion_stats.source_rows_without_time IS 'Table sources only: rows of the whole source table with no scored_at, which no day can claim (NULL for file sources, where such rows are quarantined with their day).';
COMMENT ON COLUMN monitoring.ingestion_stats.labels_orphaned IS 'Label rows for prediction ids that are quarantined or absent from the day''s valid predictions.';

CREATE TABLE IF NOT EXISTS monitoring.label_status (
    partition_date        date             NOT NULL,
    model_name            text             NOT NULL,
    predictions           bigint           NOT NULL,
    labelled              bigint           NOT NULL,
    coverage              double precision,
    corrected             bigint           NOT NULL,
    positives             bigint           NOT NULL,
    label_lag_p50_hours   double precision,
    label_lag_p90_hours   double precision,
    label_lag_p99_hours   double precision,
    label_lag_max_hours   double precision,
    run_id                text             NOT NULL,
    produced_at           timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date)
);
COMMENT ON TABLE monitoring.label_status IS
    'Ground-truth arrival per day, as known when the partition last ran: recent days have lower coverage until their labels arrive.';
COMMENT ON COLUMN monitoring.label_status.predictions IS 'Valid predictions of the day.';
COMMENT ON COLUMN monitoring.label_status.labelled IS 'Predictions with at least one label.';
COMMENT ON COLUMN monitoring.label_status.coverage IS 'labelled / predictions; NULL for a day without predictions.';
COMMENT ON COLUMN monitoring.label_status.corrected IS 'Predictions whose label was revised (two or more label rows).';
COMMENT ON COLUMN monitoring.label_status.positives IS 'Labelled predictions whose newest label is positive.';
COMMENT ON COLUMN monitoring.label_status.label_lag_p50_hours IS 'Median hours from scoring to first label, over labelled predictions (continuous percentile). Right-censored: labels still to come are not in it.';
COMMENT ON COLUMN monitoring.label_status.label_lag_p90_hours IS '90th percentile of the label lag in hours (labelled predictions only).';
COMMENT ON COLUMN monitoring.label_status.label_lag_p99_hours IS '99th percentile of the label lag in hours (labelled predictions only).';
COMMENT ON COLUMN monitoring.label_status.label_lag_max_hours IS 'Longest label lag observed, in hours.';
