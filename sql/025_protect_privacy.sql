-- Issue 13, item 5 (privacy). What the analysts' role may see:
--
-- * No person's row. labeled_prediction_rows (and its view labeled_predictions) and
--   quarantined_rows hold one row per prediction: its id, cohort attributes, features and,
--   for quarantined rows, the raw source row. monitoring_reader loses SELECT on them; a
--   separate NOLOGIN role, monitoring_raw_reader, has it (an administrator grants that role
--   to the people who repair and replay data: GRANT monitoring_raw_reader TO alice).
-- * No figure of a small cell. Every published table whose figures are computed per cohort
--   is read through a *_protected view instead: a figure whose cell has fewer than the
--   model's min_cell_size people is NULL, with suppressed true. A selection figure's cell
--   is the cohort's predictions; a figure that needs labels rests on the labelled rows, and
--   a cohort's label figures together (prevalence, accuracy, TPR, ...) give away its whole
--   confusion matrix, so their cell is the smallest of its labelled predictions, actual
--   positives and negatives, and labelled predicted positives and negatives. A comparison's
--   cell is the smaller of its two sides'.
--   min_cell_size is the config's privacy.min_cell_size, written to privacy_settings by
--   every run (default 10 for a model without a row). The analyst views of 015 read the
--   protected views, so they suppress the same cells. The unsuppressed tables stay
--   readable by monitoring_raw_reader.
-- * Opt-in from now on. 002 granted the reader SELECT on every table a migration creates
--   (default privileges): a new table of person rows would have been readable the moment it
--   existed. The default now goes to monitoring_raw_reader; the reader gets only what a
--   migration grants it by name.
--
-- Complementary suppression is not attempted: a suppressed cell can sometimes be recovered
-- by subtraction (an attribute's total minus its other groups, an intersection from its
-- parents, the group-vs-rest tables). README "Privacy" says so.

-- 1. Roles and default privileges ----------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitoring_raw_reader') THEN
        CREATE ROLE monitoring_raw_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
    END IF;
END
$$;
-- Everything the reader reads, plus the rows and unsuppressed tables below.
GRANT monitoring_reader TO monitoring_raw_reader;
GRANT USAGE ON SCHEMA monitoring TO monitoring_raw_reader;

ALTER DEFAULT PRIVILEGES IN SCHEMA monitoring REVOKE SELECT ON TABLES FROM monitoring_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA monitoring GRANT SELECT ON TABLES TO monitoring_raw_reader;

REVOKE SELECT ON
    monitoring.labeled_prediction_rows, monitoring.labeled_predictions, monitoring.quarantined_rows,
    monitoring.cohort_stats, monitoring.cohort_metrics, monitoring.cohort_changes,
    monitoring.fairness_disparities, monitoring.fairness_disparities_vs_rest,
    monitoring.feature_histograms, monitoring.drift, monitoring.version_comparison,
    monitoring.slo_evaluations
FROM monitoring_reader;
GRANT SELECT ON
    monitoring.labeled_prediction_rows, monitoring.labeled_predictions, monitoring.quarantined_rows,
    monitoring.cohort_stats, monitoring.cohort_metrics, monitoring.cohort_changes,
    monitoring.fairness_disparities, monitoring.fairness_disparities_vs_rest,
    monitoring.feature_histograms, monitoring.drift, monitoring.version_comparison,
    monitoring.slo_evaluations
TO monitoring_raw_reader;


-- 2. The threshold -------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS monitoring.privacy_settings (
    model_name     text        PRIMARY KEY,
    min_cell_size  integer     NOT NULL CHECK (min_cell_size >= 1),
    run_id         text        NOT NULL,
    produced_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE monitoring.privacy_settings IS
    'The smallest cell whose figures analysts see, per model: the config''s privacy.min_cell_size (the model''s own, else the top-level one), written by every run of the model. The *_protected views and the analyst views NULL the figures of smaller cells; a model without a row gets monitoring.default_min_cell_size().';
COMMENT ON COLUMN monitoring.privacy_settings.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.privacy_settings.min_cell_size IS 'Cells of fewer people than this have their figures suppressed (NULL, suppressed true) in the views the analysts'' role reads.';
COMMENT ON COLUMN monitoring.privacy_settings.run_id IS 'Dagster run that wrote the current value.';
COMMENT ON COLUMN monitoring.privacy_settings.produced_at IS 'When that run wrote it (the value last changed).';

CREATE OR REPLACE FUNCTION monitoring.default_min_cell_size() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 10 $$;
COMMENT ON FUNCTION monitoring.default_min_cell_size() IS
    'min_cell_size of a model without a privacy_settings row (the config default): 10.';

-- The people a figure of a cohort rests on: its predictions for the selection rate and the
-- comparisons of selection rates; for every figure that needs labels, its label cell (see
-- privacy_cohort_cells.label_cell).
CREATE OR REPLACE FUNCTION monitoring.metric_cell_size(metric text, n bigint, label_cell bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN metric IN ('selection_rate', 'demographic_parity_difference', 'disparate_impact_ratio')
        THEN n
        ELSE label_cell
    END
$$;
COMMENT ON FUNCTION monitoring.metric_cell_size(text, bigint, bigint) IS
    'The cell a metric of a cohort rests on: n for selection_rate, demographic_parity_difference and disparate_impact_ratio; the label cell (privacy_cohort_cells.label_cell) for every metric that needs labels.';


-- 3. Cell sizes (internal: read by the views below, not granted to the reader) ------------

CREATE OR REPLACE VIEW monitoring.privacy_cohort_cells AS
SELECT s.partition_date, s.model_name, s.model_version, s.cohort_attribute, s.cohort_value,
       s.n,
       least(s.n_labelled, s.tp + s.fn, s.fp + s.tn, s.tp + s.fp, s.tn + s.fn) AS label_cell,
       (sum(s.n) OVER attribute - s.n)::bigint AS rest_n,
       least(sum(s.n_labelled) OVER attribute - s.n_labelled,
             sum(s.tp + s.fn) OVER attribute - (s.tp + s.fn),
             sum(s.fp + s.tn) OVER attribute - (s.fp + s.tn),
             sum(s.tp + s.fp) OVER attribute - (s.tp + s.fp),
             sum(s.tn + s.fn) OVER attribute - (s.tn + s.fn))::bigint AS rest_label_cell
FROM monitoring.cohort_stats s
WINDOW attribute AS (PARTITION BY s.partition_date, s.model_name, s.model_version, s.cohort_attribute);
COMMENT ON VIEW monitoring.privacy_cohort_cells IS
    'Internal to the privacy views (not granted to monitoring_reader): the cells each cohort''s figures rest on, and those of the rest of its attribute, from cohort_stats.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.model_version IS 'As in cohort_stats.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.cohort_attribute IS 'As in cohort_stats.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.cohort_value IS 'As in cohort_stats.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.n IS 'Predictions of the cohort: the cell of its selection figures.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.label_cell IS 'The cell of the cohort''s figures that need labels: the smallest of its labelled predictions, actual positives (tp + fn), actual negatives (fp + tn), labelled predicted positives (tp + fp) and labelled predicted negatives (tn + fn). Together those figures determine the confusion matrix, so each margin must be large enough.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.rest_n IS 'n of every other group of the attribute together.';
COMMENT ON COLUMN monitoring.privacy_cohort_cells.rest_label_cell IS 'label_cell of every other group of the attribute together.';


-- 4. Protected views: the published per-cohort tables as analysts see them ----------------
-- Same columns as the table (cohort_stats without its score-bin arrays), figures NULL when
-- suppressed, then suppressed and min_cell_size. A cell whose size cannot be told (no
-- cohort_stats row behind a comparison) counts as suppressed.

CREATE OR REPLACE VIEW monitoring.cohort_stats_protected AS
WITH judged AS (
    SELECT s.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           least(s.n, s.n_labelled, s.tp + s.fn, s.fp + s.tn, s.tp + s.fp, s.tn + s.fn)
               < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.cohort_stats s
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = s.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, n, n_labelled,
       CASE WHEN NOT hidden THEN label_pos END AS label_pos,
       CASE WHEN NOT hidden THEN pred_pos END AS pred_pos,
       CASE WHEN NOT hidden THEN pred_pos_labelled END AS pred_pos_labelled,
       CASE WHEN NOT hidden THEN tp END AS tp,
       CASE WHEN NOT hidden THEN fp END AS fp,
       CASE WHEN NOT hidden THEN tn END AS tn,
       CASE WHEN NOT hidden THEN fn END AS fn,
       CASE WHEN NOT hidden THEN brier_sum END AS brier_sum,
       run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

-- A cohort's figures: the cell of the metric in its cohort_stats row (an unknown cell hides).
CREATE OR REPLACE VIEW monitoring.cohort_metrics_protected AS
WITH judged AS (
    SELECT m.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           coalesce(monitoring.metric_cell_size(m.metric, c.n, c.label_cell)
                    < coalesce(p.min_cell_size, monitoring.default_min_cell_size()), true) AS hidden
    FROM monitoring.cohort_metrics m
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = m.model_name
    LEFT JOIN monitoring.privacy_cohort_cells c
        ON c.partition_date = m.partition_date AND c.model_name = m.model_name
       AND c.model_version = m.model_version AND c.cohort_attribute = m.cohort_attribute
       AND c.cohort_value = m.cohort_value
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       CASE WHEN NOT hidden THEN denominator END AS denominator,
       n, n_labelled, sufficient, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

-- The day's side as in cohort_metrics_protected; the baseline window's by its denominator.
CREATE OR REPLACE VIEW monitoring.cohort_changes_protected AS
WITH judged AS (
    SELECT x.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           coalesce(least(monitoring.metric_cell_size(x.metric, c.n, c.label_cell), x.baseline_denominator)
                    < coalesce(p.min_cell_size, monitoring.default_min_cell_size())
                    OR c.n IS NULL, true) AS hidden
    FROM monitoring.cohort_changes x
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = x.model_name
    LEFT JOIN monitoring.privacy_cohort_cells c
        ON c.partition_date = x.partition_date AND c.model_name = x.model_name
       AND c.model_version = x.model_version AND c.cohort_attribute = x.cohort_attribute
       AND c.cohort_value = x.cohort_value
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN baseline_value END AS baseline_value,
       CASE WHEN NOT hidden THEN difference END AS difference,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       CASE WHEN NOT hidden THEN denominator END AS denominator,
       CASE WHEN NOT hidden THEN baseline_denominator END AS baseline_denominator,
       sufficient, baseline_from, baseline_to, baseline_days, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

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
       threshold AS min_cell_size
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
       threshold AS min_cell_size
FROM judged;

CREATE OR REPLACE VIEW monitoring.drift_protected AS
WITH judged AS (
    -- drift has a threshold of its own: the privacy one is privacy_threshold here.
    -- least() skips NULL: a test without a baseline side rests on the day's observations;
    -- a test without either count (the day not binned yet) has no figure to withhold.
    SELECT d.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS privacy_threshold,
           coalesce(least(d.n_current, d.n_reference)
                    < coalesce(p.min_cell_size, monitoring.default_min_cell_size()),
                    d.statistic IS NOT NULL OR d.drifted IS NOT NULL) AS hidden
    FROM monitoring.drift d
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = d.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, feature,
       feature_kind, method,
       CASE WHEN NOT hidden THEN statistic END AS statistic,
       CASE WHEN NOT hidden THEN p_value END AS p_value,
       CASE WHEN NOT hidden THEN p_value_adjusted END AS p_value_adjusted,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       threshold, direction, decided_on,
       CASE WHEN NOT hidden THEN drifted END AS drifted,
       sufficient, n_reference, n_current, baseline_from, baseline_to, baseline_days, status,
       run_id, produced_at,
       hidden AS suppressed,
       privacy_threshold AS min_cell_size
FROM judged;

CREATE OR REPLACE VIEW monitoring.feature_histograms_protected AS
WITH judged AS (
    SELECT h.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           sum(h.count) OVER (
               PARTITION BY h.partition_date, h.model_name, h.model_version, h.cohort_attribute,
                            h.cohort_value, h.feature
           ) < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.feature_histograms h
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = h.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, feature,
       feature_kind, bin, bin_lower, bin_upper,
       CASE WHEN NOT hidden THEN count END AS count,
       bins_checksum, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

-- Each version's side as in cohort_metrics_protected (its own cohort_stats row); without
-- those rows, the stored denominators.
CREATE OR REPLACE VIEW monitoring.version_comparison_protected AS
WITH judged AS (
    SELECT v.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           least(v.candidate_denominator, v.incumbent_denominator,
                 monitoring.metric_cell_size(v.metric, c.n, c.label_cell),
                 monitoring.metric_cell_size(v.metric, i.n, i.label_cell))
               < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.version_comparison v
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = v.model_name
    LEFT JOIN monitoring.privacy_cohort_cells c
        ON c.partition_date = v.partition_date AND c.model_name = v.model_name
       AND c.model_version = v.candidate_version AND c.cohort_attribute = v.cohort_attribute
       AND c.cohort_value = v.cohort_value
    LEFT JOIN monitoring.privacy_cohort_cells i
        ON i.partition_date = v.partition_date AND i.model_name = v.model_name
       AND i.model_version = v.incumbent_version AND i.cohort_attribute = v.cohort_attribute
       AND i.cohort_value = v.cohort_value
)
SELECT partition_date, model_name, candidate_version, incumbent_version, cohort_attribute,
       cohort_value, metric,
       CASE WHEN NOT hidden THEN candidate_value END AS candidate_value,
       CASE WHEN NOT hidden THEN incumbent_value END AS incumbent_value,
       CASE WHEN NOT hidden THEN difference END AS difference,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       CASE WHEN NOT hidden THEN candidate_denominator END AS candidate_denominator,
       CASE WHEN NOT hidden THEN incumbent_denominator END AS incumbent_denominator,
       candidate_n_labelled, incumbent_n_labelled, sufficient,
       CASE WHEN NOT hidden THEN verdict END AS verdict,
       run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

-- An SLO reading is the figure of one subject (sli_subject names it as the pipeline does:
-- "all", "region=west", "region=west vs north", "income @ region=west"): its cell is that
-- figure's cell in its source table (model version all).
CREATE OR REPLACE VIEW monitoring.privacy_slo_cells AS
SELECT e.partition_date, e.model_name, e.slo_name,
       CASE e.sli_source
           WHEN 'cohort_metrics' THEN (
               SELECT min(monitoring.metric_cell_size(e.sli_metric, c.n, c.label_cell))
               FROM monitoring.privacy_cohort_cells c
               WHERE c.partition_date = e.partition_date AND c.model_name = e.model_name
                 AND c.model_version = 'all'
                 AND CASE WHEN c.cohort_attribute = 'all' THEN 'all'
                          ELSE c.cohort_attribute || '=' || c.cohort_value END = e.sli_subject)
           WHEN 'cohort_changes' THEN (
               SELECT min(CASE WHEN c.n IS NOT NULL THEN least(
                   monitoring.metric_cell_size(x.metric, c.n, c.label_cell), x.baseline_denominator) END)
               FROM monitoring.cohort_changes x
               LEFT JOIN monitoring.privacy_cohort_cells c
                   ON c.partition_date = x.partition_date AND c.model_name = x.model_name
                  AND c.model_version = x.model_version AND c.cohort_attribute = x.cohort_attribute
                  AND c.cohort_value = x.cohort_value
               WHERE x.partition_date = e.partition_date AND x.model_name = e.model_name
                 AND x.model_version = 'all' AND x.metric = e.sli_metric
                 AND CASE WHEN x.cohort_attribute = 'all' THEN 'all'
                          ELSE x.cohort_attribute || '=' || x.cohort_value END = e.sli_subject)
           WHEN 'fairness_disparities' THEN (
               SELECT min(f.cell_size)
               FROM (SELECT d.partition_date, d.model_name, d.model_version, d.metric,
                            d.cohort_attribute || '=' || d.cohort_value || ' vs ' || d.reference_value
                                AS subject,
                            CASE WHEN g.n IS NOT NULL AND r.n IS NOT NULL THEN least(
                                monitoring.metric_cell_size(d.metric, g.n, g.label_cell),
                                monitoring.metric_cell_size(d.metric, r.n, r.label_cell))
                            END AS cell_size
                     FROM monitoring.fairness_disparities d
                     LEFT JOIN monitoring.privacy_cohort_cells g
                         ON g.partition_date = d.partition_date AND g.model_name = d.model_name
                        AND g.model_version = d.model_version AND g.cohort_attribute = d.cohort_attribute
                        AND g.cohort_value = d.cohort_value
                     LEFT JOIN monitoring.privacy_cohort_cells r
                         ON r.partition_date = d.partition_date AND r.model_name = d.model_name
                        AND r.model_version = d.model_version AND r.cohort_attribute = d.cohort_attribute
                        AND r.cohort_value = d.reference_value) f
               WHERE f.partition_date = e.partition_date AND f.model_name = e.model_name
                 AND f.model_version = 'all' AND f.metric = e.sli_metric AND f.subject = e.sli_subject)
           WHEN 'drift' THEN (
               SELECT min(least(x.n_current, x.n_reference))
               FROM monitoring.drift x
               WHERE x.partition_date = e.partition_date AND x.model_name = e.model_name
                 AND x.model_version = 'all' AND x.method = e.sli_metric
                 AND x.feature || ' @ ' || CASE WHEN x.cohort_attribute = 'all' THEN 'all'
                          ELSE x.cohort_attribute || '=' || x.cohort_value END = e.sli_subject)
       END AS cell_size
FROM monitoring.slo_evaluations e;
COMMENT ON VIEW monitoring.privacy_slo_cells IS
    'Internal to the privacy views (not granted to monitoring_reader): per slo_evaluations row, the cell size of the figure its sli_subject names, in the SLI''s source table; NULL when it cannot be told (a source without cell sizes, a subject no longer stored).';
COMMENT ON COLUMN monitoring.privacy_slo_cells.slo_name IS 'SLO name from the config.';
COMMENT ON COLUMN monitoring.privacy_slo_cells.cell_size IS 'The cell the reading rests on, as the protected view of its source table judges it: the cohort''s cell for the metric (cohort_metrics), that and the baseline''s (cohort_changes), the smaller of group and reference (fairness_disparities), of current and baseline observations (drift).';

CREATE OR REPLACE VIEW monitoring.slo_evaluations_protected AS
WITH judged AS (
    SELECT e.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           -- A reading without a figure withholds nothing; one whose cell is unknown is hidden.
           coalesce(c.cell_size < coalesce(p.min_cell_size, monitoring.default_min_cell_size()),
                    e.value IS NOT NULL) AS hidden
    FROM monitoring.slo_evaluations e
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = e.model_name
    LEFT JOIN monitoring.privacy_slo_cells c
        ON c.partition_date = e.partition_date AND c.model_name = e.model_name
       AND c.slo_name = e.slo_name
)
SELECT partition_date, model_name, slo_name, sli_source, sli_metric, sli_subject,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       objective_op, objective_value, sufficient, status, reason, run_id, produced_at,
       bad_members, unknown_members, members, interval_confidence,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;

-- Documentation: each protected view's columns say what the table's say; those it may
-- suppress say so. Then the two columns of its own.
DO $$
DECLARE
    pair record;
    col record;
    base_comment text;
BEGIN
    FOR pair IN
        SELECT * FROM (VALUES
            ('cohort_stats_protected', 'cohort_stats',
             ARRAY['label_pos', 'pred_pos', 'pred_pos_labelled', 'tp', 'fp', 'tn', 'fn', 'brier_sum'],
             'the smallest of n, n_labelled, actual positives (tp + fn), actual negatives (fp + tn), labelled predicted positives (tp + fp) and labelled predicted negatives (tn + fn). A window summed over suppressed rows is incomplete: filter on suppressed or count them.'),
            ('cohort_metrics_protected', 'cohort_metrics',
             ARRAY['value', 'lower', 'upper', 'denominator'],
             'the cohort''s predictions (n) for selection_rate; for every metric that needs labels, the smallest of its labelled predictions, actual positives and negatives, and labelled predicted positives and negatives (together those figures give away the confusion matrix), from cohort_stats.'),
            ('cohort_changes_protected', 'cohort_changes',
             ARRAY['value', 'baseline_value', 'difference', 'lower', 'upper', 'denominator', 'baseline_denominator'],
             'the smaller of the day''s cell (as in cohort_metrics_protected) and baseline_denominator (the baseline window).'),
            ('fairness_disparities_protected', 'fairness_disparities',
             ARRAY['value', 'lower', 'upper', 'passes_four_fifths', 'is_worst'],
             'the smaller of the two groups'' cells for the metric compared, as in cohort_metrics_protected: predictions for demographic_parity_difference and disparate_impact_ratio, the label cell for the others.'),
            ('fairness_disparities_vs_rest_protected', 'fairness_disparities_vs_rest',
             ARRAY['value', 'lower', 'upper', 'passes_four_fifths', 'is_worst'],
             'the smaller of the group''s and the rest''s cells for the metric compared (predictions, or the label cell, as in cohort_metrics_protected).'),
            ('drift_protected', 'drift',
             ARRAY['statistic', 'p_value', 'p_value_adjusted', 'lower', 'upper', 'drifted'],
             'the smaller of n_current and n_reference (n_current alone without a baseline; a test with neither has no figure and is not suppressed).'),
            ('feature_histograms_protected', 'feature_histograms',
             ARRAY['count'],
             'the day''s count of the cohort and feature over all its bins (the null bin included).'),
            ('version_comparison_protected', 'version_comparison',
             ARRAY['candidate_value', 'incumbent_value', 'difference', 'lower', 'upper',
                   'candidate_denominator', 'incumbent_denominator', 'verdict'],
             'the smallest of the two versions'' cells for the metric (as in cohort_metrics_protected, from their own cohort_stats rows) and their stored denominators.'),
            ('slo_evaluations_protected', 'slo_evaluations',
             ARRAY['value', 'lower', 'upper'],
             'the cell of the figure sli_subject names in the SLI''s source table (see those views); a reading whose cell cannot be told is suppressed when it has a figure.')
        ) AS t(view_name, table_name, hidden_columns, cell)
    LOOP
        EXECUTE format(
            'COMMENT ON VIEW monitoring.%I IS %L', pair.view_name,
            format('monitoring.%s as the analysts'' role reads it: every row, with the figures of cells smaller than the model''s min_cell_size (privacy_settings) NULL and suppressed true. The cell of a row is %s The table itself is readable by monitoring_raw_reader only.',
                   pair.table_name, pair.cell));
        FOR col IN
            SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = format('monitoring.%I', pair.view_name)::regclass
              AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attname NOT IN ('suppressed', 'min_cell_size')
        LOOP
            SELECT col_description(b.attrelid, b.attnum) INTO base_comment
            FROM pg_attribute b
            WHERE b.attrelid = format('monitoring.%I', pair.table_name)::regclass
              AND b.attname = col.attname;
            base_comment := coalesce(base_comment, format('As in monitoring.%s.', pair.table_name));
            IF col.attname = ANY (pair.hidden_columns) THEN
                base_comment := base_comment || ' NULL when suppressed.';
            END IF;
            EXECUTE format('COMMENT ON COLUMN monitoring.%I.%I IS %L',
                           pair.view_name, col.attname, base_comment);
        END LOOP;
        EXECUTE format(
            'COMMENT ON COLUMN monitoring.%I.suppressed IS %L', pair.view_name,
            'True when the row''s cell has fewer people than min_cell_size (or its size cannot be told): its figures are NULL. The cell is ' || pair.cell);
        EXECUTE format(
            'COMMENT ON COLUMN monitoring.%I.min_cell_size IS %L', pair.view_name,
            'The threshold applied: privacy_settings.min_cell_size of the model, else monitoring.default_min_cell_size().');
    END LOOP;
END
$$;


-- 5. The analyst views (015) read the protected views ---------------------------------------
-- Same definitions as 015 over the protected views, so every figure they show passes the
-- privacy threshold too; the columns suppressed and min_cell_size are added at the end.

CREATE OR REPLACE VIEW monitoring.slo_status AS
WITH current_budget AS (
    SELECT DISTINCT ON (b.model_name, b.slo_name) b.*
    FROM monitoring.error_budgets b
    ORDER BY b.model_name, b.slo_name, b.partition_date DESC
)
SELECT
    c.model_name,
    c.slo_name,
    c.status,
    c.remaining_days < 0 AS budget_exhausted,
    CASE
        WHEN c.evidence_through IS NULL THEN
            format('%s: no day of the %s-day period has a verdict yet (too few labels): no evidence either way',
                   c.status, c.period_days)
        WHEN c.status IN ('page', 'ticket') THEN
            format('%s: burn rate %sx over %s days and %sx over %s days as of %s%s',
                   c.status,
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through,
                   CASE WHEN c.remaining_days < 0
                        THEN format('; budget overspent: %s of %s days left',
                                    round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1))
                        ELSE '' END)
        WHEN c.remaining_days < 0 THEN
            format('ok although the budget is overspent (%s of %s days left over %s days): the burn has stopped '
                   '(%sx over %s days, %sx over %s days as of %s), so no ticket or page; the %s bad days weigh until they leave the period',
                   round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1), c.period_days,
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through, c.bad_days)
        ELSE
            format('ok: %s of %s budget days left; burn rate %sx over %s days, %sx over %s days as of %s',
                   round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1),
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through)
    END AS status_reason,
    c.partition_date AS as_of,
    c.evidence_through,
    today.sli_source,
    today.sli_metric,
    today.objective_op,
    today.objective_value,
    c.target,
    c.period_days,
    c.known_days,
    c.bad_days,
    c.unknown_days,
    c.budget_days,
    c.remaining_days,
    c.remaining_fraction,
    c.burn_rate_short,
    c.burn_rate_long,
    c.short_window_days,
    c.long_window_days,
    evidence.sli_subject AS worst_cohort,
    CASE WHEN evidence.sufficient THEN evidence.value END AS worst_value,
    CASE WHEN evidence.sufficient THEN evidence.lower END AS worst_lower,
    CASE WHEN evidence.sufficient THEN evidence.upper END AS worst_upper,
    evidence.status AS worst_day_status,
    c.retrain_on_page,
    coalesce(evidence.suppressed, false) AS suppressed,
    coalesce(evidence.min_cell_size, p.min_cell_size, monitoring.default_min_cell_size()) AS min_cell_size
FROM current_budget c
LEFT JOIN monitoring.slo_evaluations_protected today
    ON today.model_name = c.model_name AND today.slo_name = c.slo_name
   AND today.partition_date = c.partition_date
LEFT JOIN monitoring.slo_evaluations_protected evidence
    ON evidence.model_name = c.model_name AND evidence.slo_name = c.slo_name
   AND evidence.partition_date = c.evidence_through
LEFT JOIN monitoring.privacy_settings p ON p.model_name = c.model_name
ORDER BY CASE c.status WHEN 'page' THEN 0 WHEN 'ticket' THEN 1 ELSE 2 END,
         c.remaining_days < 0 DESC, c.model_name, c.slo_name;

COMMENT ON COLUMN monitoring.slo_status.worst_value IS 'The SLI on evidence_through (for fairness differences the absolute gap |group - reference|); NULL when insufficient, suppressed (a cell below min_cell_size) or without evidence.';
COMMENT ON COLUMN monitoring.slo_status.worst_lower IS 'Lower bound of its 95% interval (of the absolute gap for fairness differences); NULL when it has none, is insufficient or suppressed.';
COMMENT ON COLUMN monitoring.slo_status.suppressed IS 'True when the worst_* figures rest on a cell smaller than min_cell_size (or one whose size cannot be told): they are then NULL, whatever sufficient says.';
COMMENT ON COLUMN monitoring.slo_status.min_cell_size IS 'The model''s privacy threshold (privacy_settings, else monitoring.default_min_cell_size()).';


CREATE OR REPLACE VIEW monitoring.worst_cohorts AS
WITH newest AS (
    SELECT model_name, max(partition_date) AS newest_day
    FROM monitoring.fairness_disparities_protected
    WHERE model_version = 'all'
    GROUP BY model_name
),
cell_day AS (
    -- A cell never sufficient (or always suppressed) keeps its newest day, without figures.
    SELECT model_name, metric, cohort_attribute, cohort_value,
           coalesce(max(partition_date) FILTER (WHERE sufficient AND value IS NOT NULL),
                    max(partition_date)) AS partition_date
    FROM monitoring.fairness_disparities_protected
    WHERE model_version = 'all'
    GROUP BY model_name, metric, cohort_attribute, cohort_value
),
judged AS (
    SELECT d.*,
           CASE
               WHEN NOT d.sufficient OR d.value IS NULL THEN NULL
               -- The ratio's parity point is 1: distance of its interval from 1.
               WHEN d.metric = 'disparate_impact_ratio' THEN
                   CASE WHEN d.lower IS NULL OR d.upper IS NULL THEN abs(d.value - 1)
                        WHEN d.lower <= 1 AND d.upper >= 1 THEN 0
                        WHEN d.upper < 1 THEN 1 - d.upper
                        ELSE d.lower - 1 END
               -- Differences: the lower bound of |gap| (0 when the interval straddles 0),
               -- as pipeline.slo.absolute_interval judges SLO days.
               ELSE
                   CASE WHEN d.lower IS NULL OR d.upper IS NULL THEN abs(d.value)
                        WHEN d.lower <= 0 AND d.upper >= 0 THEN 0
                        ELSE least(abs(d.lower), abs(d.upper)) END
           END AS gap_evidence,
           n.newest_day - d.partition_date AS days_behind
    FROM monitoring.fairness_disparities_protected d
    JOIN cell_day c USING (model_name, metric, cohort_attribute, cohort_value, partition_date)
    JOIN newest n USING (model_name)
    WHERE d.model_version = 'all'
)
SELECT
    j.model_name,
    j.metric,
    CASE WHEN j.gap_evidence IS NOT NULL THEN
        rank() OVER (PARTITION BY j.model_name, j.metric
                     ORDER BY j.gap_evidence DESC NULLS LAST,
                              abs(CASE WHEN j.metric = 'disparate_impact_ratio' THEN j.value - 1 ELSE j.value END) DESC NULLS LAST)
    END AS rank,
    j.cohort_attribute,
    j.cohort_value,
    j.reference_value,
    j.partition_date,
    j.days_behind,
    CASE WHEN j.sufficient THEN j.value END AS gap,
    CASE WHEN j.sufficient THEN j.lower END AS lower,
    CASE WHEN j.sufficient THEN j.upper END AS upper,
    j.gap_evidence,
    j.sufficient,
    g.n,
    g.n_labelled,
    r.n AS reference_n,
    r.n_labelled AS reference_n_labelled,
    CASE WHEN j.sufficient THEN j.passes_four_fifths END AS passes_four_fifths,
    j.is_worst,
    j.suppressed,
    j.min_cell_size
FROM judged j
LEFT JOIN monitoring.cohort_stats g
    ON g.model_name = j.model_name AND g.partition_date = j.partition_date
   AND g.model_version = 'all' AND g.cohort_attribute = j.cohort_attribute
   AND g.cohort_value = j.cohort_value
LEFT JOIN monitoring.cohort_stats r
    ON r.model_name = j.model_name AND r.partition_date = j.partition_date
   AND r.model_version = 'all' AND r.cohort_attribute = j.cohort_attribute
   AND r.cohort_value = j.reference_value
ORDER BY j.model_name, j.metric, rank NULLS LAST, j.cohort_attribute, j.cohort_value;

COMMENT ON COLUMN monitoring.worst_cohorts.partition_date IS 'The day the row describes: the newest day on which this comparison is sufficient and not suppressed; for a comparison never so, its newest day (figures NULL).';
COMMENT ON COLUMN monitoring.worst_cohorts.rank IS '1 = worst within (model, metric) by gap_evidence (ties share a rank); NULL for insufficient, suppressed or undefined comparisons.';
COMMENT ON COLUMN monitoring.worst_cohorts.is_worst IS 'The pipeline''s own pick: the worst sufficient group of its attribute for this metric (largest absolute difference, smallest ratio); NULL when suppressed.';
COMMENT ON COLUMN monitoring.worst_cohorts.suppressed IS 'True when the comparison''s cell (the smaller of the two groups'' cells for the metric, as in fairness_disparities_protected) has fewer people than min_cell_size on partition_date: gap, interval, rank and flags are then NULL.';
COMMENT ON COLUMN monitoring.worst_cohorts.min_cell_size IS 'The model''s privacy threshold (privacy_settings, else monitoring.default_min_cell_size()).';


CREATE OR REPLACE VIEW monitoring.drift_last_7_days AS
WITH newest AS (
    SELECT model_name, max(partition_date) AS newest_day
    FROM monitoring.drift_protected
    WHERE model_version = 'all'
    GROUP BY model_name
)
SELECT
    d.partition_date,
    d.model_name,
    d.feature,
    d.cohort_attribute,
    d.cohort_value,
    d.method,
    d.drifted,
    count(*) FILTER (WHERE d.drifted) OVER (
        PARTITION BY d.model_name, d.feature, d.cohort_attribute, d.cohort_value, d.method
    ) AS days_flagged,
    d.sufficient,
    CASE WHEN d.sufficient THEN d.statistic END AS statistic,
    CASE WHEN d.sufficient THEN d.p_value_adjusted END AS p_value_adjusted,
    CASE WHEN d.sufficient THEN d.lower END AS lower,
    CASE WHEN d.sufficient THEN d.upper END AS upper,
    d.threshold,
    d.direction,
    d.decided_on,
    d.n_reference,
    d.n_current,
    d.baseline_from,
    d.baseline_to,
    d.status,
    d.suppressed,
    d.min_cell_size
FROM monitoring.drift_protected d
JOIN newest n ON n.model_name = d.model_name
WHERE d.model_version = 'all' AND d.partition_date > n.newest_day - 7
ORDER BY d.drifted DESC NULLS LAST, days_flagged DESC, d.partition_date DESC, d.model_name, d.feature,
         d.cohort_attribute, d.cohort_value, d.method;

COMMENT ON COLUMN monitoring.drift_last_7_days.drifted IS 'Whether the test flags drift; NULL when insufficient, suppressed, undefined or without baseline.';
COMMENT ON COLUMN monitoring.drift_last_7_days.days_flagged IS 'Days of these 7 on which the same test (model, feature, cohort, method) flagged drift (suppressed days not counted).';
COMMENT ON COLUMN monitoring.drift_last_7_days.suppressed IS 'True when the test rests on fewer observations than min_cell_size (the smaller of n_current and n_reference): drifted and the figures are then NULL.';
COMMENT ON COLUMN monitoring.drift_last_7_days.min_cell_size IS 'The model''s privacy threshold (privacy_settings, else monitoring.default_min_cell_size()).';


-- 6. What the reader may read ----------------------------------------------------------------

GRANT SELECT ON
    monitoring.privacy_settings,
    monitoring.cohort_stats_protected, monitoring.cohort_metrics_protected,
    monitoring.cohort_changes_protected, monitoring.fairness_disparities_protected,
    monitoring.fairness_disparities_vs_rest_protected, monitoring.drift_protected,
    monitoring.feature_histograms_protected, monitoring.version_comparison_protected,
    monitoring.slo_evaluations_protected
TO monitoring_reader;
-- The helpers show exact counts of small cells: not the reader's.
REVOKE SELECT ON monitoring.privacy_cohort_cells, monitoring.privacy_slo_cells FROM monitoring_reader;
GRANT SELECT ON monitoring.privacy_cohort_cells, monitoring.privacy_slo_cells TO monitoring_raw_reader;
