-- Bad input that no single row shows (issue 14): the same prediction id on two days, and
-- labels for ids no prediction has.
--
-- * ingestion_stats.ids_on_other_days: how many of the day's written prediction ids are
--   also stored on another day of the model. Such rows are kept on both days and counted,
--   not quarantined (README, "Bad input: what happens", says why).
-- * labels_orphaned is now counted for every source: label rows delivered on the day whose
--   id matches no stored prediction of the model. It is NULL when the delivery day cannot
--   be told (a table source whose labelled_at column is not a timestamp).
-- * An index on (model_name, prediction_id) answers both per id, whatever the day.
ALTER TABLE monitoring.ingestion_stats ADD COLUMN IF NOT EXISTS ids_on_other_days bigint;
ALTER TABLE monitoring.ingestion_stats ALTER COLUMN labels_orphaned DROP NOT NULL;

COMMENT ON COLUMN monitoring.ingestion_stats.ids_on_other_days IS
    'Distinct prediction ids written on this day that are also stored on another day of the model (kept on both days, counted here; compared with the days stored when this day ran). NULL for days written before this count existed.';
COMMENT ON COLUMN monitoring.ingestion_stats.labels_orphaned IS
    'Label rows delivered on this day (file sources: the label file dated this day; table sources: labelled_at on this UTC day) whose prediction id matches no prediction written for the model on any day (absent or quarantined), or that have no id. NULL when a table source''s labelled_at column is not a timestamp (the delivery day cannot be told in SQL).';

CREATE INDEX IF NOT EXISTS labeled_prediction_rows_id_idx
    ON monitoring.labeled_prediction_rows (model_name, prediction_id);
COMMENT ON INDEX monitoring.labeled_prediction_rows_id_idx IS
    'Finds a prediction id on any day of a model: ids repeated across days, labels without a prediction.';
