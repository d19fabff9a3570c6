-- Operational SLIs (issue 13 item 7): serving latency percentiles and throughput per day and
-- cohort, from the latency column a model logs (columns.latency_ms). latency_histograms holds
-- the additive counts on fixed log-spaced bins (core/operational.py); operational_metrics the
-- figures with their intervals, which SLOs read as source operational_metrics. Both are the raw
-- role's (created after sql/025); the reader reads their protected views.

CREATE TABLE IF NOT EXISTS monitoring.latency_histograms (
    partition_date    date     NOT NULL,
    model_name        text     NOT NULL,
    model_version     text     NOT NULL,
    cohort_attribute  text     NOT NULL,
    cohort_value      text     NOT NULL,
    predictions       bigint   NOT NULL,
    latency_invalid   bigint   NOT NULL,
    counts            bigint[] NOT NULL,
    run_id            text     NOT NULL,
    produced_at       timestamptz NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value)
);
COMMENT ON TABLE monitoring.latency_histograms IS
    'Per day and cohort (all and each group of each attribute): the serving latencies on fixed log-spaced bins, 20 per decade from 0.1 ms to 1,000 s (bin 0: below 0.1 ms; bin i: [10^((i-21)/20), 10^((i-20)/20)) ms; the last: 1,000 s and above). Additive: sum the arrays over days for a window''s percentiles.';
COMMENT ON COLUMN monitoring.latency_histograms.partition_date IS 'Scoring day (UTC).';
COMMENT ON COLUMN monitoring.latency_histograms.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.latency_histograms.model_version IS '''all'': every version together.';
COMMENT ON COLUMN monitoring.latency_histograms.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.latency_histograms.cohort_value IS '''all'' or a group of the attribute.';
COMMENT ON COLUMN monitoring.latency_histograms.predictions IS 'Predictions of the cohort that day (stored rows), latency logged or not.';
COMMENT ON COLUMN monitoring.latency_histograms.latency_invalid IS 'Predictions whose logged latency is negative or not finite: not in counts.';
COMMENT ON COLUMN monitoring.latency_histograms.counts IS 'Latencies per bin (161 bins, see the table comment); their sum is the latencies measured.';
COMMENT ON COLUMN monitoring.latency_histograms.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.latency_histograms.produced_at IS 'When the row was written.';

CREATE TABLE IF NOT EXISTS monitoring.operational_metrics (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    model_version     text             NOT NULL,
    cohort_attribute  text             NOT NULL,
    cohort_value      text             NOT NULL,
    metric            text             NOT NULL CHECK (metric IN (
                          'latency_p50', 'latency_p95', 'latency_p99', 'throughput')),
    value             double precision,
    lower             double precision,
    upper             double precision,
    n                 bigint           NOT NULL,
    sufficient        boolean          NOT NULL,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.operational_metrics IS
    'Per day and cohort: latency_p50/p95/p99 (ms) from latency_histograms, geometric within a bin (within 12.2%, one bin, of the raw quantile), with the distribution-free 95% interval of order statistics (binomial ranks); throughput = predictions that day, with the exact (Garwood) 95% Poisson interval of the daily rate. SLOs read it as source operational_metrics.';
COMMENT ON COLUMN monitoring.operational_metrics.partition_date IS 'Scoring day (UTC).';
COMMENT ON COLUMN monitoring.operational_metrics.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.operational_metrics.model_version IS '''all'': every version together.';
COMMENT ON COLUMN monitoring.operational_metrics.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.operational_metrics.cohort_value IS '''all'' or a group of the attribute.';
COMMENT ON COLUMN monitoring.operational_metrics.metric IS 'latency_p50, latency_p95, latency_p99 (milliseconds) or throughput (predictions per day).';
COMMENT ON COLUMN monitoring.operational_metrics.value IS 'The figure; NULL without a measured latency.';
COMMENT ON COLUMN monitoring.operational_metrics.lower IS '95% interval, lower bound; NULL (with upper) when the sample is too small to bound the percentile on both sides.';
COMMENT ON COLUMN monitoring.operational_metrics.upper IS '95% interval, upper bound; NULL (with lower) when the sample is too small to bound the percentile on both sides (a p99 needs ~370 latencies, a p95 ~75).';
COMMENT ON COLUMN monitoring.operational_metrics.n IS 'Latencies measured (percentiles) or predictions (throughput).';
COMMENT ON COLUMN monitoring.operational_metrics.sufficient IS 'n >= the model''s minimum cohort size and the interval bounded on both sides.';
COMMENT ON COLUMN monitoring.operational_metrics.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.operational_metrics.produced_at IS 'When the row was written.';

-- The analysts' views: the cell is n (a percentile of one person is that person's latency).
CREATE OR REPLACE VIEW monitoring.operational_metrics_protected AS
WITH judged AS (
    SELECT o.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           o.n < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.operational_metrics o
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = o.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, metric,
       CASE WHEN NOT hidden THEN value END AS value,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       n, sufficient, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;
COMMENT ON VIEW monitoring.operational_metrics_protected IS
    'operational_metrics as the analysts'' role sees it: figures of a cohort with n < min_cell_size are NULL and suppressed is true.';

CREATE OR REPLACE VIEW monitoring.latency_histograms_protected AS
WITH judged AS (
    SELECT h.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           h.predictions < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.latency_histograms h
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = h.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, predictions,
       CASE WHEN NOT hidden THEN latency_invalid END AS latency_invalid,
       CASE WHEN NOT hidden THEN counts END AS counts,
       run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;
COMMENT ON VIEW monitoring.latency_histograms_protected IS
    'latency_histograms as the analysts'' role sees it: the counts of a cohort with fewer predictions than min_cell_size are NULL and suppressed is true.';

DO $$
DECLARE
    pair record;
    col record;
    base_comment text;
BEGIN
    FOR pair IN SELECT * FROM (VALUES ('operational_metrics', 'operational_metrics_protected'),
                                      ('latency_histograms', 'latency_histograms_protected'))
                                   AS t(table_name, view_name) LOOP
        FOR col IN
            SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = format('monitoring.%I', pair.view_name)::regclass AND a.attnum > 0
              AND a.attname NOT IN ('suppressed', 'min_cell_size')
        LOOP
            SELECT col_description(b.attrelid, b.attnum) INTO base_comment
            FROM pg_attribute b
            WHERE b.attrelid = format('monitoring.%I', pair.table_name)::regclass
              AND b.attname = col.attname;
            IF col.attname IN ('value', 'lower', 'upper', 'latency_invalid', 'counts') THEN
                base_comment := base_comment || ' NULL when suppressed.';
            END IF;
            EXECUTE format('COMMENT ON COLUMN monitoring.%I.%I IS %L', pair.view_name,
                           col.attname, base_comment);
        END LOOP;
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.suppressed IS %L', pair.view_name,
            'True when the cohort''s cell (n; predictions for the histograms) is below min_cell_size: the figures are then NULL.');
        EXECUTE format('COMMENT ON COLUMN monitoring.%I.min_cell_size IS %L', pair.view_name,
            'The privacy threshold applied (privacy_settings, else 10).');
    END LOOP;
END $$;

GRANT SELECT ON monitoring.operational_metrics_protected, monitoring.latency_histograms_protected
    TO monitoring_reader;

-- SLO readings of the new source get their cell (without it they would all be suppressed).
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
           -- Operational figures (sql/032): latencies measured, or predictions for throughput.
           WHEN 'operational_metrics' THEN (
               SELECT min(o.n)
               FROM monitoring.operational_metrics o
               WHERE o.partition_date = e.partition_date AND o.model_name = e.model_name
                 AND o.model_version = 'all' AND o.metric = e.sli_metric
                 AND CASE WHEN o.cohort_attribute = 'all' THEN 'all'
                          ELSE o.cohort_attribute || '=' || o.cohort_value END = e.sli_subject)
           WHEN 'drift' THEN (
               SELECT min(least(x.n_current, x.n_reference))
               FROM monitoring.drift x
               WHERE x.partition_date = e.partition_date AND x.model_name = e.model_name
                 AND x.model_version = 'all' AND x.method = e.sli_metric
                 AND x.feature || ' @ ' || CASE WHEN x.cohort_attribute = 'all' THEN 'all'
                          ELSE x.cohort_attribute || '=' || x.cohort_value END = e.sli_subject)
       END AS cell_size
FROM monitoring.slo_evaluations e;
COMMENT ON COLUMN monitoring.privacy_slo_cells.cell_size IS 'The cell the reading rests on, as the protected view of its source table judges it: the cohort''s cell for the metric (cohort_metrics), that and the baseline''s (cohort_changes), the smaller of group and reference (fairness_disparities; their predictions for estimated_disparities), the smallest side of the version pairs (version_comparison), of current and baseline observations (drift), the latencies measured or predictions (operational_metrics).';
