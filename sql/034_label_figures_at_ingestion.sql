-- Label figures of a day counted while its rows are written (issue 12, "move fewer rows"):
-- label_status published them by reading the day's rows back (2 s of a 1M-row day, 25 s of
-- a 10M-row one). ingestion_stats now keeps them; label_status publishes them from there,
-- and reads the rows only for a day written before this migration (these columns NULL).
ALTER TABLE monitoring.ingestion_stats
    ADD COLUMN IF NOT EXISTS labelled bigint,
    ADD COLUMN IF NOT EXISTS corrected bigint,
    ADD COLUMN IF NOT EXISTS positives bigint,
    ADD COLUMN IF NOT EXISTS label_lag_p50_hours double precision,
    ADD COLUMN IF NOT EXISTS label_lag_p90_hours double precision,
    ADD COLUMN IF NOT EXISTS label_lag_p99_hours double precision,
    ADD COLUMN IF NOT EXISTS label_lag_max_hours double precision;

COMMENT ON COLUMN monitoring.ingestion_stats.labelled IS
    'Written rows with a label (label_status.labelled, counted as they were written). NULL for days written before migration 034.';
COMMENT ON COLUMN monitoring.ingestion_stats.corrected IS
    'Written rows whose label was revised (more than one label row). NULL for days written before migration 034.';
COMMENT ON COLUMN monitoring.ingestion_stats.positives IS
    'Written rows labelled 1. NULL for days written before migration 034.';
COMMENT ON COLUMN monitoring.ingestion_stats.label_lag_p50_hours IS
    'Median hours from scoring to the first label over the labelled written rows (exactly percentile_cont(0.5)); NULL when none is labelled, or for days written before migration 034.';
COMMENT ON COLUMN monitoring.ingestion_stats.label_lag_p90_hours IS
    'percentile_cont(0.9) of the label lag in hours (as label_lag_p50_hours).';
COMMENT ON COLUMN monitoring.ingestion_stats.label_lag_p99_hours IS
    'percentile_cont(0.99) of the label lag in hours (as label_lag_p50_hours).';
COMMENT ON COLUMN monitoring.ingestion_stats.label_lag_max_hours IS
    'Largest label lag in hours (as label_lag_p50_hours).';
