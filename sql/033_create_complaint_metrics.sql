-- Complaint and appeal rates (issue 13 item 7, second half): per day and cohort, the share of
-- predictions that drew a complaint within the day's window, from a separate late-arriving
-- log (models.<m>.complaints; core/complaints.py). SLOs read it as source complaint_metrics.
-- The raw role's table; the reader reads complaint_metrics_protected.

CREATE TABLE IF NOT EXISTS monitoring.complaint_metrics (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    model_version     text             NOT NULL,
    cohort_attribute  text             NOT NULL,
    cohort_value      text             NOT NULL,
    metric            text             NOT NULL CHECK (metric = 'complaint_rate'),
    value             double precision,
    lower             double precision,
    upper             double precision,
    n                 bigint           NOT NULL,
    complaints        bigint           NOT NULL,
    sufficient        boolean          NOT NULL,
    window_closes_at  timestamptz      NOT NULL,
    counted_as_of     timestamptz      NOT NULL,
    window_complete   boolean          NOT NULL,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.complaint_metrics IS
    'Per day and cohort: complaint_rate = predictions of the day that drew at least one complaint (or appeal) recorded from the start of the scoring day to window_days after its end (UTC) / predictions, with the Wilson 95% interval. While the window is open (window_complete false) the rate can only grow: it is a lower bound of the final rate. SLOs read it as source complaint_metrics.';
COMMENT ON COLUMN monitoring.complaint_metrics.partition_date IS 'Scoring day (UTC) of the predictions.';
COMMENT ON COLUMN monitoring.complaint_metrics.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.complaint_metrics.model_version IS '''all'': every version together.';
COMMENT ON COLUMN monitoring.complaint_metrics.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.complaint_metrics.cohort_value IS '''all'' or a group of the attribute.';
COMMENT ON COLUMN monitoring.complaint_metrics.metric IS 'complaint_rate.';
COMMENT ON COLUMN monitoring.complaint_metrics.value IS 'complaints / n; NULL without predictions.';
COMMENT ON COLUMN monitoring.complaint_metrics.lower IS 'Wilson 95% interval, lower bound of the rate counted so far (while the window is open, still a lower bound of the final rate).';
COMMENT ON COLUMN monitoring.complaint_metrics.upper IS 'Wilson 95% interval, upper bound of the rate counted so far; while the window is open the final rate may exceed it.';
COMMENT ON COLUMN monitoring.complaint_metrics.n IS 'Predictions of the cohort that day (stored rows).';
COMMENT ON COLUMN monitoring.complaint_metrics.complaints IS 'Predictions with at least one complaint in the window, recorded by counted_as_of.';
COMMENT ON COLUMN monitoring.complaint_metrics.sufficient IS 'n >= the model''s minimum cohort size.';
COMMENT ON COLUMN monitoring.complaint_metrics.window_closes_at IS 'End (exclusive) of the day''s complaint window: the scoring day''s end + complaints.window_days.';
COMMENT ON COLUMN monitoring.complaint_metrics.counted_as_of IS 'When the complaints were counted (a replay''s cutoff, else the run''s time), at the latest window_closes_at (a later count finds the same complaints).';
COMMENT ON COLUMN monitoring.complaint_metrics.window_complete IS 'counted_as_of >= window_closes_at: the rate is final.';
COMMENT ON COLUMN monitoring.complaint_metrics.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.complaint_metrics.produced_at IS 'When the row was written.';

-- The analysts' view: the cell is n (the complaint rate of a cohort of one tells whether
-- that person complained).
CREATE OR REPLACE VIEW monitoring.complaint_metrics_protected AS
WITH judged AS (
    SELECT c.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           c.n < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.complaint_metrics c
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = c.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       n,
       CASE WHEN NOT hidden THEN complaints END AS complaints,
       sufficient, window_closes_at, counted_as_of, window_complete, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;
COMMENT ON VIEW monitoring.complaint_metrics_protected IS
    'complaint_metrics as the analysts'' role sees it: figures of a cohort with n < min_cell_size are NULL and suppressed is true.';

DO $$
DECLARE
    col record;
    base_comment text;
BEGIN
    FOR col IN
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = 'monitoring.complaint_metrics_protected'::regclass AND a.attnum > 0
          AND a.attname NOT IN ('suppressed', 'min_cell_size')
    LOOP
        SELECT col_description(b.attrelid, b.attnum) INTO base_comment
        FROM pg_attribute b
        WHERE b.attrelid = 'monitoring.complaint_metrics'::regclass AND b.attname = col.attname;
        IF col.attname IN ('value', 'lower', 'upper', 'complaints') THEN
            base_comment := base_comment || ' NULL when suppressed.';
        END IF;
        EXECUTE format('COMMENT ON COLUMN monitoring.complaint_metrics_protected.%I IS %L',
                       col.attname, base_comment);
    END LOOP;
END $$;
COMMENT ON COLUMN monitoring.complaint_metrics_protected.suppressed IS
    'True when the cohort''s cell (n) is below min_cell_size: the figures are then NULL.';
COMMENT ON COLUMN monitoring.complaint_metrics_protected.min_cell_size IS
    'The privacy threshold applied (privacy_settings, else 10).';

GRANT SELECT ON monitoring.complaint_metrics_protected TO monitoring_reader;

-- The cell of an SLO reading of a table keyed like operational_metrics whose cell is n: one
-- function, so that the next such source adds a WHEN line (and its name below), not a copied
-- subquery. SECURITY DEFINER: the view's readers may not read the tables themselves (a view
-- reads its tables as its owner, a function as its caller); it reads only the cell sizes of
-- the tables it names.
CREATE OR REPLACE FUNCTION monitoring.cohort_n_cell(
    source_table text, day date, model text, metric_name text, subject text
) RETURNS bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cell bigint;
BEGIN
    IF source_table NOT IN ('operational_metrics', 'complaint_metrics') THEN
        RAISE EXCEPTION 'cohort_n_cell: % is not a table whose cell is n', source_table;
    END IF;
    EXECUTE format(
        'SELECT min(n) FROM monitoring.%I WHERE partition_date = $1 AND model_name = $2 '
        'AND model_version = ''all'' AND metric = $3 AND CASE WHEN cohort_attribute = ''all'' '
        'THEN ''all'' ELSE cohort_attribute || ''='' || cohort_value END = $4',
        source_table)
    INTO cell USING day, model, metric_name, subject;
    RETURN cell;
END $$;
COMMENT ON FUNCTION monitoring.cohort_n_cell(text, date, text, text, text) IS
    'The smallest n of the cohort rows an SLO reading of monitoring.<source_table> rests on (tables keyed like operational_metrics, whose cell is n).';

-- SLO readings of complaint_metrics get their cell (without it they would all be suppressed).
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
           -- Figures whose cell is the cohort's n (operational_metrics of sql/032,
           -- complaint_metrics): one lookup for every such table (monitoring.cohort_n_cell).
           WHEN 'operational_metrics' THEN monitoring.cohort_n_cell(
               'operational_metrics', e.partition_date, e.model_name, e.sli_metric, e.sli_subject)
           WHEN 'complaint_metrics' THEN monitoring.cohort_n_cell(
               'complaint_metrics', e.partition_date, e.model_name, e.sli_metric, e.sli_subject)
           WHEN 'drift' THEN (
               SELECT min(least(x.n_current, x.n_reference))
               FROM monitoring.drift x
               WHERE x.partition_date = e.partition_date AND x.model_name = e.model_name
                 AND x.model_version = 'all' AND x.method = e.sli_metric
                 AND x.feature || ' @ ' || CASE WHEN x.cohort_attribute = 'all' THEN 'all'
                          ELSE x.cohort_attribute || '=' || x.cohort_value END = e.sli_subject)
       END AS cell_size
FROM monitoring.slo_evaluations e;
COMMENT ON COLUMN monitoring.privacy_slo_cells.cell_size IS 'The cell the reading rests on, as the protected view of its source table judges it: the cohort''s cell for the metric (cohort_metrics), that and the baseline''s (cohort_changes), the smaller of group and reference (fairness_disparities; their predictions for estimated_disparities), the smallest side of the version pairs (version_comparison), of current and baseline observations (drift), the latencies measured or predictions (operational_metrics), the predictions (complaint_metrics).';
