-- One stored row per prediction and day: (model_name, partition_date, prediction_id) is a
-- key of monitoring.labeled_prediction_rows, so no run can ever store a prediction twice.
-- The ingest already keeps at most one row per id and day (repeated ids are quarantined:
-- an exact copy keeps its first row, conflicting copies none), and partition writes are
-- serialised by an advisory lock per (table, model, day); the key makes the rule hold for
-- every writer, and a bug that breaks it fails the write instead of doubling a day.
--
-- Before the lock existed, two runs of one day at once could store each row twice (issue
-- 14). Such copies are removed first, keeping the row of the newest run (latest
-- produced_at, then run_id); re-materialize those days (their label_status and cohort
-- figures were computed on the doubled rows). On a table without duplicates this deletes
-- nothing, and a second application does nothing at all.
DELETE FROM monitoring.labeled_prediction_rows AS r
USING (
    SELECT ctid
    FROM (
        SELECT ctid,
               row_number() OVER (
                   PARTITION BY model_name, partition_date, prediction_id
                   ORDER BY produced_at DESC, run_id DESC
               ) AS copy
        FROM monitoring.labeled_prediction_rows
    ) AS ranked
    WHERE copy > 1
) AS extra
WHERE r.ctid = extra.ctid;

CREATE UNIQUE INDEX IF NOT EXISTS labeled_prediction_rows_key
    ON monitoring.labeled_prediction_rows (model_name, partition_date, prediction_id);
COMMENT ON INDEX monitoring.labeled_prediction_rows_key IS
    'Key of the stored labeled predictions: one row per (model_name, partition_date, prediction_id).';
