-- Alerts lead somewhere: alert_job stores, beside the evidence, the links it delivered (the
-- model's HTML report of the as_of day, the Dagster partition, the SLO's runbook) and who
-- answers for the alert, so analysts can follow them from the table. The same values are in
-- evidence (links, owners). Rows written before this migration keep NULL.

ALTER TABLE monitoring.alerts ADD COLUMN IF NOT EXISTS report_url text;
ALTER TABLE monitoring.alerts ADD COLUMN IF NOT EXISTS dagster_url text;
ALTER TABLE monitoring.alerts ADD COLUMN IF NOT EXISTS runbook_url text;
ALTER TABLE monitoring.alerts ADD COLUMN IF NOT EXISTS owners text[];

COMMENT ON COLUMN monitoring.alerts.report_url IS 'The model''s HTML report of the as_of day: <links.reports_base_url>/<model>/<day>.html, or a file:// URL under links.reports_dir (default $MONITORING_HOME/reports) when the reports are not served. NULL while pending.';
COMMENT ON COLUMN monitoring.alerts.dagster_url IS 'The Dagster UI page of the as_of partition of the asset behind the alert: <model>/error_budgets (error_budget) or <model>/pipeline_health (health_check), under links.dagster_url. NULL while pending.';
COMMENT ON COLUMN monitoring.alerts.runbook_url IS 'The SLO''s runbook_url from the config: what to do. NULL for health_check alerts, for SLOs without one, and while pending.';
COMMENT ON COLUMN monitoring.alerts.owners IS 'Who answers for the alert (e-mail addresses or team:<name>): the SLO''s owner, else the model''s owners; empty when none is configured; NULL while pending.';
COMMENT ON COLUMN monitoring.alerts.summary IS 'The one-line summary: the first line of the Slack "text" (the links follow on a second line) and of the log line.';
COMMENT ON COLUMN monitoring.alerts.evidence IS 'Everything delivered as JSON. error_budget: the error budget figures of the as_of row (status, evidence_through, known/bad days, budget, consumed, remaining, burn rates, windows, objective), affected partitions with their readings, worst cohorts. health_check: the finding of the as_of row (status, severity, message, observed, threshold, details) and every day of the episode with its status; for health_checks_missing the newest health day, the day expected and the days missing. Both: links (report, dagster, runbook), dagster_asset and owners, as in the columns of those names.';
COMMENT ON COLUMN monitoring.alerts.worst_cohorts IS 'error_budget: the cohorts furthest beyond the objective on the last day with evidence, from the SLI''s source table: cohort, value and 95% interval (lower, upper) as stored there (a fairness difference keeps its sign; the SLO judges its size), sufficient, beyond_objective. NULL for health_check alerts.';
