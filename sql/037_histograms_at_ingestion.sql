-- The day's feature histograms counted while labeled_predictions writes its rows (issue 12,
-- "move fewer rows"): drift read the day's rows back to count them (most of its 7.4 s on a
-- 1.1M-row day). When every watched feature has bins the current config would fit,
-- labeled_predictions counts the day on them and keeps the counts here, with the checksum
-- of those bins and of the cohort attributes (spec_checksum); drift uses them when its bins
-- and attributes give the same checksum, and reads the rows otherwise (days ingested before
-- the bins were fitted, bins refitted since, days written before this migration).

CREATE TABLE IF NOT EXISTS monitoring.ingested_feature_histograms
    (LIKE monitoring.feature_histograms INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE monitoring.ingested_feature_histograms
    ADD COLUMN IF NOT EXISTS spec_checksum text NOT NULL,
    ADD PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, feature, bin);

COMMENT ON TABLE monitoring.ingested_feature_histograms IS
    'feature_histograms of a day as labeled_predictions counted them while writing its rows, on the bins valid then; drift stores them as the day''s feature_histograms (internal: read feature_histograms).';
COMMENT ON COLUMN monitoring.ingested_feature_histograms.spec_checksum IS
    'Checksum of the cohort attributes and of every watched feature''s bins (bins_checksum) the day was counted by; drift reads the rows instead when its own give another.';
