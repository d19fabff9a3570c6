-- Per-cohort performance and fairness. cohort_stats holds additive sufficient statistics,
-- so windows of days merge by addition without rereading labeled_predictions.
-- Cohorts: cohort_attribute 'all' (value 'all'), each attribute (e.g. 'sex' / 'female') and
-- each configured intersection ('sex&age_band' / 'female&18-25'). model_version 'all' sums
-- every version of the day.

CREATE TABLE IF NOT EXISTS monitoring.cohort_stats (
    partition_date     date             NOT NULL,
    model_name         text             NOT NULL,
    model_version      text             NOT NULL,
    cohort_attribute   text             NOT NULL,
    cohort_value       text             NOT NULL,
    n                  bigint           NOT NULL,
    n_labelled         bigint           NOT NULL,
    label_pos          bigint           NOT NULL,
    pred_pos           bigint           NOT NULL,
    pred_pos_labelled  bigint           NOT NULL,
    tp                 bigint           NOT NULL,
    fp                 bigint           NOT NULL,
    tn                 bigint           NOT NULL,
    fn                 bigint           NOT NULL,
    brier_sum          double precision NOT NULL,
    bin_n              bigint[]         NOT NULL,
    bin_score_sum      double precision[] NOT NULL,
    bin_label_sum      bigint[]         NOT NULL,
    run_id             text             NOT NULL,
    produced_at        timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value)
);
COMMENT ON TABLE monitoring.cohort_stats IS
    'Additive sufficient statistics per day, model version and cohort: sum them over days for a window; every metric in cohort_metrics derives from them.';
COMMENT ON COLUMN monitoring.cohort_stats.model_version IS 'Model version, or ''all'' for the sum over versions.';
COMMENT ON COLUMN monitoring.cohort_stats.cohort_attribute IS '''all'', an attribute (''sex'') or an intersection (''sex&age_band'').';
COMMENT ON COLUMN monitoring.cohort_stats.cohort_value IS '''all'', a value (''female'') or an intersection value (''female&18-25'').';
COMMENT ON COLUMN monitoring.cohort_stats.n IS 'Predictions.';
COMMENT ON COLUMN monitoring.cohort_stats.n_labelled IS 'Predictions with a label.';
COMMENT ON COLUMN monitoring.cohort_stats.label_pos IS 'Labelled predictions whose label is positive (actual positives).';
COMMENT ON COLUMN monitoring.cohort_stats.pred_pos IS 'Predictions with decision 1 (labelled or not).';
COMMENT ON COLUMN monitoring.cohort_stats.pred_pos_labelled IS 'Labelled predictions with decision 1.';
COMMENT ON COLUMN monitoring.cohort_stats.tp IS 'True positives: decision 1, label 1.';
COMMENT ON COLUMN monitoring.cohort_stats.fp IS 'False positives: decision 1, label 0.';
COMMENT ON COLUMN monitoring.cohort_stats.tn IS 'True negatives: decision 0, label 0.';
COMMENT ON COLUMN monitoring.cohort_stats.fn IS 'False negatives: decision 0, label 1.';
COMMENT ON COLUMN monitoring.cohort_stats.brier_sum IS 'Sum of (score - label)^2 over labelled predictions.';
COMMENT ON COLUMN monitoring.cohort_stats.bin_n IS 'Labelled predictions per equal-width score bin on [0, 1] (10 bins; a score of 1 is in the last).';
COMMENT ON COLUMN monitoring.cohort_stats.bin_score_sum IS 'Sum of scores per score bin (labelled predictions).';
COMMENT ON COLUMN monitoring.cohort_stats.bin_label_sum IS 'Positive labels per score bin.';

CREATE TABLE IF NOT EXISTS monitoring.cohort_metrics (
    partition_date     date             NOT NULL,
    model_name         text             NOT NULL,
    model_version      text             NOT NULL,
    cohort_attribute   text             NOT NULL,
    cohort_value       text             NOT NULL,
    metric             text             NOT NULL,
    value              double precision,
    lower              double precision,
    upper              double precision,
    denominator        bigint           NOT NULL,
    n                  bigint           NOT NULL,
    n_labelled         bigint           NOT NULL,
    sufficient         boolean          NOT NULL,
    run_id             text             NOT NULL,
    produced_at        timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.cohort_metrics IS
    'Performance, selection and calibration per day, model version and cohort, long format, each rate with a 95% Wilson interval. Metrics: selection_rate = decisions 1 / n; tpr = tp/(tp+fn); fpr = fp/(fp+tn); fnr = fn/(tp+fn); precision = tp/(tp+fp); accuracy = (tp+tn)/n_labelled; prevalence = actual positives / n_labelled; ece = sum over 10 score bins of bin share x |mean score - mean label|; brier = mean (score - label)^2; calibration_in_the_large = mean(score - label), normal interval.';
COMMENT ON COLUMN monitoring.cohort_metrics.model_version IS 'Model version, or ''all''.';
COMMENT ON COLUMN monitoring.cohort_metrics.cohort_attribute IS '''all'', an attribute or an intersection (''sex&age_band'').';
COMMENT ON COLUMN monitoring.cohort_metrics.cohort_value IS '''all'', a value or an intersection value (''female&18-25'').';
COMMENT ON COLUMN monitoring.cohort_metrics.metric IS 'selection_rate, tpr, fpr, fnr, precision, accuracy, prevalence, ece, brier or calibration_in_the_large.';
COMMENT ON COLUMN monitoring.cohort_metrics.value IS 'The estimate; NULL when undefined (zero denominator: a cohort without actual positives has no TPR), never 0 in its place.';
COMMENT ON COLUMN monitoring.cohort_metrics.lower IS 'Lower bound of the 95% interval (Wilson score for rates); NULL for ece and brier, which have none.';
COMMENT ON COLUMN monitoring.cohort_metrics.upper IS 'Upper bound of the 95% interval.';
COMMENT ON COLUMN monitoring.cohort_metrics.denominator IS 'Count the rate is taken over (e.g. actual positives for tpr).';
COMMENT ON COLUMN monitoring.cohort_metrics.n IS 'Predictions in the cohort.';
COMMENT ON COLUMN monitoring.cohort_metrics.n_labelled IS 'Labelled predictions in the cohort.';
COMMENT ON COLUMN monitoring.cohort_metrics.sufficient IS 'n_labelled >= the model''s minimum cohort size: only sufficient figures may drive SLOs and alerts.';

CREATE TABLE IF NOT EXISTS monitoring.fairness_disparities (
    partition_date       date             NOT NULL,
    model_name           text             NOT NULL,
    model_version        text             NOT NULL,
    cohort_attribute     text             NOT NULL,
    cohort_value         text             NOT NULL,
    reference_value      text             NOT NULL,
    metric               text             NOT NULL,
    value                double precision,
    lower                double precision,
    upper                double precision,
    sufficient           boolean          NOT NULL,
    passes_four_fifths   boolean,
    is_worst             boolean          NOT NULL,
    run_id               text             NOT NULL,
    produced_at          timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.fairness_disparities IS
    'Each cohort group against the reference group of its attribute (configured, else the largest group): demographic_parity_difference (selection rate gap), disparate_impact_ratio (selection rate ratio; four-fifths rule), tpr_difference (equal opportunity), fpr_difference, equalized_odds_difference (max of |tpr gap|, |fpr gap|), calibration_gap (difference of mean(score - label)). Differences: Newcombe hybrid score 95% interval; ratio: Katz log interval; equalized odds: plug-in interval from its components; calibration: Welch normal interval.';
COMMENT ON COLUMN monitoring.fairness_disparities.cohort_attribute IS 'Attribute or intersection compared.';
COMMENT ON COLUMN monitoring.fairness_disparities.cohort_value IS 'The group compared with the reference.';
COMMENT ON COLUMN monitoring.fairness_disparities.reference_value IS 'The reference group of the attribute.';
COMMENT ON COLUMN monitoring.fairness_disparities.metric IS 'Disparity metric (see the table comment).';
COMMENT ON COLUMN monitoring.fairness_disparities.value IS 'Group minus reference (ratio for disparate_impact_ratio); NULL when undefined.';
COMMENT ON COLUMN monitoring.fairness_disparities.lower IS 'Lower bound of the 95% interval.';
COMMENT ON COLUMN monitoring.fairness_disparities.upper IS 'Upper bound of the 95% interval.';
COMMENT ON COLUMN monitoring.fairness_disparities.sufficient IS 'Both groups have at least the minimum cohort size of labelled predictions.';
COMMENT ON COLUMN monitoring.fairness_disparities.passes_four_fifths IS 'disparate_impact_ratio rows: ratio >= 0.8 against the reference; NULL on other metrics or when undefined.';
COMMENT ON COLUMN monitoring.fairness_disparities.is_worst IS 'The worst sufficient group of the attribute for this metric (largest absolute difference, smallest ratio).';
COMMENT ON COLUMN monitoring.fairness_disparities.model_version IS 'Model version, or ''all''.';
