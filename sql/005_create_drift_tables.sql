-- Drift of watched features and of the score, overall and per cohort, against a baseline.
--
-- feature_bins: the bins of each (model, feature), fitted once on the raw rows of the
--   baseline's first window and refitted only when the configuration they were fitted
--   with changes (bins count, baseline window).
-- feature_histograms: additive counts per day on those bins: a baseline window is the sum
--   of its days, so a 28-day window never rereads labeled_predictions.
-- drift: one row per (day, cohort, feature, method), with raw and Benjamini-Hochberg
--   adjusted p-values, threshold, direction and the baseline used.
-- feature_histograms and drift are replaced per (model_name, partition_date) in one
-- transaction, like every partitioned table.

CREATE TABLE IF NOT EXISTS monitoring.feature_bins (
    model_name        text               NOT NULL,
    feature           text               NOT NULL,
    feature_kind      text               NOT NULL CHECK (feature_kind IN ('numeric', 'categorical')),
    edges             double precision[],
    categories        text[],
    n_bins_requested  integer,
    max_categories    integer,
    n_bins            integer            NOT NULL,
    fitted_from       date               NOT NULL,
    fitted_to         date               NOT NULL,
    fitted_values     bigint             NOT NULL,
    bins_checksum     text               NOT NULL,
    run_id            text               NOT NULL,
    produced_at       timestamptz        NOT NULL,
    PRIMARY KEY (model_name, feature),
    CHECK ((feature_kind = 'numeric') = (edges IS NOT NULL)),
    CHECK ((feature_kind = 'categorical') = (categories IS NOT NULL))
);
COMMENT ON TABLE monitoring.feature_bins IS
    'Drift bins of each watched feature of a model (and of the model score, feature ''score''), fitted once on the raw rows of the baseline''s first window: a fixed baseline''s start..end, or the first preceding_days days from partitions_start. Refitted only when the bins count, the baseline window or the feature kind in the config changes. Numeric: quantile edges of the baseline (bin i is [edge i-1, edge i) with -inf and +inf outside, ties merge bins); categorical: the baseline''s categories, most frequent first, plus __other__ for values never seen. Nulls are never a value bin: they feed null_rate_change.';
COMMENT ON COLUMN monitoring.feature_bins.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.feature_bins.feature IS 'Watched feature, or ''score'' for the model''s score.';
COMMENT ON COLUMN monitoring.feature_bins.feature_kind IS 'numeric (quantile bins) or categorical (baseline categories).';
COMMENT ON COLUMN monitoring.feature_bins.edges IS 'Numeric: the strictly increasing inner edges, the baseline''s 1/n .. (n-1)/n quantiles (linear interpolation, duplicates removed); NULL for categorical.';
COMMENT ON COLUMN monitoring.feature_bins.categories IS 'Categorical: the categories seen in the baseline, most frequent first (ties by name), at most max_categories; rarer and unseen values count in bin __other__. NULL for numeric.';
COMMENT ON COLUMN monitoring.feature_bins.n_bins_requested IS 'Numeric: baseline.bins of the config at fit time (compared to refit on change); NULL for categorical.';
COMMENT ON COLUMN monitoring.feature_bins.max_categories IS 'Categorical: the cap on categories kept at fit time; NULL for numeric.';
COMMENT ON COLUMN monitoring.feature_bins.n_bins IS 'Value bins actually in use (numeric: edges + 1, fewer than requested when the baseline has ties; categorical: categories + 1 for __other__). The null bin is not counted.';
COMMENT ON COLUMN monitoring.feature_bins.fitted_from IS 'First day of the raw rows the bins were fitted on.';
COMMENT ON COLUMN monitoring.feature_bins.fitted_to IS 'Last day of the raw rows the bins were fitted on.';
COMMENT ON COLUMN monitoring.feature_bins.fitted_values IS 'Non-null values the bins were fitted on (0: no value in the window; numeric then has one bin, categorical only __other__).';
COMMENT ON COLUMN monitoring.feature_bins.bins_checksum IS 'Fingerprint of the bins (kind, edges or categories): feature_histograms rows count on these bins only when their bins_checksum is equal.';
COMMENT ON COLUMN monitoring.feature_bins.run_id IS 'Dagster run that fitted the bins.';
COMMENT ON COLUMN monitoring.feature_bins.produced_at IS 'When that run fitted them.';

CREATE TABLE IF NOT EXISTS monitoring.feature_histograms (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    model_version     text             NOT NULL,
    cohort_attribute  text             NOT NULL,
    cohort_value      text             NOT NULL,
    feature           text             NOT NULL,
    feature_kind      text             NOT NULL CHECK (feature_kind IN ('numeric', 'categorical')),
    bin               text             NOT NULL,
    bin_lower         double precision,
    bin_upper         double precision,
    count             bigint           NOT NULL,
    bins_checksum     text             NOT NULL,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, feature, bin)
);
COMMENT ON TABLE monitoring.feature_histograms IS
    'Additive counts of each watched feature (and the score) per day and cohort on the bins of feature_bins: the histogram of a window is the sum of its days'' counts (same bins_checksum). Every bin appears, zero counts included. Cohorts: ''all'' and each value of each cohort attribute (a missing value is ''__missing__''). Written by the drift asset for its day; when bins are first fitted, also for the days of the fitting window.';
COMMENT ON COLUMN monitoring.feature_histograms.partition_date IS 'Day counted (UTC day of scored_at).';
COMMENT ON COLUMN monitoring.feature_histograms.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.feature_histograms.model_version IS '''all'': every model version of the day together.';
COMMENT ON COLUMN monitoring.feature_histograms.cohort_attribute IS '''all'' or a cohort attribute (''region'').';
COMMENT ON COLUMN monitoring.feature_histograms.cohort_value IS '''all'' or the attribute''s value (''west'').';
COMMENT ON COLUMN monitoring.feature_histograms.feature IS 'Watched feature, or ''score''.';
COMMENT ON COLUMN monitoring.feature_histograms.feature_kind IS 'numeric or categorical.';
COMMENT ON COLUMN monitoring.feature_histograms.bin IS 'Numeric: bin index as zero-padded text (''000'' is the lowest; text order is bin order); categorical: the category, or ''__other__''; ''__null__'' counts missing values (non-numeric values of a numeric feature count as missing).';
COMMENT ON COLUMN monitoring.feature_histograms.bin_lower IS 'Numeric bins: inclusive lower edge (-Infinity for the first bin); NULL for categories and __null__.';
COMMENT ON COLUMN monitoring.feature_histograms.bin_upper IS 'Numeric bins: exclusive upper edge (Infinity for the last bin); NULL for categories and __null__.';
COMMENT ON COLUMN monitoring.feature_histograms.count IS 'Predictions of the day and cohort whose value falls in the bin.';
COMMENT ON COLUMN monitoring.feature_histograms.bins_checksum IS 'feature_bins.bins_checksum of the bins counted on; rows on other (older) bins are ignored by drift.';
COMMENT ON COLUMN monitoring.feature_histograms.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.feature_histograms.produced_at IS 'When that run wrote it.';

CREATE TABLE IF NOT EXISTS monitoring.drift (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    model_version     text             NOT NULL,
    cohort_attribute  text             NOT NULL,
    cohort_value      text             NOT NULL,
    feature           text             NOT NULL,
    feature_kind      text             NOT NULL CHECK (feature_kind IN ('numeric', 'categorical')),
    method            text             NOT NULL CHECK (method IN ('psi', 'ks', 'js', 'chi2', 'null_rate_change')),
    statistic         double precision,
    p_value           double precision,
    p_value_adjusted  double precision,
    lower             double precision,
    upper             double precision,
    threshold         double precision NOT NULL,
    direction         text             NOT NULL CHECK (direction IN ('higher_is_drift', 'lower_is_drift', 'abs_higher_is_drift')),
    decided_on        text             NOT NULL CHECK (decided_on IN ('statistic', 'p_value_adjusted', 'interval')),
    drifted           boolean,
    sufficient        boolean          NOT NULL,
    n_reference       bigint,
    n_current         bigint,
    baseline_from     date,
    baseline_to       date,
    baseline_days     integer          NOT NULL,
    status            text             NOT NULL CHECK (status IN ('ok', 'partial_baseline', 'no_baseline')),
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, model_version, cohort_attribute, cohort_value, feature, method)
);
COMMENT ON TABLE monitoring.drift IS
    'Each watched feature (and the score) of a day against the baseline, overall and per cohort. Numeric: psi, ks, js, null_rate_change; categorical: psi, js, chi2, null_rate_change. Baseline: a fixed start..end, or the preceding_days days before the day, summed from feature_histograms; days inside the bins'' fitting window (or before bins exist) have status no_baseline and no figures. psi = sum((q - p) ln(q / p)) over value bins, a proportion of 0 replaced by 1e-4 and both sides renormalised; js = Jensen-Shannon distance, natural log, in [0, sqrt(ln 2)]; ks = two-sample Kolmogorov-Smirnov on the ordered bins (CDFs at bin edges, asymptotic p-value); chi2 = Pearson chi-square of homogeneity, no Yates correction; null_rate_change = current minus baseline null share with a 95% Newcombe interval. p-values are adjusted with Benjamini-Hochberg across all sufficient ks and chi2 tests of the model and day (features x cohorts).';
COMMENT ON COLUMN monitoring.drift.partition_date IS 'Day compared (the current side).';
COMMENT ON COLUMN monitoring.drift.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.drift.model_version IS '''all'': every model version of the day together.';
COMMENT ON COLUMN monitoring.drift.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.drift.cohort_value IS '''all'' or the attribute''s value.';
COMMENT ON COLUMN monitoring.drift.feature IS 'Watched feature, or ''score'' (score drift).';
COMMENT ON COLUMN monitoring.drift.feature_kind IS 'numeric or categorical.';
COMMENT ON COLUMN monitoring.drift.method IS 'psi, ks, js (Jensen-Shannon distance), chi2 or null_rate_change (see the table comment).';
COMMENT ON COLUMN monitoring.drift.statistic IS 'The test''s figure: PSI, KS D, JS distance, chi-square statistic, or the null-share change (current - baseline). NULL when undefined (no baseline, an empty side).';
COMMENT ON COLUMN monitoring.drift.p_value IS 'Raw p-value (ks, chi2); NULL for the other methods.';
COMMENT ON COLUMN monitoring.drift.p_value_adjusted IS 'Benjamini-Hochberg adjusted p-value within the family of the model and day: every ks and chi2 row with sufficient = true. NULL outside the family.';
COMMENT ON COLUMN monitoring.drift.lower IS 'null_rate_change: lower bound of the 95% Newcombe interval of the change; NULL for other methods.';
COMMENT ON COLUMN monitoring.drift.upper IS 'null_rate_change: upper bound of that interval.';
COMMENT ON COLUMN monitoring.drift.threshold IS 'Threshold applied (configured, else the default: psi 0.25, js 0.1, ks and chi2 0.05 = false discovery rate, null_rate_change 0.05 = 5 points).';
COMMENT ON COLUMN monitoring.drift.direction IS 'higher_is_drift (psi, js: statistic >= threshold), lower_is_drift (ks, chi2: adjusted p-value < threshold), abs_higher_is_drift (null_rate_change: the interval lies wholly above +threshold or below -threshold).';
COMMENT ON COLUMN monitoring.drift.decided_on IS 'What the threshold is compared with: statistic, p_value_adjusted or interval.';
COMMENT ON COLUMN monitoring.drift.drifted IS 'Whether the test flags drift; NULL when not sufficient, undefined or without baseline: never false in their place.';
COMMENT ON COLUMN monitoring.drift.sufficient IS 'Both sides have enough observations for the method (defaults: 100 for ks, chi2 and null_rate_change; 500 for psi and js, whose small-sample bias is about (bins - 1) x (1/n + 1/m)).';
COMMENT ON COLUMN monitoring.drift.n_reference IS 'Baseline observations: non-null values (all rows for null_rate_change). NULL when the day could not be binned.';
COMMENT ON COLUMN monitoring.drift.n_current IS 'Observations of the day, counted the same way. NULL when the day could not be binned (no bins yet).';
COMMENT ON COLUMN monitoring.drift.baseline_from IS 'First day of the baseline window (the fixed start, or the day minus preceding_days); NULL when the day has no window (inside the fitting window, or no bins yet).';
COMMENT ON COLUMN monitoring.drift.baseline_to IS 'Last day of the baseline window (the fixed end, or the day before); NULL when the day has no window.';
COMMENT ON COLUMN monitoring.drift.baseline_days IS 'Days of the window whose histograms of this feature were found and summed (0 with no_baseline).';
COMMENT ON COLUMN monitoring.drift.status IS 'ok: every day of the window found; partial_baseline: some days missing (not yet materialized or without traffic), the rest used; no_baseline: the day lies inside the bins'' fitting window, the fitting window is not materialized yet, or no day of the window was found.';
COMMENT ON COLUMN monitoring.drift.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.drift.produced_at IS 'When that run wrote it.';
