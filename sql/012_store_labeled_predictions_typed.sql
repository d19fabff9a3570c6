-- Labeled predictions are stored typed, not as JSON: parsing and storing a JSON object of
-- ~20 features per row cost PostgreSQL more than everything else on a large day (~1 KB and
-- ~12 s per million rows on COPY, ~4 s more to take it apart on every read). The rows now
-- live in monitoring.labeled_prediction_rows with feature values in double precision / text
-- arrays, named per partition by monitoring.labeled_prediction_layouts; the analysts'
-- monitoring.labeled_predictions becomes a view with exactly the columns it had, cohorts and
-- features rebuilt as JSON objects.

-- A number the way the pipeline reads one from text: surrounding blanks allowed, nothing
-- else (no NaN, no Infinity, no out-of-range values); anything else is NULL, never an error.
CREATE FUNCTION monitoring.number_or_null(value text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN btrim(value, E' \t\n\r\f\v') ~ '^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$'
             AND pg_input_is_valid(btrim(value, E' \t\n\r\f\v'), 'double precision')
        THEN btrim(value, E' \t\n\r\f\v')::double precision
    END
$$;

ALTER TABLE monitoring.labeled_predictions RENAME TO labeled_prediction_rows;
ALTER INDEX monitoring.labeled_predictions_partition_idx RENAME TO labeled_prediction_rows_partition_idx;

ALTER TABLE monitoring.labeled_prediction_rows
    ADD COLUMN cohort_values        text[],
    ADD COLUMN numeric_features     double precision[],
    ADD COLUMN categorical_features text[],
    ADD COLUMN unparsed_features    jsonb;

CREATE TABLE monitoring.labeled_prediction_layouts (
    partition_date        date   NOT NULL,
    model_name            text   NOT NULL,
    cohort_attributes     text[] NOT NULL,
    numeric_features      text[] NOT NULL,
    categorical_features  text[] NOT NULL,
    run_id                text   NOT NULL,
    produced_at           timestamptz NOT NULL,
    PRIMARY KEY (model_name, partition_date)
);

-- Rows written before this migration: each partition's layout from its JSON keys (a feature
-- whose every value is a JSON number is numeric), then the values moved into the arrays.
INSERT INTO monitoring.labeled_prediction_layouts
SELECT r.partition_date, r.model_name,
       coalesce((SELECT array_agg(DISTINCT k ORDER BY k)
                 FROM monitoring.labeled_prediction_rows c, jsonb_object_keys(c.cohorts) k
                 WHERE c.model_name = r.model_name AND c.partition_date = r.partition_date), '{}'),
       coalesce((SELECT array_agg(k ORDER BY k) FROM (
                     SELECT e.key AS k
                     FROM monitoring.labeled_prediction_rows f, jsonb_each(f.features) e
                     WHERE f.model_name = r.model_name AND f.partition_date = r.partition_date
                     GROUP BY e.key
                     HAVING bool_and(jsonb_typeof(e.value) IN ('number', 'null'))) n), '{}'),
       coalesce((SELECT array_agg(k ORDER BY k) FROM (
                     SELECT e.key AS k
                     FROM monitoring.labeled_prediction_rows f, jsonb_each(f.features) e
                     WHERE f.model_name = r.model_name AND f.partition_date = r.partition_date
                     GROUP BY e.key
                     HAVING NOT bool_and(jsonb_typeof(e.value) IN ('number', 'null'))) t), '{}'),
       min(r.run_id), min(r.produced_at)
FROM monitoring.labeled_prediction_rows r
GROUP BY r.partition_date, r.model_name;

UPDATE monitoring.labeled_prediction_rows r
SET cohort_values = ARRAY(SELECT r.cohorts ->> a FROM unnest(l.cohort_attributes) WITH ORDINALITY AS u(a, i) ORDER BY i),
    numeric_features = ARRAY(SELECT monitoring.number_or_null(r.features ->> f) FROM unnest(l.numeric_features) WITH ORDINALITY AS u(f, i) ORDER BY i),
    categorical_features = ARRAY(SELECT r.features ->> f FROM unnest(l.categorical_features) WITH ORDINALITY AS u(f, i) ORDER BY i)
FROM monitoring.labeled_prediction_layouts l
WHERE l.model_name = r.model_name AND l.partition_date = r.partition_date;

ALTER TABLE monitoring.labeled_prediction_rows
    DROP COLUMN cohorts,
    DROP COLUMN features,
    ALTER COLUMN cohort_values SET NOT NULL,
    ALTER COLUMN numeric_features SET NOT NULL,
    ALTER COLUMN categorical_features SET NOT NULL;

CREATE VIEW monitoring.labeled_predictions AS
SELECT r.partition_date, r.model_name, r.prediction_id, r.scored_at, r.model_version, r.score,
       r.decision, r.label, r.first_labelled_at, r.labelled_at, r.label_lag_hours,
       r.label_revisions,
       coalesce((SELECT jsonb_object_agg(a.name, r.cohort_values[a.i])
                 FROM unnest(l.cohort_attributes) WITH ORDINALITY AS a(name, i)), '{}'::jsonb)
           AS cohorts,
       coalesce((SELECT jsonb_object_agg(n.name, to_jsonb(r.numeric_features[n.i]))
                 FROM unnest(l.numeric_features) WITH ORDINALITY AS n(name, i)), '{}'::jsonb)
       || coalesce((SELECT jsonb_object_agg(c.name, to_jsonb(r.categorical_features[c.i]))
                    FROM unnest(l.categorical_features) WITH ORDINALITY AS c(name, i)), '{}'::jsonb)
       || coalesce(r.unparsed_features, '{}'::jsonb)
           AS features,
       r.run_id, r.produced_at
FROM monitoring.labeled_prediction_rows r
LEFT JOIN monitoring.labeled_prediction_layouts l
    ON l.model_name = r.model_name AND l.partition_date = r.partition_date;

COMMENT ON TABLE monitoring.labeled_prediction_rows IS
    'Storage behind the labeled_predictions view (query the view): each valid prediction of the day with its newest label, cohort and feature values in typed arrays whose positions labeled_prediction_layouts names per partition.';
COMMENT ON COLUMN monitoring.labeled_prediction_rows.cohort_values IS 'Cohort attribute values, in the order of labeled_prediction_layouts.cohort_attributes.';
COMMENT ON COLUMN monitoring.labeled_prediction_rows.numeric_features IS 'Numeric feature values, in the order of labeled_prediction_layouts.numeric_features; NULL when missing, not finite, or not a number (then kept verbatim in unparsed_features).';
COMMENT ON COLUMN monitoring.labeled_prediction_rows.categorical_features IS 'Categorical feature values as text (numbers as written, true/false), in the order of labeled_prediction_layouts.categorical_features; NULL when missing.';
COMMENT ON COLUMN monitoring.labeled_prediction_rows.unparsed_features IS 'Numeric feature values that are not numbers (e.g. {"income": "n/a"}), verbatim; NULL when there is none (nearly always). They count as missing in drift.';

COMMENT ON TABLE monitoring.labeled_prediction_layouts IS
    'One row per (model, day) of labeled_prediction_rows: the names behind the positions of its value arrays (the config of the day it was written), replaced with the partition.';
COMMENT ON COLUMN monitoring.labeled_prediction_layouts.cohort_attributes IS 'Names of labeled_prediction_rows.cohort_values, by position.';
COMMENT ON COLUMN monitoring.labeled_prediction_layouts.numeric_features IS 'Names of labeled_prediction_rows.numeric_features, by position.';
COMMENT ON COLUMN monitoring.labeled_prediction_layouts.categorical_features IS 'Names of labeled_prediction_rows.categorical_features, by position.';

COMMENT ON VIEW monitoring.labeled_predictions IS
    'Each valid prediction of the day with its newest label. Unlabelled predictions stay (label NULL): their labels may still come and a re-run attaches them. A view over labeled_prediction_rows: cohorts and features are JSON objects rebuilt from its typed arrays.';
COMMENT ON COLUMN monitoring.labeled_predictions.partition_date IS 'UTC day of scored_at: the Dagster partition.';
COMMENT ON COLUMN monitoring.labeled_predictions.model_name IS 'Monitored model, as named in the config file.';
COMMENT ON COLUMN monitoring.labeled_predictions.prediction_id IS 'Unique id of the prediction in the source log.';
COMMENT ON COLUMN monitoring.labeled_predictions.scored_at IS 'When the model scored the case.';
COMMENT ON COLUMN monitoring.labeled_predictions.model_version IS 'Model version that produced the score.';
COMMENT ON COLUMN monitoring.labeled_predictions.score IS 'Predicted probability of the positive class, in [0, 1].';
COMMENT ON COLUMN monitoring.labeled_predictions.decision IS '1 when the model acted positively (approve, shortlist...), else 0; from the log or score >= threshold.';
COMMENT ON COLUMN monitoring.labeled_predictions.label IS 'Newest ground-truth label (1 = positive class), NULL while none has arrived.';
COMMENT ON COLUMN monitoring.labeled_predictions.first_labelled_at IS 'When the first label for this prediction arrived.';
COMMENT ON COLUMN monitoring.labeled_predictions.labelled_at IS 'When the newest (used) label arrived; later than first_labelled_at when corrected.';
COMMENT ON COLUMN monitoring.labeled_predictions.label_lag_hours IS 'Hours from scored_at to first_labelled_at: how long ground truth took to arrive.';
COMMENT ON COLUMN monitoring.labeled_predictions.label_revisions IS 'Number of label rows received for the prediction (0 = unlabelled, 2+ = corrected).';
COMMENT ON COLUMN monitoring.labeled_predictions.cohorts IS 'Cohort attribute values, e.g. {"sex": "female", "region": "west"}.';
COMMENT ON COLUMN monitoring.labeled_predictions.features IS 'Watched feature values: numeric ones as JSON numbers (null when missing or not finite; a value that is not a number as written), categorical ones as text.';
COMMENT ON COLUMN monitoring.labeled_predictions.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.labeled_predictions.produced_at IS 'When that run wrote it.';

COMMENT ON FUNCTION monitoring.number_or_null(text) IS 'The number a text holds (surrounding blanks allowed), else NULL: how the pipeline reads a value stored as text where a number is expected.';
