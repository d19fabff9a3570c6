-- Intervals for every published estimate (issue 13, item 9): ECE and Brier in cohort_metrics,
-- PSI and Jensen-Shannon in drift now carry lower/upper like the rates do.
--
-- cohort_stats.brier_sq_sum: the additive sum the Brier interval needs (the variance of the
--   per-row squared errors). Rows written before this migration keep NULL: their Brier
--   score, and that of any window summed over them, has no interval (never a partial sum).
-- ECE, PSI and JS need nothing new: their intervals come from the stored score bins and
-- histograms. Only the documentation of the columns changes.

ALTER TABLE monitoring.cohort_stats ADD COLUMN IF NOT EXISTS brier_sq_sum double precision;
COMMENT ON COLUMN monitoring.cohort_stats.brier_sq_sum IS 'Sum of (score - label)^4 over labelled predictions: with brier_sum, the variance of the squared errors, for the Brier score''s interval. NULL on rows written before migration 026.';

COMMENT ON TABLE monitoring.cohort_metrics IS
    'Performance, selection and calibration per day, model version and cohort, long format, every estimate with a 95% interval. Metrics: selection_rate = decisions 1 / n; tpr = tp/(tp+fn); fpr = fp/(fp+tn); fnr = fn/(tp+fn); precision = tp/(tp+fp); accuracy = (tp+tn)/n_labelled; prevalence = actual positives / n_labelled (rates: Wilson score interval); ece = sum over 10 score bins of bin share x |mean score - mean label| (interval by test inversion along the observed bin gaps; it covers the population ECE on those bins, while the estimate itself is biased upwards at small n); brier = mean (score - label)^2 (normal interval from brier_sum and brier_sq_sum); calibration_in_the_large = mean(score - label), normal interval.';
COMMENT ON COLUMN monitoring.cohort_metrics.lower IS 'Lower bound of the 95% interval: Wilson score for rates, test inversion for ece, normal for brier and calibration_in_the_large. NULL when undefined (too few rows; brier of statistics written before migration 026).';
COMMENT ON COLUMN monitoring.cohort_metrics.upper IS 'Upper bound of the 95% interval (see lower).';

COMMENT ON COLUMN monitoring.drift.lower IS 'Lower bound of the 95% interval of the statistic: Newcombe for null_rate_change; for psi and js the noncentral chi-square inversion (psi / (1/n_current + 1/n_reference) and 8 js^2 / (1/n_current + 1/n_reference) read as chi-square with value bins - 1 degrees of freedom); NULL for ks and chi2 (decided on p-values) and when undefined. drifted is still decided on the statistic for psi and js.';
COMMENT ON COLUMN monitoring.drift.upper IS 'Upper bound of that interval (see lower); [0, 0] for psi and js when the two histograms agree more closely than chance would make them without drift.';
