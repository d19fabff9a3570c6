-- Privacy (sql/025) for what came after it or beside it:
--
-- * 024's tables were created while every new table was still the reader's by default, so
--   monitoring_reader read estimation_stats (score sums per cohort, decision and score bin:
--   a bin of one person is that person's score and label), performance_estimates and
--   estimated_disparities unsuppressed. The reader loses them; it reads
--   performance_estimates_protected and estimated_disparities_protected instead, and
--   estimation_stats not at all (nothing an analyst needs that the estimates do not say).
-- * An estimate rests on the cohort's predictions (its scores): its cell is n. The realised
--   figure beside it rests on the labelled rows: its cell is the cohort's label cell, as in
--   cohort_metrics_protected. The two are judged apart (suppressed, realised_suppressed).
-- * SLO readings of the sources added since (estimated_disparities; version_comparison, the
--   canary) had no cell in privacy_slo_cells and were all suppressed: they get theirs.
-- * slo_evaluations_protected gains 027's columns (objective_kind and the adaptive band) and
--   withholds a suppressed reading's reason, which quotes its figure; cohort_stats_protected
--   gains 026's brier_sq_sum.
-- * release_recommendations (028, created after the reader stopped getting tables by
--   default) is granted to the reader like alerts and retraining_requests.

REVOKE SELECT ON monitoring.estimation_stats, monitoring.performance_estimates,
    monitoring.estimated_disparities FROM monitoring_reader;
GRANT SELECT ON monitoring.estimation_stats, monitoring.performance_estimates,
    monitoring.estimated_disparities TO monitoring_raw_reader;

-- estimation_accuracy pools every checked cell of a model and metric: no cell of its own.
-- It reads performance_estimates with its owner's rights and stays the reader's.


-- 1. Estimates ---------------------------------------------------------------------------------

CREATE OR REPLACE VIEW monitoring.performance_estimates_protected AS
WITH judged AS (
    SELECT e.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           e.n < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden,
           -- Every estimated metric needs labels to be realised: the label cell.
           coalesce(monitoring.metric_cell_size(e.metric, c.n, c.label_cell)
                    < coalesce(p.min_cell_size, monitoring.default_min_cell_size()),
                    true) AS realised_hidden
    FROM monitoring.performance_estimates e
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = e.model_name
    LEFT JOIN monitoring.privacy_cohort_cells c
        ON c.partition_date = e.partition_date AND c.model_name = e.model_name
       AND c.model_version = e.model_version AND c.cohort_attribute = e.cohort_attribute
       AND c.cohort_value = e.cohort_value
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN standard_error END AS standard_error,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       CASE WHEN NOT hidden THEN expected_denominator END AS expected_denominator,
       n, sufficient, status,
       CASE WHEN NOT realised_hidden THEN realised END AS realised,
       CASE WHEN NOT realised_hidden THEN realised_denominator END AS realised_denominator,
       label_coverage,
       CASE WHEN NOT (hidden OR realised_hidden) THEN estimation_error END AS estimation_error,
       CASE WHEN NOT (hidden OR realised_hidden) THEN within_interval END AS within_interval,
       reference_days, reference_misses, reference_from, reference_to, run_id, produced_at,
       hidden AS suppressed,
       realised_hidden AS realised_suppressed,
       threshold AS min_cell_size
FROM judged;

CREATE OR REPLACE VIEW monitoring.estimated_disparities_protected AS
WITH sized AS (
    SELECT d.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           CASE WHEN g.n IS NOT NULL AND r.n IS NOT NULL THEN least(g.n, r.n) END AS cell_size,
           CASE WHEN g.n IS NOT NULL AND r.n IS NOT NULL
                THEN least(g.label_cell, r.label_cell) END AS realised_cell_size
    FROM monitoring.estimated_disparities d
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
    SELECT sized.*, coalesce(cell_size < threshold, true) AS hidden,
           coalesce(realised_cell_size < threshold, true) AS realised_hidden
    FROM sized
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, reference_value,
       metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       sufficient,
       CASE WHEN NOT realised_hidden THEN realised_value END AS realised_value,
       run_id, produced_at,
       hidden AS suppressed,
       realised_hidden AS realised_suppressed,
       threshold AS min_cell_size
FROM judged;


-- 2. SLO readings: the cells of every source -----------------------------------------------

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
           -- An estimated gap rests on the two groups' predictions (their scores).
           WHEN 'estimated_disparities' THEN (
               SELECT min(least(g.n, r.n))
               FROM monitoring.estimated_disparities d
               JOIN monitoring.privacy_cohort_cells g
                   ON g.partition_date = d.partition_date AND g.model_name = d.model_name
                  AND g.model_version = d.model_version AND g.cohort_attribute = d.cohort_attribute
                  AND g.cohort_value = d.cohort_value
               JOIN monitoring.privacy_cohort_cells r
                   ON r.partition_date = d.partition_date AND r.model_name = d.model_name
                  AND r.model_version = d.model_version AND r.cohort_attribute = d.cohort_attribute
                  AND r.cohort_value = d.reference_value
               WHERE d.partition_date = e.partition_date AND d.model_name = e.model_name
                 AND d.model_version = 'all' AND d.metric = e.sli_metric
                 AND d.cohort_attribute || '=' || d.cohort_value || ' vs ' || d.reference_value
                     = e.sli_subject)
           -- A canary's harm: the smallest side of every candidate-incumbent pair of the cohort.
           WHEN 'version_comparison' THEN (
               SELECT min(least(v.candidate_denominator, v.incumbent_denominator,
                                monitoring.metric_cell_size(v.metric, c.n, c.label_cell),
                                monitoring.metric_cell_size(v.metric, i.n, i.label_cell)))
               FROM monitoring.version_comparison v
               LEFT JOIN monitoring.privacy_cohort_cells c
                   ON c.partition_date = v.partition_date AND c.model_name = v.model_name
                  AND c.model_version = v.candidate_version AND c.cohort_attribute = v.cohort_attribute
                  AND c.cohort_value = v.cohort_value
               LEFT JOIN monitoring.privacy_cohort_cells i
                   ON i.partition_date = v.partition_date AND i.model_name = v.model_name
                  AND i.model_version = v.incumbent_version AND i.cohort_attribute = v.cohort_attribute
                  AND i.cohort_value = v.cohort_value
               WHERE v.partition_date = e.partition_date AND v.model_name = e.model_name
                 AND v.metric = e.sli_metric
                 AND CASE WHEN v.cohort_attribute = 'all' THEN 'all'
                          ELSE v.cohort_attribute || '=' || v.cohort_value END = e.sli_subject)
           WHEN 'drift' THEN (
               SELECT min(least(x.n_current, x.n_reference))
               FROM monitoring.drift x
               WHERE x.partition_date = e.partition_date AND x.model_name = e.model_name
                 AND x.model_version = 'all' AND x.method = e.sli_metric
                 AND x.feature || ' @ ' || CASE WHEN x.cohort_attribute = 'all' THEN 'all'
                          ELSE x.cohort_attribute || '=' || x.cohort_value END = e.sli_subject)
       END AS cell_size
FROM monitoring.slo_evaluations e;
COMMENT ON COLUMN monitoring.privacy_slo_cells.cell_size IS 'The cell the reading rests on, as the protected view of its source table judges it: the cohort''s cell for the metric (cohort_metrics), that and the baseline''s (cohort_changes), the smaller of group and reference (fairness_disparities; their predictions for estimated_disparities), the smallest side of the version pairs (version_comparison), of current and baseline observations (drift).';

CREATE OR REPLACE VIEW monitoring.slo_evaluations_protected AS
WITH judged AS (
    SELECT e.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
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
       objective_op, objective_value, sufficient, status,
       CASE WHEN NOT hidden THEN reason END AS reason,
       run_id, produced_at,
       bad_members, unknown_members, members, interval_confidence,
       hidden AS suppressed,
       threshold AS min_cell_size,
       objective_kind, band_mean, band_sd, band_days
FROM judged;

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
       threshold AS min_cell_size,
       CASE WHEN NOT hidden THEN brier_sq_sum END AS brier_sq_sum
FROM judged;


-- 3. Documentation --------------------------------------------------------------------------

DO $$
DECLARE
    pair record;
    col record;
    base_comment text;
BEGIN
    FOR pair IN
        SELECT * FROM (VALUES
            ('performance_estimates_protected', 'performance_estimates',
             ARRAY['value', 'standard_error', 'lower', 'upper', 'expected_denominator'],
             ARRAY['realised', 'realised_denominator', 'estimation_error', 'within_interval'],
             'the cohort''s predictions (n) for the estimate, which rests on their scores; the realised figure''s cell is the cohort''s label cell, as in cohort_metrics_protected (realised_suppressed).'),
            ('estimated_disparities_protected', 'estimated_disparities',
             ARRAY['value', 'lower', 'upper'],
             ARRAY['realised_value'],
             'the smaller of the two groups'' predictions (n) for the estimated gap; the smaller of their label cells for realised_value (realised_suppressed).')
        ) AS t(view_name, table_name, hidden_columns, realised_columns, cell)
    LOOP
        EXECUTE format(
            'COMMENT ON VIEW monitoring.%I IS %L', pair.view_name,
            format('monitoring.%s as the analysts'' role reads it: every row, with the figures of cells smaller than the model''s min_cell_size (privacy_settings) NULL and suppressed true. The cell of a row is %s The table itself is readable by monitoring_raw_reader only.',
                   pair.table_name, pair.cell));
        FOR col IN
            SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = format('monitoring.%I', pair.view_name)::regclass
              AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attname NOT IN ('suppressed', 'realised_suppressed', 'min_cell_size')
        LOOP
            SELECT col_description(b.attrelid, b.attnum) INTO base_comment
            FROM pg_attribute b
            WHERE b.attrelid = format('monitoring.%I', pair.table_name)::regclass
              AND b.attname = col.attname;
            base_comment := coalesce(base_comment, format('As in monitoring.%s.', pair.table_name));
            IF col.attname = ANY (pair.hidden_columns) THEN
                base_comment := base_comment || ' NULL when suppressed.';
            ELSIF col.attname = ANY (pair.realised_columns) THEN
                base_comment := base_comment || ' NULL when realised_suppressed.';
            END IF;
            EXECUTE format('COMMENT ON COLUMN monitoring.%I.%I IS %L',
                           pair.view_name, col.attname, base_comment);
        END LOOP;
        EXECUTE format(
            'COMMENT ON COLUMN monitoring.%I.suppressed IS %L', pair.view_name,
            'True when the estimate''s cell has fewer people than min_cell_size (or its size cannot be told): the estimate and its interval are NULL. The cell is ' || pair.cell);
        EXECUTE format(
            'COMMENT ON COLUMN monitoring.%I.realised_suppressed IS %L', pair.view_name,
            'True when the labelled rows behind the realised figure form a cell smaller than min_cell_size (or one whose size cannot be told): the realised figure (and what compares the estimate with it) is NULL.');
        EXECUTE format(
            'COMMENT ON COLUMN monitoring.%I.min_cell_size IS %L', pair.view_name,
            'The threshold applied: privacy_settings.min_cell_size of the model, else monitoring.default_min_cell_size().');
    END LOOP;
END
$$;

COMMENT ON COLUMN monitoring.slo_evaluations_protected.reason IS 'As in monitoring.slo_evaluations (the sentence quotes the figure). NULL when suppressed.';
COMMENT ON COLUMN monitoring.slo_evaluations_protected.objective_kind IS 'As in monitoring.slo_evaluations.';
COMMENT ON COLUMN monitoring.slo_evaluations_protected.band_mean IS 'As in monitoring.slo_evaluations (the mean of the SLO''s own good days: not a cell''s figure).';
COMMENT ON COLUMN monitoring.slo_evaluations_protected.band_sd IS 'As in monitoring.slo_evaluations.';
COMMENT ON COLUMN monitoring.slo_evaluations_protected.band_days IS 'As in monitoring.slo_evaluations.';
COMMENT ON COLUMN monitoring.cohort_stats_protected.brier_sq_sum IS 'As in monitoring.cohort_stats. NULL when suppressed.';


-- 4. What the reader may read ---------------------------------------------------------------

GRANT SELECT ON monitoring.performance_estimates_protected, monitoring.estimated_disparities_protected,
    monitoring.release_recommendations
TO monitoring_reader;
