-- Multiple testing (issue 13 item 8): the PSI and Jensen-Shannon flags join the drift's
-- Benjamini-Hochberg family, and every fairness gap gets a p-value adjusted in one family per
-- model and day (both fairness tables together). See README, "Multiple testing".

-- 1. Drift: psi and js rows carry the p-value of Pearson's test of their bins and are
--    decided on both their value and that p-value adjusted.
ALTER TABLE monitoring.drift DROP CONSTRAINT IF EXISTS drift_decided_on_check;
ALTER TABLE monitoring.drift ADD CONSTRAINT drift_decided_on_check CHECK (decided_on IN (
    'statistic', 'p_value_adjusted', 'interval', 'statistic_and_p_value_adjusted'));

COMMENT ON COLUMN monitoring.drift.p_value IS
    'Raw p-value: ks, chi2, and psi and js (Pearson''s chi-square test of the same bins, the evidence that the distributions differ at all); NULL for null_rate_change.';
COMMENT ON COLUMN monitoring.drift.p_value_adjusted IS
    'Benjamini-Hochberg adjusted p-value within the family of the model and day: every sufficient ks, chi2, psi and js row (psi, js and chi2 of one histogram are one hypothesis, Pearson''s test of its bins). NULL outside the family.';
COMMENT ON COLUMN monitoring.drift.decided_on IS
    'What decides drifted: statistic, p_value_adjusted (< threshold), interval (lower > threshold) or statistic_and_p_value_adjusted (psi, js: statistic >= threshold and p_value_adjusted < 0.05, the family''s false discovery rate).';
COMMENT ON COLUMN monitoring.drift_protected.p_value IS
    'Raw p-value: ks, chi2, and psi and js (Pearson''s chi-square test of the same bins); NULL for null_rate_change. NULL when suppressed.';
COMMENT ON COLUMN monitoring.drift_protected.p_value_adjusted IS
    'Benjamini-Hochberg adjusted p-value within the family of the model and day (every sufficient ks, chi2, psi and js row). NULL when suppressed.';
COMMENT ON COLUMN monitoring.drift_protected.decided_on IS
    'What decides drifted: statistic, p_value_adjusted, interval or statistic_and_p_value_adjusted (psi, js: statistic >= threshold and p_value_adjusted < 0.05).';


-- 2. Fairness gaps: a test of each gap, adjusted across the model's day.
ALTER TABLE monitoring.fairness_disparities
    ADD COLUMN IF NOT EXISTS p_value double precision,
    ADD COLUMN IF NOT EXISTS p_value_adjusted double precision,
    ADD COLUMN IF NOT EXISTS significant boolean;
ALTER TABLE monitoring.fairness_disparities_vs_rest
    ADD COLUMN IF NOT EXISTS p_value double precision,
    ADD COLUMN IF NOT EXISTS p_value_adjusted double precision,
    ADD COLUMN IF NOT EXISTS significant boolean;

DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY['fairness_disparities', 'fairness_disparities_vs_rest'] LOOP
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.p_value IS %L', table_name,
            'Two-sided p-value that the gap is zero: pooled two-proportion z-test (Pearson chi-square of the 2 x 2 table) for the selection, TPR and FPR gaps and the disparate impact ratio; Bonferroni over TPR and FPR for equalized odds; Welch z for the calibration gap. NULL when untestable (an empty side, no variation in the calibration residuals). Rows written before migration 030 have NULL.');
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.p_value_adjusted IS %L', table_name,
            'Benjamini-Hochberg adjusted p-value in the family of the model and day: every sufficient gap of every group, metric and model version, in fairness_disparities and fairness_disparities_vs_rest together; a disparate impact ratio shares its selection gap''s hypothesis, equalized odds takes the smaller of its TPR and FPR gaps''. NULL when not sufficient or untestable.');
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.significant IS %L', table_name,
            'p_value_adjusted < 0.05 (the family''s false discovery rate): the gap is not zero. NULL when not sufficient or untestable.');
    END LOOP;
END $$;


-- 3. The analysts' views show the tests, withheld like the figures they test.
CREATE OR REPLACE VIEW monitoring.fairness_disparities_protected AS
WITH sized AS (
    SELECT d.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           CASE WHEN g.n IS NOT NULL AND r.n IS NOT NULL THEN least(
               monitoring.metric_cell_size(d.metric, g.n, g.label_cell),
               monitoring.metric_cell_size(d.metric, r.n, r.label_cell))
           END AS cell_size
    FROM monitoring.fairness_disparities d
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = d.model_name
    LEFT JOIN monitoring.privacy_cohort_cells g
        ON g.partition_date = d.partition_date AND g.model_name = d.model_name
       AND g.model_version = d.model_version AND g.cohort_attribute = d.cohort_attribute
       AND g.cohort_value = d.cohort_value
    LEFT JOIN monitoring.privacy_cohort_cells r
        ON r.partition_date = d.partition_date AND r.model_name = d.model_name
       AND r.model_version = d.model_version AND r.cohort_attribute = d.cohort_attribute
       AND r.cohort_value = d.reference_value
),
judged AS (
    SELECT sized.*, coalesce(cell_size < threshold, true) AS hidden FROM sized
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, reference_value,
       metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       sufficient,
       CASE WHEN NOT hidden THEN passes_four_fifths END AS passes_four_fifths,
       CASE WHEN NOT hidden THEN is_worst END AS is_worst,
       run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size,
       CASE WHEN NOT hidden THEN p_value END AS p_value,
       CASE WHEN NOT hidden THEN p_value_adjusted END AS p_value_adjusted,
       CASE WHEN NOT hidden THEN significant END AS significant
FROM judged;

CREATE OR REPLACE VIEW monitoring.fairness_disparities_vs_rest_protected AS
WITH sized AS (
    SELECT d.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           CASE WHEN g.n IS NOT NULL THEN least(
               monitoring.metric_cell_size(d.metric, g.n, g.label_cell),
               monitoring.metric_cell_size(d.metric, g.rest_n, g.rest_label_cell))
           END AS cell_size
    FROM monitoring.fairness_disparities_vs_rest d
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = d.model_name
    LEFT JOIN monitoring.privacy_cohort_cells g
        ON g.partition_date = d.partition_date AND g.model_name = d.model_name
       AND g.model_version = d.model_version AND g.cohort_attribute = d.cohort_attribute
       AND g.cohort_value = d.cohort_value
),
judged AS (
    SELECT sized.*, coalesce(cell_size < threshold, true) AS hidden FROM sized
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       sufficient,
       CASE WHEN NOT hidden THEN passes_four_fifths END AS passes_four_fifths,
       CASE WHEN NOT hidden THEN is_worst END AS is_worst,
       rest_n, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size,
       CASE WHEN NOT hidden THEN p_value END AS p_value,
       CASE WHEN NOT hidden THEN p_value_adjusted END AS p_value_adjusted,
       CASE WHEN NOT hidden THEN significant END AS significant
FROM judged;

DO $$
DECLARE
    view_name text;
BEGIN
    FOREACH view_name IN ARRAY ARRAY['fairness_disparities_protected',
                                     'fairness_disparities_vs_rest_protected'] LOOP
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.p_value IS %L', view_name,
            'Two-sided p-value that the gap is zero (see the table''s column). NULL when suppressed.');
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.p_value_adjusted IS %L', view_name,
            'Benjamini-Hochberg adjusted p-value in the family of the model and day (see the table''s column). NULL when suppressed.');
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.significant IS %L', view_name,
            'p_value_adjusted < 0.05: the gap is not zero. NULL when not sufficient, untestable or suppressed.');
    END LOOP;
END $$;
