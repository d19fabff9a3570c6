-- Performance estimated from scores while labels lag (core/estimation.py). estimation_stats
-- holds additive score sums per day, cohort, decision and score bin (written with
-- cohort_stats by cohort_metrics, from the same pass over the day's rows);
-- performance_estimates and estimated_disparities are derived from them and from the
-- reference window's estimation_stats, never from raw rows.

CREATE TABLE IF NOT EXISTS monitoring.estimation_stats (
    partition_date         date               NOT NULL,
    model_name             text               NOT NULL,
    model_version          text               NOT NULL,
    cohort_attribute       text               NOT NULL,
    cohort_value           text               NOT NULL,
    decision               smallint           NOT NULL,
    n                      bigint[]           NOT NULL,
    score_sum              double precision[] NOT NULL,
    score_sq_sum           double precision[] NOT NULL,
    labelled_n             bigint[]           NOT NULL,
    labelled_score_sum     double precision[] NOT NULL,
    labelled_score_sq_sum  double precision[] NOT NULL,
    label_sum              bigint[]           NOT NULL,
    run_id                 text               NOT NULL,
    produced_at            timestamptz        NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, decision)
);
COMMENT ON TABLE monitoring.estimation_stats IS
    'Additive score sums per day, model version, cohort, decision and score bin (arrays indexed by bin: 20 equal-width bins of [0, 1]); what label-free performance estimation needs. Sum over days for a window.';
COMMENT ON COLUMN monitoring.estimation_stats.model_version IS 'Model version, or ''all'' for the sum over versions.';
COMMENT ON COLUMN monitoring.estimation_stats.cohort_attribute IS 'As in cohort_stats.';
COMMENT ON COLUMN monitoring.estimation_stats.cohort_value IS 'As in cohort_stats.';
COMMENT ON COLUMN monitoring.estimation_stats.decision IS 'The decision (0 or 1) of the rows summed.';
COMMENT ON COLUMN monitoring.estimation_stats.n IS 'Rows per score bin.';
COMMENT ON COLUMN monitoring.estimation_stats.score_sum IS 'Sum of scores per bin (all rows).';
COMMENT ON COLUMN monitoring.estimation_stats.score_sq_sum IS 'Sum of squared scores per bin (all rows).';
COMMENT ON COLUMN monitoring.estimation_stats.labelled_n IS 'Labelled rows per bin.';
COMMENT ON COLUMN monitoring.estimation_stats.labelled_score_sum IS 'Sum of scores of labelled rows per bin.';
COMMENT ON COLUMN monitoring.estimation_stats.labelled_score_sq_sum IS 'Sum of squared scores of labelled rows per bin.';
COMMENT ON COLUMN monitoring.estimation_stats.label_sum IS 'Positive labels per bin.';

CREATE TABLE IF NOT EXISTS monitoring.performance_estimates (
    partition_date         date             NOT NULL,
    model_name             text             NOT NULL,
    model_version          text             NOT NULL,
    cohort_attribute       text             NOT NULL,
    cohort_value           text             NOT NULL,
    metric                 text             NOT NULL,
    value                  double precision,
    standard_error         double precision,
    lower                  double precision,
    upper                  double precision,
    expected_denominator   double precision,
    n                      bigint           NOT NULL,
    sufficient             boolean          NOT NULL,
    status                 text             NOT NULL,
    realised               double precision,
    realised_denominator   bigint           NOT NULL,
    label_coverage         double precision,
    estimation_error       double precision,
    within_interval        boolean,
    reference_days         integer          NOT NULL,
    reference_misses       integer          NOT NULL,
    reference_from         date,
    reference_to           date,
    run_id                 text             NOT NULL,
    produced_at            timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.performance_estimates IS
    'Per day and cohort: TPR, FPR, precision, accuracy and positive rate estimated from the scores (calibrated per cohort on the labelled reference window), with 95% intervals, beside the realised figure of the labelled rows; once labels are complete, the estimation error.';
COMMENT ON COLUMN monitoring.performance_estimates.cohort_attribute IS '''all'', an attribute or an intersection (as in cohort_stats).';
COMMENT ON COLUMN monitoring.performance_estimates.cohort_value IS '''all'', a value or an intersection value (as in cohort_stats).';
COMMENT ON COLUMN monitoring.performance_estimates.model_version IS 'Always ''all'' (every version of the day; one calibration per cohort).';
COMMENT ON COLUMN monitoring.performance_estimates.metric IS 'tpr, fpr, precision, accuracy or positive_rate (the share of actual positives).';
COMMENT ON COLUMN monitoring.performance_estimates.value IS 'The estimate; NULL unless status is estimated.';
COMMENT ON COLUMN monitoring.performance_estimates.standard_error IS 'Standard error of the estimate (label noise given the scores plus the calibration''s own uncertainty, delta method).';
COMMENT ON COLUMN monitoring.performance_estimates.lower IS '95% interval, lower bound (value - 1.96 standard errors, clipped to [0, 1]).';
COMMENT ON COLUMN monitoring.performance_estimates.upper IS '95% interval, upper bound.';
COMMENT ON COLUMN monitoring.performance_estimates.expected_denominator IS 'Expected denominator of the metric: expected positives (tpr), expected negatives (fpr), predicted positives (precision), rows (accuracy, positive_rate).';
COMMENT ON COLUMN monitoring.performance_estimates.n IS 'Predictions of the cohort on the day.';
COMMENT ON COLUMN monitoring.performance_estimates.sufficient IS 'Estimated and expected_denominator >= the model''s min_cohort_size: only sufficient estimates judge SLOs.';
COMMENT ON COLUMN monitoring.performance_estimates.status IS 'estimated; uncalibrated (on the reference window the estimates missed their labels too often: binomial test p < 0.01; no estimate); no_reference (no labelled reference row for the cohort).';
COMMENT ON COLUMN monitoring.performance_estimates.realised IS 'The same metric on the labelled rows of the day (NULL when its denominator is 0).';
COMMENT ON COLUMN monitoring.performance_estimates.realised_denominator IS 'Denominator of realised (labelled actual positives for tpr, and so on).';
COMMENT ON COLUMN monitoring.performance_estimates.label_coverage IS 'Labelled share of the cohort''s predictions of the day.';
COMMENT ON COLUMN monitoring.performance_estimates.estimation_error IS 'realised - value, once label_coverage >= the model''s estimation.min_label_coverage and realised_denominator >= min_cohort_size; else NULL.';
COMMENT ON COLUMN monitoring.performance_estimates.within_interval IS 'Whether realised lies in [lower, upper] (NULL while estimation_error is NULL): the share of TRUE is the estimator''s measured coverage (view estimation_accuracy).';
COMMENT ON COLUMN monitoring.performance_estimates.reference_days IS 'Reference days on which the cohort-metric was judged leave-one-day-out against its labels.';
COMMENT ON COLUMN monitoring.performance_estimates.reference_misses IS 'Of those, days whose labels fell outside the estimate''s interval.';
COMMENT ON COLUMN monitoring.performance_estimates.reference_from IS 'First day of the reference (calibration) window.';
COMMENT ON COLUMN monitoring.performance_estimates.reference_to IS 'Last day of the reference window (a day inside it is calibrated without itself).';

CREATE TABLE IF NOT EXISTS monitoring.estimated_disparities (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    model_version     text             NOT NULL,
    cohort_attribute  text             NOT NULL,
    cohort_value      text             NOT NULL,
    reference_value   text             NOT NULL,
    metric            text             NOT NULL,
    value             double precision,
    lower             double precision,
    upper             double precision,
    sufficient        boolean          NOT NULL,
    realised_value    double precision,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.estimated_disparities IS
    'Per day: each group''s estimated metric minus its attribute''s reference group''s (the reference of fairness_disparities), with a 95% interval; available while labels lag. SLOs read it as source estimated_disparities.';
COMMENT ON COLUMN monitoring.estimated_disparities.cohort_attribute IS '''all'', an attribute or an intersection (as in cohort_stats).';
COMMENT ON COLUMN monitoring.estimated_disparities.cohort_value IS '''all'', a value or an intersection value (as in cohort_stats).';
COMMENT ON COLUMN monitoring.estimated_disparities.model_version IS 'Model version, or ''all'' for the sum over versions.';
COMMENT ON COLUMN monitoring.estimated_disparities.reference_value IS 'The attribute''s reference group.';
COMMENT ON COLUMN monitoring.estimated_disparities.metric IS 'tpr_difference, fpr_difference, precision_difference or accuracy_difference (group minus reference).';
COMMENT ON COLUMN monitoring.estimated_disparities.value IS 'Estimated difference; NULL when either estimate is missing.';
COMMENT ON COLUMN monitoring.estimated_disparities.lower IS '95% interval, lower bound (the two standard errors combined).';
COMMENT ON COLUMN monitoring.estimated_disparities.upper IS '95% interval, upper bound.';
COMMENT ON COLUMN monitoring.estimated_disparities.sufficient IS 'Both estimates sufficient.';
COMMENT ON COLUMN monitoring.estimated_disparities.realised_value IS 'The same difference of the realised figures (labelled rows so far).';

-- How far estimates can be trusted: per model and metric, over every day whose labels
-- have arrived, the share of cells whose realised figure fell inside the interval.
CREATE OR REPLACE VIEW monitoring.estimation_accuracy AS
SELECT model_name,
       metric,
       count(*)                                              AS judged_cells,
       avg(within_interval::int)                             AS coverage,
       avg(abs(estimation_error))                            AS mean_absolute_error,
       min(partition_date)                                   AS first_day,
       max(partition_date)                                   AS last_day
FROM monitoring.performance_estimates
WHERE within_interval IS NOT NULL
GROUP BY model_name, metric;
COMMENT ON VIEW monitoring.estimation_accuracy IS
    'Per model and metric: cells whose estimate could be checked against complete labels, the share inside the 95% interval (nominal 0.95) and the mean absolute error.';
COMMENT ON COLUMN monitoring.estimation_accuracy.metric IS 'The estimated metric (tpr, fpr, precision, accuracy, positive_rate).';
COMMENT ON COLUMN monitoring.estimation_accuracy.judged_cells IS 'Cells (day, cohort) whose labels were complete enough to check the estimate.';
COMMENT ON COLUMN monitoring.estimation_accuracy.coverage IS 'Share of those whose realised figure lay inside the 95% interval.';
COMMENT ON COLUMN monitoring.estimation_accuracy.mean_absolute_error IS 'Mean |realised - estimated| over those cells.';
COMMENT ON COLUMN monitoring.estimation_accuracy.first_day IS 'First day with a checked cell.';
COMMENT ON COLUMN monitoring.estimation_accuracy.last_day IS 'Last day with a checked cell.';
GRANT SELECT ON monitoring.estimation_accuracy TO monitoring_reader;
