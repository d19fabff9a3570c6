-- Adaptive objectives (config objective.adaptive): an SLO's objective may follow the
-- figure's own history, mean +/- k sd of its readings judged good over a window before the
-- day. objective_value then holds the day's band edge; the band itself is stored beside it.

ALTER TABLE monitoring.slo_evaluations
    ADD COLUMN IF NOT EXISTS objective_kind text NOT NULL DEFAULT 'fixed',
    ADD COLUMN IF NOT EXISTS band_mean double precision,
    ADD COLUMN IF NOT EXISTS band_sd double precision,
    ADD COLUMN IF NOT EXISTS band_days integer;

COMMENT ON COLUMN monitoring.slo_evaluations.objective_value IS 'The objective threshold the day was judged against: the configured value, or for an adaptive objective the day''s band edge (band_mean + k band_sd for <= and <, band_mean - k band_sd for >= and >; the configured value while the history is shorter than min_days).';
COMMENT ON COLUMN monitoring.slo_evaluations.objective_kind IS 'fixed (the configured value) or adaptive (follows the SLO''s own history: objective.adaptive in the config).';
COMMENT ON COLUMN monitoring.slo_evaluations.band_mean IS 'Adaptive objective: mean of the SLO''s readings judged good over the window_days before the day (NULL: fixed objective, or history shorter than min_days).';
COMMENT ON COLUMN monitoring.slo_evaluations.band_sd IS 'Adaptive objective: their sample standard deviation.';
COMMENT ON COLUMN monitoring.slo_evaluations.band_days IS 'Adaptive objective: how many readings the band rests on.';
