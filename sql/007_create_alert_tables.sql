-- Alerts raised from error budgets (and, later, other signal sources) and every attempt to
-- deliver them. The error_budget_sensor records an alert when it decides to notify (delivery
-- pending); alert_job adds the evidence and the delivery outcome. These rows are the durable
-- alert state: which episode is open, at which level, when the last one was resolved.

CREATE TABLE IF NOT EXISTS monitoring.alerts (
    dedupe_key             text        NOT NULL,
    kind                   text        NOT NULL CHECK (kind IN ('firing', 'resolved')),
    source                 text        NOT NULL,
    model_name             text        NOT NULL,
    subject                text        NOT NULL,
    severity               text        NOT NULL CHECK (severity IN ('ticket', 'page')),
    episode_start          date        NOT NULL,
    as_of                  date        NOT NULL,
    reason                 text        NOT NULL,
    retraining_requested   boolean     NOT NULL DEFAULT false,
    decided_at             timestamptz NOT NULL,
    delivery_status        text        NOT NULL DEFAULT 'pending'
                                       CHECK (delivery_status IN ('pending', 'delivered', 'failed')),
    delivered_at           timestamptz,
    summary                text,
    evidence               jsonb,
    affected_partitions    date[],
    worst_cohorts          jsonb,
    run_id                 text,
    produced_at            timestamptz,
    PRIMARY KEY (dedupe_key, kind)
);
CREATE INDEX IF NOT EXISTS alerts_subject_idx
    ON monitoring.alerts (source, model_name, subject, episode_start);
CREATE INDEX IF NOT EXISTS alerts_pending_idx
    ON monitoring.alerts (decided_at) WHERE delivery_status = 'pending';
COMMENT ON TABLE monitoring.alerts IS
    'One row per notification: an episode (a subject leaving ok until it returns to ok) fires once at its first level, again on escalation from ticket to page, and sends one resolved notice on recovery. Written when the error_budget_sensor decides (delivery_status pending), completed by alert_job (evidence, delivery outcome). Never duplicated: the key is (dedupe_key, kind).';
COMMENT ON COLUMN monitoring.alerts.dedupe_key IS 'source:model:subject:severity:episode start day, e.g. error_budget:loan_approval:tpr_gap_region:page:2026-11-16. Stable across sensor ticks and restarts; also the Dagster run key of the alert run.';
COMMENT ON COLUMN monitoring.alerts.kind IS 'firing (the episode reached this severity) or resolved (the subject recovered to ok; severity is the episode''s highest).';
COMMENT ON COLUMN monitoring.alerts.source IS 'What raised the signal: error_budget (an SLO''s error budget status).';
COMMENT ON COLUMN monitoring.alerts.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.alerts.subject IS 'What is watched within the source: the SLO name for error_budget.';
COMMENT ON COLUMN monitoring.alerts.severity IS 'ticket (low: act within days) or page (high: act now).';
COMMENT ON COLUMN monitoring.alerts.episode_start IS 'Day of the observation that opened the episode.';
COMMENT ON COLUMN monitoring.alerts.as_of IS 'Day of the observation behind this notification (the error_budgets partition_date).';
COMMENT ON COLUMN monitoring.alerts.reason IS 'Why it was sent: new episode, escalation, recovery, or a manual run.';
COMMENT ON COLUMN monitoring.alerts.retraining_requested IS 'Whether the page also requested retraining_job (SLO retrain_on_page).';
COMMENT ON COLUMN monitoring.alerts.decided_at IS 'When the notification was decided (sensor tick, or the alert_job run for a manual launch).';
COMMENT ON COLUMN monitoring.alerts.delivery_status IS 'pending (alert_job has not finished), delivered (every destination accepted it) or failed (a destination never did; see alert_deliveries; re-execute the run to retry the rest).';
COMMENT ON COLUMN monitoring.alerts.delivered_at IS 'When the last destination accepted it; NULL unless delivered.';
COMMENT ON COLUMN monitoring.alerts.summary IS 'The one-line text delivered (Slack "text").';
COMMENT ON COLUMN monitoring.alerts.evidence IS 'Everything delivered as JSON: the error budget figures of the as_of row (status, evidence_through, known/bad days, budget, consumed, remaining, burn rates, windows, objective), affected partitions with their readings, worst cohorts.';
COMMENT ON COLUMN monitoring.alerts.affected_partitions IS 'Bad days (slo_evaluations status bad) of the compliance period ending on as_of.';
COMMENT ON COLUMN monitoring.alerts.worst_cohorts IS 'The cohorts furthest beyond the objective on the last day with evidence, from the SLI''s source table: cohort, value, 95% interval (lower, upper), sufficient.';
COMMENT ON COLUMN monitoring.alerts.run_id IS 'The alert_job run that gathered the evidence and delivered; NULL while pending.';
COMMENT ON COLUMN monitoring.alerts.produced_at IS 'When that run wrote the evidence.';

CREATE TABLE IF NOT EXISTS monitoring.alert_deliveries (
    dedupe_key     text             NOT NULL,
    kind           text             NOT NULL,
    destination    text             NOT NULL,
    attempt        integer          NOT NULL CHECK (attempt >= 1),
    attempted_at   timestamptz      NOT NULL,
    outcome        text             NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    http_status    integer,
    error          text,
    elapsed_ms     double precision NOT NULL,
    run_id         text             NOT NULL,
    produced_at    timestamptz      NOT NULL,
    PRIMARY KEY (dedupe_key, kind, destination, attempt),
    FOREIGN KEY (dedupe_key, kind) REFERENCES monitoring.alerts (dedupe_key, kind)
);
COMMENT ON TABLE monitoring.alert_deliveries IS
    'Every attempt to deliver an alert to a destination (the log, or a named webhook), in order. Attempts are numbered per (alert, destination) across runs, so a re-executed run continues the count; a destination with a delivered attempt is never sent the alert again.';
COMMENT ON COLUMN monitoring.alert_deliveries.dedupe_key IS 'The alert (monitoring.alerts.dedupe_key).';
COMMENT ON COLUMN monitoring.alert_deliveries.kind IS 'firing or resolved (monitoring.alerts.kind).';
COMMENT ON COLUMN monitoring.alert_deliveries.destination IS 'log, or the name of a configured webhook (never its URL, which may hold a secret).';
COMMENT ON COLUMN monitoring.alert_deliveries.attempt IS 'Attempt number for this alert and destination, from 1, continued across re-executions.';
COMMENT ON COLUMN monitoring.alert_deliveries.attempted_at IS 'When the attempt started.';
COMMENT ON COLUMN monitoring.alert_deliveries.outcome IS 'delivered (2xx), retry (a transient failure: timeout, connection error, 5xx, 408, 429; another attempt follows) or failed (the last allowed attempt, or a permanent error such as 4xx or a missing URL).';
COMMENT ON COLUMN monitoring.alert_deliveries.http_status IS 'HTTP status of the response; NULL when there was none (timeout, connection refused) or for the log.';
COMMENT ON COLUMN monitoring.alert_deliveries.error IS 'Why the attempt failed, one line; NULL when delivered.';
COMMENT ON COLUMN monitoring.alert_deliveries.elapsed_ms IS 'Duration of the attempt in milliseconds.';
