-- One index fewer to keep up on every written row (issue 12): the key of
-- labeled_prediction_rows is now ordered (model_name, prediction_id, partition_date), so it
-- also finds an id on any day of a model, which the separate index
-- labeled_prediction_rows_id_idx (sql/018) was kept for. The same three columns stay unique,
-- so no row that was allowed is refused, nor the reverse. A day's rows are found through
-- labeled_prediction_rows_partition_idx (model_name, partition_date), as before.
--
-- Measured on the benchmark's 1.1M-row day (binary COPY into a copy of the table holding
-- earlier days): the key and the id index together cost 5.4 s of 8.8 s; one index about
-- half of that. Building the new key reads the whole table once, under this migration's
-- lock.
CREATE UNIQUE INDEX IF NOT EXISTS labeled_prediction_rows_key_by_id
    ON monitoring.labeled_prediction_rows (model_name, prediction_id, partition_date);
DROP INDEX IF EXISTS monitoring.labeled_prediction_rows_key;
DROP INDEX IF EXISTS monitoring.labeled_prediction_rows_id_idx;
ALTER INDEX monitoring.labeled_prediction_rows_key_by_id RENAME TO labeled_prediction_rows_key;
COMMENT ON INDEX monitoring.labeled_prediction_rows_key IS
    'Key of the stored labeled predictions: one row per (model_name, prediction_id, partition_date); also finds an id on any day of a model (ids repeated across days, labels without a prediction).';
