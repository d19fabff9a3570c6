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
