-- Pipeline-health findings raise alerts: error_budget_sensor reads monitoring.health_checks
-- (new rows by produced_at, like error_budgets) and records source 'health_check' alerts in
-- monitoring.alerts. No new table: the alert columns keep their meaning, their comments now
-- describe both sources.

-- The sensor asks every tick which (model, check) pairs have rows newer than its cursor.
CREATE INDEX IF NOT EXISTS health_checks_produced_at_idx
    ON monitoring.health_checks (produced_at);

COMMENT ON TABLE monitoring.alerts IS
    'One row per notification: an episode (a subject leaving ok until it returns to ok) fires once at its first level, again on escalation from ticket to page, and sends one resolved notice on recovery. Sources: error_budget (an SLO''s error budget status) and health_check (a failing pipeline-health check, or a model''s health rows missing). Written when the error_budget_sensor decides (delivery_status pending), completed by alert_job (evidence, delivery outcome). Never duplicated: the key is (dedupe_key, kind).';
COMMENT ON COLUMN monitoring.alerts.dedupe_key IS 'source:model:subject:severity:episode start day, e.g. error_budget:loan_approval:tpr_gap_region:page:2026-11-16 or health_check:loan_approval:overdue_partitions:page:2026-11-16. Stable across sensor ticks and restarts; also the Dagster run key of the alert run.';
COMMENT ON COLUMN monitoring.alerts.source IS 'What raised the signal: error_budget (an SLO''s error budget status) or health_check (a monitoring.health_checks finding with status fail, at its severity; or health_checks_missing).';
COMMENT ON COLUMN monitoring.alerts.subject IS 'What is watched within the source: the SLO name for error_budget; the check name (stale_baseline, overdue_partitions, label_lag, label_coverage, label_coverage_trend) or health_checks_missing for health_check.';
COMMENT ON COLUMN monitoring.alerts.as_of IS 'Day of the observation behind this notification: the error_budgets or health_checks partition_date; for health_checks_missing the UTC day (wall clock) it was judged on.';
COMMENT ON COLUMN monitoring.alerts.retraining_requested IS 'Whether the page also requested retraining_job (SLO retrain_on_page; never for health_check alerts).';
COMMENT ON COLUMN monitoring.alerts.evidence IS 'Everything delivered as JSON. error_budget: the error budget figures of the as_of row (status, evidence_through, known/bad days, budget, consumed, remaining, burn rates, windows, objective), affected partitions with their readings, worst cohorts. health_check: the finding of the as_of row (status, severity, message, observed, threshold, details) and every day of the episode with its status; for health_checks_missing the newest health day, the day expected and the days missing.';
COMMENT ON COLUMN monitoring.alerts.affected_partitions IS 'error_budget: bad days (slo_evaluations status bad) of the compliance period ending on as_of. health_check: the days of the episode on which the check failed; for health_checks_missing the days without health rows.';
COMMENT ON COLUMN monitoring.alerts.worst_cohorts IS 'error_budget: the cohorts furthest beyond the objective on the last day with evidence, from the SLI''s source table: cohort, value, 95% interval (lower, upper), sufficient. NULL for health_check alerts.';
