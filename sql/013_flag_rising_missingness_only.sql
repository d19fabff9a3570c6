-- null_rate_change flags a rise in missingness only (lower bound of the interval above the
-- threshold); a fall is stored but not flagged. Rows written before keep their verdict and
-- their direction abs_higher_is_drift (the CHECK constraint still allows it).
COMMENT ON COLUMN monitoring.drift.direction IS 'higher_is_drift (psi, js: statistic >= threshold; null_rate_change: the lower bound of its interval > threshold, missingness rose), lower_is_drift (ks, chi2: adjusted p-value < threshold); abs_higher_is_drift only on null_rate_change rows written before migration 013, which also flagged an interval wholly below -threshold.';
