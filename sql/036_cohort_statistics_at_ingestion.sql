-- The day's cohort statistics counted while labeled_predictions writes its rows (issue 12,
-- "move fewer rows"): cohort_metrics read the day's rows back to count them (3.3 s of a
-- 1.1M-row day). labeled_predictions now keeps what it counted here, in cohort_stats' and
-- estimation_stats' own columns, with the checksum of what they were counted by (the
-- cohort attributes, intersections and score bins); cohort_metrics publishes them when the
-- checksum is that of the config it runs with, and reads the rows otherwise (a day written
-- before this migration, or a cohort setting changed since). Like the tables they feed,
-- they hold unsuppressed counts: not readable by monitoring_reader (default privileges).

CREATE TABLE IF NOT EXISTS monitoring.ingested_cohort_stats
    (LIKE monitoring.cohort_stats INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE monitoring.ingested_cohort_stats
    ADD COLUMN IF NOT EXISTS spec_checksum text NOT NULL,
    ADD PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value);

CREATE TABLE IF NOT EXISTS monitoring.ingested_estimation_stats
    (LIKE monitoring.estimation_stats INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE monitoring.ingested_estimation_stats
    ADD COLUMN IF NOT EXISTS spec_checksum text NOT NULL,
    ADD PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, decision);

COMMENT ON TABLE monitoring.ingested_cohort_stats IS
    'cohort_stats of a day as labeled_predictions counted them while writing its rows; cohort_metrics publishes them (internal: read cohort_stats).';
COMMENT ON COLUMN monitoring.ingested_cohort_stats.spec_checksum IS
    'Checksum of the cohort attributes, intersections and score bins the statistics were counted by; cohort_metrics reads the rows instead when its config gives another.';
COMMENT ON TABLE monitoring.ingested_estimation_stats IS
    'estimation_stats of a day as labeled_predictions counted them while writing its rows; cohort_metrics publishes them (internal: read estimation_stats).';
COMMENT ON COLUMN monitoring.ingested_estimation_stats.spec_checksum IS
    'As in ingested_cohort_stats.';
