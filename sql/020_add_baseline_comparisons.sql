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
