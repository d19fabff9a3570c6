-- Issue 15 (stable, sound conventions; change-from-baseline figures).
-- 1. Sufficiency is judged per metric on its own denominator (comments only: the
--    columns keep their names and types; rows written before this migration carry the
--    old per-cohort flag until their day is re-run).

COMMENT ON COLUMN monitoring.cohort_metrics.sufficient IS
    'The metric''s own denominator >= the model''s minimum cohort size: predictions for selection_rate; actual positives for tpr and fnr; actual negatives for fpr; labelled predicted positives for precision; labelled predictions for accuracy, prevalence, ece, brier and calibration_in_the_large. Only sufficient figures may drive SLOs and alerts.';
COMMENT ON COLUMN monitoring.fairness_disparities.sufficient IS
    'Both groups reach the minimum cohort size in the denominators the metric compares: predictions (demographic_parity_difference, disparate_impact_ratio), actual positives (tpr_difference), actual negatives (fpr_difference), both (equalized_odds_difference), labelled predictions (calibration_gap).';

-- 2. Reference groups are fixed over the baseline window (or configured, intersections
--    included) rather than chosen as the largest group of each day.
COMMENT ON COLUMN monitoring.fairness_disparities.reference_value IS
    'The reference group of the attribute: configured (reference_groups, intersections included), else the group with the most predictions over the baseline fitting window (the same every day; a day run before any baseline day falls back to its own largest group).';

-- 3. Each group against everyone else of its attribute (the pooled complement). A table
--    of its own rather than rows of fairness_disparities: readers of that table (SLOs,
--    worst_cohorts, alerts, the report) keep meaning "against the reference group".
CREATE TABLE IF NOT EXISTS monitoring.fairness_disparities_vs_rest (
    partition_date       date             NOT NULL,
    model_name           text             NOT NULL,
    model_version        text             NOT NULL,
    cohort_attribute     text             NOT NULL,
    cohort_value         text             NOT NULL,
    metric               text             NOT NULL,
    value                double precision,
    lower                double precision,
    upper                double precision,
    sufficient           boolean          NOT NULL,
    passes_four_fifths   boolean,
    is_worst             boolean          NOT NULL,
    rest_n               bigint           NOT NULL,
    run_id               text             NOT NULL,
    produced_at          timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.fairness_disparities_vs_rest IS
    'Each cohort group against everyone else of its attribute (the sum of all its other groups, __missing__ included), with the metrics and intervals of fairness_disparities: demographic_parity_difference, disparate_impact_ratio, tpr_difference, fpr_difference, equalized_odds_difference, calibration_gap. Unlike a reference gap it moves when the largest group itself changes. Every group has rows, the largest included.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.model_version IS 'Model version, or ''all''.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.cohort_attribute IS 'Attribute or intersection compared.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.cohort_value IS 'The group compared with the rest of its attribute.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.metric IS 'Disparity metric (see the table comment).';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.value IS 'Group minus rest (ratio group over rest for disparate_impact_ratio); NULL when undefined (e.g. a group alone in its attribute).';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.lower IS 'Lower bound of the 95% interval: Newcombe hybrid score for differences, Katz log for the ratio, plug-in for equalized odds, Welch normal for calibration.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.upper IS 'Upper bound of the 95% interval.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.sufficient IS 'The group and the rest both reach the minimum cohort size in the denominators the metric compares (as in fairness_disparities.sufficient).';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.passes_four_fifths IS 'disparate_impact_ratio rows: ratio >= 0.8 against the rest; NULL on other metrics or when undefined.';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.is_worst IS 'The worst sufficient group of the attribute for this metric (largest absolute difference, smallest ratio).';
COMMENT ON COLUMN monitoring.fairness_disparities_vs_rest.rest_n IS 'Predictions of the rest (every other group of the attribute).';

-- 4. Each cohort's own figures on the day against the same cohort over its baseline
--    window (cohort_stats of the window summed: additive, never raw rows).
CREATE TABLE IF NOT EXISTS monitoring.cohort_changes (
    partition_date        date             NOT NULL,
    model_name            text             NOT NULL,
    model_version         text             NOT NULL,
    cohort_attribute      text             NOT NULL,
    cohort_value          text             NOT NULL,
    metric                text             NOT NULL,
    value                 double precision,
    baseline_value        double precision,
    difference            double precision,
    lower                 double precision,
    upper                 double precision,
    denominator           bigint           NOT NULL,
    baseline_denominator  bigint           NOT NULL,
    sufficient            boolean          NOT NULL,
    baseline_from         date             NOT NULL,
    baseline_to           date             NOT NULL,
    baseline_days         integer          NOT NULL,
    run_id                text             NOT NULL,
    produced_at           timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.cohort_changes IS
    'Change from baseline: each cohort''s selection_rate, tpr, fpr, precision and calibration_in_the_large on the day against the same cohort (and model version) over the day''s drift baseline window (the preceding_days days before it, or the fixed start..end), from the summed cohort_stats of that window. No rows for days without a baseline window (inside the fitting window) or without statistics in it. Written by the cohort_metrics step; a late-label re-run of a baseline day reaches a day''s changes when that day is re-run.';
COMMENT ON COLUMN monitoring.cohort_changes.model_version IS 'Model version, or ''all''; compared with the same version over the window.';
COMMENT ON COLUMN monitoring.cohort_changes.cohort_attribute IS '''all'', an attribute or an intersection (''sex&age_band'').';
COMMENT ON COLUMN monitoring.cohort_changes.cohort_value IS '''all'', a value or an intersection value.';
COMMENT ON COLUMN monitoring.cohort_changes.metric IS 'selection_rate, tpr, fpr, precision or calibration_in_the_large (defined as in cohort_metrics).';
COMMENT ON COLUMN monitoring.cohort_changes.value IS 'The metric on the day; NULL when undefined.';
COMMENT ON COLUMN monitoring.cohort_changes.baseline_value IS 'The metric over the baseline window; NULL when undefined or the cohort is absent from it.';
COMMENT ON COLUMN monitoring.cohort_changes.difference IS 'value - baseline_value; NULL when either is undefined.';
COMMENT ON COLUMN monitoring.cohort_changes.lower IS 'Lower bound of the 95% interval of the difference: Newcombe hybrid score for rates, Welch normal for calibration_in_the_large.';
COMMENT ON COLUMN monitoring.cohort_changes.upper IS 'Upper bound of the 95% interval of the difference.';
COMMENT ON COLUMN monitoring.cohort_changes.denominator IS 'The metric''s denominator on the day (predictions, actual positives, actual negatives, labelled predicted positives, labelled predictions).';
COMMENT ON COLUMN monitoring.cohort_changes.baseline_denominator IS 'The same denominator over the baseline window (0 when the cohort is absent from it).';
COMMENT ON COLUMN monitoring.cohort_changes.sufficient IS 'Both denominators reach the model''s minimum cohort size.';
COMMENT ON COLUMN monitoring.cohort_changes.baseline_from IS 'First day of the baseline window.';
COMMENT ON COLUMN monitoring.cohort_changes.baseline_to IS 'Last day of the baseline window.';
COMMENT ON COLUMN monitoring.cohort_changes.baseline_days IS 'Days of the window that have statistics (fewer than the window when days are missing).';

-- 5. Discrete numeric features (at most 20 distinct values in the fitting rows) are
--    binned one bin per value and tested by chi-square on the value counts, not by KS.
--    Bins stored before this migration have discrete NULL and are refitted once.
ALTER TABLE monitoring.feature_bins ADD COLUMN IF NOT EXISTS discrete boolean;
COMMENT ON COLUMN monitoring.feature_bins.discrete IS
    'Numeric: true when the fitting rows hold at most 20 distinct finite values; the edges are then those values (one bin per value, a value never seen counts in the bin of the nearest smaller one) and the drift test is chi2 on the value counts instead of ks. false for other numeric and for categorical features; NULL for bins fitted before migration 020 (refitted on the next drift run).';
COMMENT ON COLUMN monitoring.feature_bins.n_bins IS
    'Value bins actually in use (numeric: edges + 1, fewer than requested when the baseline has ties, distinct values + 1 for a discrete feature; categorical: categories + 1 for __other__). The null bin is not counted.';
COMMENT ON TABLE monitoring.drift IS
    'Each watched feature (and the score) of a day against the baseline, overall and per cohort. Numeric: psi, ks, js, null_rate_change, with chi2 in place of ks for a discrete numeric feature (at most 20 distinct values in the fitting rows: feature_bins.discrete); categorical: psi, js, chi2, null_rate_change. Baseline: a fixed start..end, or the preceding_days days before the day, summed from feature_histograms; days inside the bins'' fitting window (or before bins exist) have status no_baseline and no figures. psi = sum((q - p) ln(q / p)) over value bins, a proportion of 0 replaced by 1e-4 and both sides renormalised; js = Jensen-Shannon distance, natural log, in [0, sqrt(ln 2)]; ks = two-sample Kolmogorov-Smirnov on the ordered bins (CDFs at bin edges, asymptotic p-value); chi2 = Pearson chi-square of homogeneity on the bin (category or value) counts, no Yates correction; null_rate_change = current minus baseline null share with a 95% Newcombe interval. p-values are adjusted with Benjamini-Hochberg across all sufficient ks and chi2 tests of the model and day (features x cohorts).';
COMMENT ON COLUMN monitoring.drift.method IS 'psi, ks, js (Jensen-Shannon distance), chi2 (categorical features, and discrete numeric ones in place of ks) or null_rate_change (see the table comment).';
