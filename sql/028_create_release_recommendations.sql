-- Canary gating: an SLO may read monitoring.version_comparison (source version_comparison:
-- how much worse the newest model version does, per cohort). A firing alert of such an SLO
-- recommends holding the candidate's rollout or rolling it back; the recommendation is
-- recorded here once per alert, like a retraining request.

CREATE TABLE IF NOT EXISTS monitoring.release_recommendations (
    alert_dedupe_key   text             PRIMARY KEY,
    model_name         text             NOT NULL,
    slo_name           text             NOT NULL,
    as_of              date             NOT NULL,
    action             text             NOT NULL CHECK (action IN ('hold', 'rollback')),
    candidate_version  text             NOT NULL,
    incumbent_version  text             NOT NULL,
    candidate_share    double precision,
    evidence           jsonb            NOT NULL,
    status             text             NOT NULL DEFAULT 'recommended',
    run_id             text             NOT NULL,
    recorded_at        timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS release_recommendations_model_idx
    ON monitoring.release_recommendations (model_name, recorded_at);
COMMENT ON TABLE monitoring.release_recommendations IS
    'What a worse canary''s alert recommends, one row per firing alert of a version_comparison SLO: hold the candidate''s rollout, or roll it back once it serves most predictions.';
COMMENT ON COLUMN monitoring.release_recommendations.alert_dedupe_key IS 'The alert that made it (monitoring.alerts.dedupe_key).';
COMMENT ON COLUMN monitoring.release_recommendations.slo_name IS 'The version_comparison SLO that burnt.';
COMMENT ON COLUMN monitoring.release_recommendations.as_of IS 'Day the alert was decided for.';
COMMENT ON COLUMN monitoring.release_recommendations.action IS 'hold (the candidate serves less than half the predictions of the evidence day) or rollback.';
COMMENT ON COLUMN monitoring.release_recommendations.candidate_version IS 'The newer version that does worse.';
COMMENT ON COLUMN monitoring.release_recommendations.incumbent_version IS 'The version it does worse than.';
COMMENT ON COLUMN monitoring.release_recommendations.candidate_share IS 'The candidate''s share of the evidence day''s predictions.';
COMMENT ON COLUMN monitoring.release_recommendations.evidence IS 'metric, cohort, harm (how much worse, positive = worse) with its 95% interval, and the sentence the alert shows.';
COMMENT ON COLUMN monitoring.release_recommendations.status IS 'recommended (what the release process does with it is recorded by that process).';
COMMENT ON COLUMN monitoring.release_recommendations.run_id IS 'Dagster run (alert_job) that recorded it.';
COMMENT ON COLUMN monitoring.release_recommendations.recorded_at IS 'When.';
