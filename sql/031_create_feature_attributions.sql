-- Attribution monitoring (issue 13 item 4): per day and cohort, how much each feature moves
-- the model (mean |attribution| with its interval, signed mean, share), from the attribution
-- columns a model logs (models.<name>.attributions). Their drift is in monitoring.drift, under
-- the attribution column's name, like any numeric feature. Privacy: like every table created
-- after sql/025 it is the raw role's; the reader reads feature_attributions_protected.

CREATE TABLE IF NOT EXISTS monitoring.feature_attributions (
    partition_date      date             NOT NULL,
    model_name          text             NOT NULL,
    model_version       text             NOT NULL,
    cohort_attribute    text             NOT NULL,
    cohort_value        text             NOT NULL,
    feature             text             NOT NULL,
    attribution_column  text             NOT NULL,
    n                   bigint           NOT NULL,
    abs_sum             double precision NOT NULL,
    signed_sum          double precision NOT NULL,
    sq_sum              double precision NOT NULL,
    mean_abs            double precision,
    lower               double precision,
    upper               double precision,
    mean                double precision,
    share               double precision,
    sufficient          boolean          NOT NULL,
    run_id              text             NOT NULL,
    produced_at         timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, feature)
);
COMMENT ON TABLE monitoring.feature_attributions IS
    'Per day, cohort (all and each group of each attribute) and feature: the feature''s logged attributions (e.g. SHAP values; models.<name>.attributions names the columns) summarised: mean |attribution| with a 95% normal interval, signed mean, share of the cohort''s total mean |attribution|. n, abs_sum, signed_sum and sq_sum are additive: sum them over days for a window. Drift of the attributions is in drift (feature = attribution_column).';
COMMENT ON COLUMN monitoring.feature_attributions.partition_date IS 'Scoring day (UTC) of the predictions summarised.';
COMMENT ON COLUMN monitoring.feature_attributions.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.feature_attributions.model_version IS '''all'': every version together.';
COMMENT ON COLUMN monitoring.feature_attributions.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.feature_attributions.cohort_value IS '''all'' or a group of the attribute.';
COMMENT ON COLUMN monitoring.feature_attributions.feature IS 'The feature explained.';
COMMENT ON COLUMN monitoring.feature_attributions.attribution_column IS 'The log column holding its attribution; drift rows of the attribution carry this name as feature.';
COMMENT ON COLUMN monitoring.feature_attributions.n IS 'Predictions of the cohort with an attribution logged (additive).';
COMMENT ON COLUMN monitoring.feature_attributions.abs_sum IS 'Sum of |attribution| (additive).';
COMMENT ON COLUMN monitoring.feature_attributions.signed_sum IS 'Sum of attribution (additive).';
COMMENT ON COLUMN monitoring.feature_attributions.sq_sum IS 'Sum of attribution squared (additive; gives the interval''s variance).';
COMMENT ON COLUMN monitoring.feature_attributions.mean_abs IS 'Mean |attribution|: the feature''s importance for the cohort that day. NULL without rows.';
COMMENT ON COLUMN monitoring.feature_attributions.lower IS '95% interval of mean_abs, lower bound: mean_abs - z * sd(|a|) / sqrt(n), at least 0; NULL when n < 2.';
COMMENT ON COLUMN monitoring.feature_attributions.upper IS '95% interval of mean_abs, upper bound; NULL when n < 2.';
COMMENT ON COLUMN monitoring.feature_attributions.mean IS 'Mean signed attribution: which way the feature pushes the output on average.';
COMMENT ON COLUMN monitoring.feature_attributions.share IS 'mean_abs over the sum of the cohort''s mean_abs of every feature (no interval).';
COMMENT ON COLUMN monitoring.feature_attributions.sufficient IS 'n >= the model''s minimum cohort size.';
COMMENT ON COLUMN monitoring.feature_attributions.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.feature_attributions.produced_at IS 'When the row was written.';

-- The analysts' view: the cell is the cohort's predictions with an attribution (n).
CREATE OR REPLACE VIEW monitoring.feature_attributions_protected AS
WITH judged AS (
    SELECT a.*, coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS threshold,
           a.n < coalesce(p.min_cell_size, monitoring.default_min_cell_size()) AS hidden
    FROM monitoring.feature_attributions a
    LEFT JOIN monitoring.privacy_settings p ON p.model_name = a.model_name
)
SELECT partition_date, model_name, model_version, cohort_attribute, cohort_value, feature,
       attribution_column, n,
       CASE WHEN NOT hidden THEN abs_sum END AS abs_sum,
       CASE WHEN NOT hidden THEN signed_sum END AS signed_sum,
       CASE WHEN NOT hidden THEN sq_sum END AS sq_sum,
       CASE WHEN NOT hidden THEN mean_abs END AS mean_abs,
       CASE WHEN NOT hidden THEN lower END AS lower,
       CASE WHEN NOT hidden THEN upper END AS upper,
       CASE WHEN NOT hidden THEN mean END AS mean,
       CASE WHEN NOT hidden THEN share END AS share,
       sufficient, run_id, produced_at,
       hidden AS suppressed,
       threshold AS min_cell_size
FROM judged;
COMMENT ON VIEW monitoring.feature_attributions_protected IS
    'feature_attributions as the analysts'' role sees it: the figures of a cohort with fewer attributions (n) than min_cell_size are NULL and suppressed is true.';

DO $$
DECLARE
    col record;
    base_comment text;
BEGIN
    FOR col IN
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = 'monitoring.feature_attributions_protected'::regclass AND a.attnum > 0
          AND a.attname NOT IN ('suppressed', 'min_cell_size')
    LOOP
        base_comment := col_description('monitoring.feature_attributions'::regclass,
            (SELECT attnum FROM pg_attribute WHERE attrelid = 'monitoring.feature_attributions'::regclass
               AND attname = col.attname));
        IF col.attname IN ('abs_sum', 'signed_sum', 'sq_sum', 'mean_abs', 'lower', 'upper', 'mean', 'share') THEN
            base_comment := base_comment || ' NULL when suppressed.';
        END IF;
        EXECUTE format('COMMENT ON COLUMN monitoring.feature_attributions_protected.%I IS %L',
                       col.attname, base_comment);
    END LOOP;
END $$;
COMMENT ON COLUMN monitoring.feature_attributions_protected.suppressed IS
    'True when n < min_cell_size: the figures are then NULL.';
COMMENT ON COLUMN monitoring.feature_attributions_protected.min_cell_size IS
    'The privacy threshold applied (privacy_settings, else 10).';

GRANT SELECT ON monitoring.feature_attributions_protected TO monitoring_reader;
