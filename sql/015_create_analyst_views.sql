-- Analyst views: each answers one common question with `SELECT * FROM monitoring.<view>`.
-- They read the published tables only (never labeled_predictions), use model_version 'all',
-- and suppress small cells: where a figure rests on a group below the model's minimum size
-- (the tables' `sufficient` flag), the view shows `sufficient` and the counts but NULL in
-- place of the figure. Rows come in the order the question needs (ORDER BY in the view).
-- CREATE OR REPLACE keeps the file idempotent; new columns go at the end of a view.

-- Current SLO status per (model, SLO): the newest error_budgets row, i.e. exactly the row
-- error_budget_sensor judges (storage.alerts.current_budgets), so `status` is its verdict.
CREATE OR REPLACE VIEW monitoring.slo_status AS
WITH current_budget AS (
    SELECT DISTINCT ON (b.model_name, b.slo_name) b.*
    FROM monitoring.error_budgets b
    ORDER BY b.model_name, b.slo_name, b.partition_date DESC
)
SELECT
    c.model_name,
    c.slo_name,
    c.status,
    c.remaining_days < 0 AS budget_exhausted,
    CASE
        WHEN c.evidence_through IS NULL THEN
            format('%s: no day of the %s-day period has a verdict yet (too few labels): no evidence either way',
                   c.status, c.period_days)
        WHEN c.status IN ('page', 'ticket') THEN
            format('%s: burn rate %sx over %s days and %sx over %s days as of %s%s',
                   c.status,
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through,
                   CASE WHEN c.remaining_days < 0
                        THEN format('; budget overspent: %s of %s days left',
                                    round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1))
                        ELSE '' END)
        WHEN c.remaining_days < 0 THEN
            format('ok although the budget is overspent (%s of %s days left over %s days): the burn has stopped '
                   '(%sx over %s days, %sx over %s days as of %s), so no ticket or page; the %s bad days weigh until they leave the period',
                   round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1), c.period_days,
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through, c.bad_days)
        ELSE
            format('ok: %s of %s budget days left; burn rate %sx over %s days, %sx over %s days as of %s',
                   round(c.remaining_days::numeric, 1), round(c.budget_days::numeric, 1),
                   coalesce(round(c.burn_rate_long::numeric, 1)::text, 'n/a'), c.long_window_days,
                   coalesce(round(c.burn_rate_short::numeric, 1)::text, 'n/a'), c.short_window_days,
                   c.evidence_through)
    END AS status_reason,
    c.partition_date AS as_of,
    c.evidence_through,
    today.sli_source,
    today.sli_metric,
    today.objective_op,
    today.objective_value,
    c.target,
    c.period_days,
    c.known_days,
    c.bad_days,
    c.unknown_days,
    c.budget_days,
    c.remaining_days,
    c.remaining_fraction,
    c.burn_rate_short,
    c.burn_rate_long,
    c.short_window_days,
    c.long_window_days,
    evidence.sli_subject AS worst_cohort,
    CASE WHEN evidence.sufficient THEN evidence.value END AS worst_value,
    CASE WHEN evidence.sufficient THEN evidence.lower END AS worst_lower,
    CASE WHEN evidence.sufficient THEN evidence.upper END AS worst_upper,
    evidence.status AS worst_day_status,
    c.retrain_on_page
FROM current_budget c
LEFT JOIN monitoring.slo_evaluations today
    ON today.model_name = c.model_name AND today.slo_name = c.slo_name
   AND today.partition_date = c.partition_date
LEFT JOIN monitoring.slo_evaluations evidence
    ON evidence.model_name = c.model_name AND evidence.slo_name = c.slo_name
   AND evidence.partition_date = c.evidence_through
ORDER BY CASE c.status WHEN 'page' THEN 0 WHEN 'ticket' THEN 1 ELSE 2 END,
         c.remaining_days < 0 DESC, c.model_name, c.slo_name;

COMMENT ON VIEW monitoring.slo_status IS
    'Which SLOs are burning: one row per (model, SLO), from its newest error_budgets row (the row error_budget_sensor judges), most severe first. status is the stored multi-window burn-rate verdict; budget_exhausted says whether the compliance period''s budget is overspent. The two can disagree: a budget overspent by earlier bad days reads ok once the burn has stopped (the short or long window is below its threshold), and status_reason says so. The worst_* columns are the SLI reading of the evidence_through day.';
COMMENT ON COLUMN monitoring.slo_status.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.slo_status.slo_name IS 'SLO name from the config.';
COMMENT ON COLUMN monitoring.slo_status.status IS 'ok, ticket or page: error_budgets.status of the newest day, the verdict the error_budget_sensor alerts on (page: burn rate >= 2 over both the long and the short window; ticket: >= 1 over both; judged as of evidence_through).';
COMMENT ON COLUMN monitoring.slo_status.budget_exhausted IS 'remaining_days < 0: the period has more bad days than the target allows. True with status ok means the burn has stopped but the budget is still overspent (see status_reason).';
COMMENT ON COLUMN monitoring.slo_status.status_reason IS 'One line explaining status with the figures behind it: the burn rates and the day they are judged on, and, when the budget is overspent, why the status is still ok or what is left.';
COMMENT ON COLUMN monitoring.slo_status.as_of IS 'partition_date of the newest error_budgets row: the day the budget counts end on.';
COMMENT ON COLUMN monitoring.slo_status.evidence_through IS 'Last day of the period with a good or bad verdict; burn rates and status are judged as of this day (later days await labels). NULL: no verdict in the period.';
COMMENT ON COLUMN monitoring.slo_status.sli_source IS 'Table the SLI comes from (cohort_metrics, fairness_disparities or drift), from the as_of evaluation.';
COMMENT ON COLUMN monitoring.slo_status.sli_metric IS 'Metric (or drift method) of that table.';
COMMENT ON COLUMN monitoring.slo_status.objective_op IS 'Comparison the SLI must satisfy (<=, <, >=, >).';
COMMENT ON COLUMN monitoring.slo_status.objective_value IS 'The objective threshold.';
COMMENT ON COLUMN monitoring.slo_status.target IS 'Share of known days that must be good.';
COMMENT ON COLUMN monitoring.slo_status.period_days IS 'Rolling compliance period in days, ending on as_of.';
COMMENT ON COLUMN monitoring.slo_status.known_days IS 'Days of the period judged good or bad.';
COMMENT ON COLUMN monitoring.slo_status.bad_days IS 'Bad days of the period (= budget consumed).';
COMMENT ON COLUMN monitoring.slo_status.unknown_days IS 'Days of the period without a verdict (insufficient data or not evaluated).';
COMMENT ON COLUMN monitoring.slo_status.budget_days IS 'Bad days allowed: (1 - target) x known_days.';
COMMENT ON COLUMN monitoring.slo_status.remaining_days IS 'budget_days - bad_days; negative once overspent.';
COMMENT ON COLUMN monitoring.slo_status.remaining_fraction IS 'remaining_days / budget_days; NULL without known days.';
COMMENT ON COLUMN monitoring.slo_status.burn_rate_short IS 'Burn rate over the short window ending on evidence_through: (bad / known days) / (1 - target); NULL without known days in it.';
COMMENT ON COLUMN monitoring.slo_status.burn_rate_long IS 'Burn rate over the long window ending on evidence_through.';
COMMENT ON COLUMN monitoring.slo_status.short_window_days IS 'Short window length in days.';
COMMENT ON COLUMN monitoring.slo_status.long_window_days IS 'Long window length in days.';
COMMENT ON COLUMN monitoring.slo_status.worst_cohort IS 'What the SLI measured on evidence_through (slo_evaluations.sli_subject): the SLO''s cohort or group, or, for a fairness SLO over every group of an attribute, the worst group, e.g. "region=west vs north". NULL without evidence.';
COMMENT ON COLUMN monitoring.slo_status.worst_value IS 'The SLI on evidence_through (for fairness differences the absolute gap |group - reference|); NULL when insufficient or without evidence.';
COMMENT ON COLUMN monitoring.slo_status.worst_lower IS 'Lower bound of its 95% interval (of the absolute gap for fairness differences); NULL when it has none or is insufficient.';
COMMENT ON COLUMN monitoring.slo_status.worst_upper IS 'Upper bound of its 95% interval.';
COMMENT ON COLUMN monitoring.slo_status.worst_day_status IS 'The verdict of the evidence_through day: good or bad.';
COMMENT ON COLUMN monitoring.slo_status.retrain_on_page IS 'Whether a page of this SLO requests retraining (config retrain_on_page).';


-- Worst cohorts on the latest day with sufficient evidence. The newest days are nearly
-- always short of labels (they arrive days later), and a small cohort is sufficient later
-- than a large one, so "today" is chosen per cell: for each (model, metric, cohort) the
-- newest day on which its comparison is sufficient.
CREATE OR REPLACE VIEW monitoring.worst_cohorts AS
WITH newest AS (
    SELECT model_name, max(partition_date) AS newest_day
    FROM monitoring.fairness_disparities
    WHERE model_version = 'all'
    GROUP BY model_name
),
cell_day AS (
    -- A cell never sufficient keeps its newest day, shown without figures.
    SELECT model_name, metric, cohort_attribute, cohort_value,
           coalesce(max(partition_date) FILTER (WHERE sufficient AND value IS NOT NULL),
                    max(partition_date)) AS partition_date
    FROM monitoring.fairness_disparities
    WHERE model_version = 'all'
    GROUP BY model_name, metric, cohort_attribute, cohort_value
),
judged AS (
    SELECT d.*,
           CASE
               WHEN NOT d.sufficient OR d.value IS NULL THEN NULL
               -- The ratio's parity point is 1: distance of its interval from 1.
               WHEN d.metric = 'disparate_impact_ratio' THEN
                   CASE WHEN d.lower IS NULL OR d.upper IS NULL THEN abs(d.value - 1)
                        WHEN d.lower <= 1 AND d.upper >= 1 THEN 0
                        WHEN d.upper < 1 THEN 1 - d.upper
                        ELSE d.lower - 1 END
               -- Differences: the lower bound of |gap| (0 when the interval straddles 0),
               -- as pipeline.slo.absolute_interval judges SLO days.
               ELSE
                   CASE WHEN d.lower IS NULL OR d.upper IS NULL THEN abs(d.value)
                        WHEN d.lower <= 0 AND d.upper >= 0 THEN 0
                        ELSE least(abs(d.lower), abs(d.upper)) END
           END AS gap_evidence,
           n.newest_day - d.partition_date AS days_behind
    FROM monitoring.fairness_disparities d
    JOIN cell_day c USING (model_name, metric, cohort_attribute, cohort_value, partition_date)
    JOIN newest n USING (model_name)
    WHERE d.model_version = 'all'
)
SELECT
    j.model_name,
    j.metric,
    CASE WHEN j.gap_evidence IS NOT NULL THEN
        rank() OVER (PARTITION BY j.model_name, j.metric
                     ORDER BY j.gap_evidence DESC NULLS LAST,
                              abs(CASE WHEN j.metric = 'disparate_impact_ratio' THEN j.value - 1 ELSE j.value END) DESC NULLS LAST)
    END AS rank,
    j.cohort_attribute,
    j.cohort_value,
    j.reference_value,
    j.partition_date,
    j.days_behind,
    CASE WHEN j.sufficient THEN j.value END AS gap,
    CASE WHEN j.sufficient THEN j.lower END AS lower,
    CASE WHEN j.sufficient THEN j.upper END AS upper,
    j.gap_evidence,
    j.sufficient,
    g.n,
    g.n_labelled,
    r.n AS reference_n,
    r.n_labelled AS reference_n_labelled,
    CASE WHEN j.sufficient THEN j.passes_four_fifths END AS passes_four_fifths,
    j.is_worst
FROM judged j
LEFT JOIN monitoring.cohort_stats g
    ON g.model_name = j.model_name AND g.partition_date = j.partition_date
   AND g.model_version = 'all' AND g.cohort_attribute = j.cohort_attribute
   AND g.cohort_value = j.cohort_value
LEFT JOIN monitoring.cohort_stats r
    ON r.model_name = j.model_name AND r.partition_date = j.partition_date
   AND r.model_version = 'all' AND r.cohort_attribute = j.cohort_attribute
   AND r.cohort_value = j.reference_value
ORDER BY j.model_name, j.metric, rank NULLS LAST, j.cohort_attribute, j.cohort_value;

COMMENT ON VIEW monitoring.worst_cohorts IS
    'Which cohorts are worst today: every group comparison of fairness_disparities (model_version all) as of its latest day with sufficient evidence, chosen per cell (model, metric, cohort) as the newest partition_date on which that comparison is sufficient: the newest days, still mostly unlabelled, are skipped, and a small cohort shows its newest reliable figure (days_behind says how old). Ranked within (model, metric) by gap_evidence, the size of the gap the 95% interval supports: for differences the lower bound of |gap| (0 when the interval contains 0), for disparate_impact_ratio the distance of the interval from 1; ties by the point gap. Insufficient comparisons are listed with sufficient false, counts, and NULL figures and rank.';
COMMENT ON COLUMN monitoring.worst_cohorts.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.worst_cohorts.metric IS 'Disparity metric (tpr_difference, fpr_difference, demographic_parity_difference, disparate_impact_ratio, equalized_odds_difference, calibration_gap).';
COMMENT ON COLUMN monitoring.worst_cohorts.partition_date IS 'The day the row describes: the newest day on which this comparison is sufficient; for a comparison never sufficient, its newest day (figures NULL).';
COMMENT ON COLUMN monitoring.worst_cohorts.days_behind IS 'Days from partition_date to the model''s newest fairness_disparities day (0: the newest day itself).';
COMMENT ON COLUMN monitoring.worst_cohorts.rank IS '1 = worst within (model, metric) by gap_evidence (ties share a rank); NULL for insufficient or undefined comparisons.';
COMMENT ON COLUMN monitoring.worst_cohorts.cohort_attribute IS 'Attribute or intersection compared (''region'', ''sex&age_band'').';
COMMENT ON COLUMN monitoring.worst_cohorts.cohort_value IS 'The group compared with the reference.';
COMMENT ON COLUMN monitoring.worst_cohorts.reference_value IS 'The reference group of the attribute.';
COMMENT ON COLUMN monitoring.worst_cohorts.gap IS 'Group minus reference, signed (the ratio for disparate_impact_ratio); NULL when insufficient or undefined.';
COMMENT ON COLUMN monitoring.worst_cohorts.lower IS 'Lower bound of the gap''s 95% interval; NULL when insufficient.';
COMMENT ON COLUMN monitoring.worst_cohorts.upper IS 'Upper bound of the gap''s 95% interval; NULL when insufficient.';
COMMENT ON COLUMN monitoring.worst_cohorts.gap_evidence IS 'The ranking key: how large a gap the interval supports. Differences: 0 when the interval contains 0, else min(|lower|, |upper|); disparate_impact_ratio: 0 when it contains 1, else the distance of the nearer bound from 1; |gap| (|ratio - 1|) when there is no interval. NULL when insufficient.';
COMMENT ON COLUMN monitoring.worst_cohorts.sufficient IS 'Both groups have at least the model''s minimum cohort size of labelled predictions; when false every figure is NULL.';
COMMENT ON COLUMN monitoring.worst_cohorts.n IS 'Predictions of the group that day (cohort_stats).';
COMMENT ON COLUMN monitoring.worst_cohorts.n_labelled IS 'Labelled predictions of the group that day.';
COMMENT ON COLUMN monitoring.worst_cohorts.reference_n IS 'Predictions of the reference group that day.';
COMMENT ON COLUMN monitoring.worst_cohorts.reference_n_labelled IS 'Labelled predictions of the reference group that day.';
COMMENT ON COLUMN monitoring.worst_cohorts.passes_four_fifths IS 'disparate_impact_ratio rows: ratio >= 0.8; NULL on other metrics, when undefined or insufficient.';
COMMENT ON COLUMN monitoring.worst_cohorts.is_worst IS 'The pipeline''s own pick: the worst sufficient group of its attribute for this metric (largest absolute difference, smallest ratio).';


-- Drift of the last 7 days up to each model's newest drift day, flagged tests first.
CREATE OR REPLACE VIEW monitoring.drift_last_7_days AS
WITH newest AS (
    SELECT model_name, max(partition_date) AS newest_day
    FROM monitoring.drift
    WHERE model_version = 'all'
    GROUP BY model_name
)
SELECT
    d.partition_date,
    d.model_name,
    d.feature,
    d.cohort_attribute,
    d.cohort_value,
    d.method,
    d.drifted,
    count(*) FILTER (WHERE d.drifted) OVER (
        PARTITION BY d.model_name, d.feature, d.cohort_attribute, d.cohort_value, d.method
    ) AS days_flagged,
    d.sufficient,
    CASE WHEN d.sufficient THEN d.statistic END AS statistic,
    CASE WHEN d.sufficient THEN d.p_value_adjusted END AS p_value_adjusted,
    CASE WHEN d.sufficient THEN d.lower END AS lower,
    CASE WHEN d.sufficient THEN d.upper END AS upper,
    d.threshold,
    d.direction,
    d.decided_on,
    d.n_reference,
    d.n_current,
    d.baseline_from,
    d.baseline_to,
    d.status
FROM monitoring.drift d
JOIN newest n ON n.model_name = d.model_name
WHERE d.model_version = 'all' AND d.partition_date > n.newest_day - 7
ORDER BY d.drifted DESC NULLS LAST, days_flagged DESC, d.partition_date DESC, d.model_name, d.feature,
         d.cohort_attribute, d.cohort_value, d.method;

COMMENT ON VIEW monitoring.drift_last_7_days IS
    'What drifted recently: every drift test (model_version all) of the 7 days up to and including each model''s newest drift day, flagged tests first (drifted true, then false, then NULL), then by days_flagged and newest day. Figures of insufficient tests are NULL.';
COMMENT ON COLUMN monitoring.drift_last_7_days.partition_date IS 'Day compared with the baseline.';
COMMENT ON COLUMN monitoring.drift_last_7_days.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.drift_last_7_days.feature IS 'Watched feature, or ''score''.';
COMMENT ON COLUMN monitoring.drift_last_7_days.cohort_attribute IS '''all'' or a cohort attribute.';
COMMENT ON COLUMN monitoring.drift_last_7_days.cohort_value IS '''all'' or the attribute''s value.';
COMMENT ON COLUMN monitoring.drift_last_7_days.method IS 'psi, ks, js, chi2 or null_rate_change.';
COMMENT ON COLUMN monitoring.drift_last_7_days.drifted IS 'Whether the test flags drift; NULL when insufficient, undefined or without baseline.';
COMMENT ON COLUMN monitoring.drift_last_7_days.days_flagged IS 'Days of these 7 on which the same test (model, feature, cohort, method) flagged drift.';
COMMENT ON COLUMN monitoring.drift_last_7_days.sufficient IS 'Both sides have the method''s minimum number of observations; when false the figures are NULL.';
COMMENT ON COLUMN monitoring.drift_last_7_days.statistic IS 'PSI, KS D, JS distance, chi-square statistic or null-share change; NULL when insufficient or undefined.';
COMMENT ON COLUMN monitoring.drift_last_7_days.p_value_adjusted IS 'Benjamini-Hochberg adjusted p-value (ks, chi2); NULL for other methods or when insufficient.';
COMMENT ON COLUMN monitoring.drift_last_7_days.lower IS 'null_rate_change: lower bound of the 95% interval of the change; NULL otherwise.';
COMMENT ON COLUMN monitoring.drift_last_7_days.upper IS 'null_rate_change: upper bound of that interval.';
COMMENT ON COLUMN monitoring.drift_last_7_days.threshold IS 'Threshold applied.';
COMMENT ON COLUMN monitoring.drift_last_7_days.direction IS 'higher_is_drift, lower_is_drift or abs_higher_is_drift (see monitoring.drift).';
COMMENT ON COLUMN monitoring.drift_last_7_days.decided_on IS 'What the threshold is compared with: statistic, p_value_adjusted or interval.';
COMMENT ON COLUMN monitoring.drift_last_7_days.n_reference IS 'Baseline observations.';
COMMENT ON COLUMN monitoring.drift_last_7_days.n_current IS 'Observations of the day.';
COMMENT ON COLUMN monitoring.drift_last_7_days.baseline_from IS 'First day of the baseline window.';
COMMENT ON COLUMN monitoring.drift_last_7_days.baseline_to IS 'Last day of the baseline window.';
COMMENT ON COLUMN monitoring.drift_last_7_days.status IS 'ok, partial_baseline or no_baseline (see monitoring.drift).';


-- Label coverage and lag by ISO week, from label_status (as known when each day last ran).
CREATE OR REPLACE VIEW monitoring.label_coverage_weekly AS
SELECT
    s.model_name,
    to_char(s.partition_date, 'IYYY-"W"IW') AS iso_week,
    date_trunc('week', s.partition_date)::date AS week_start,
    count(*) AS days,
    sum(s.predictions) AS predictions,
    sum(s.labelled) AS labelled,
    sum(s.labelled)::double precision / nullif(sum(s.predictions), 0) AS coverage,
    min(s.coverage) AS lowest_day_coverage,
    sum(s.corrected) AS corrected,
    sum(s.positives)::double precision / nullif(sum(s.labelled), 0) AS positive_share,
    max(s.label_lag_p50_hours) AS worst_day_lag_p50_hours,
    max(s.label_lag_p90_hours) AS worst_day_lag_p90_hours,
    max(s.label_lag_max_hours) AS label_lag_max_hours
FROM monitoring.label_status s
GROUP BY s.model_name, 2, 3
ORDER BY s.model_name, 3;

COMMENT ON VIEW monitoring.label_coverage_weekly IS
    'How much ground truth has arrived, per model and ISO week (Monday to Sunday), summed from label_status as known when each day last ran: recent weeks rise as late labels arrive and their days are re-run. Lag quantiles do not add up over days, so the week shows its worst day''s quantiles and the longest lag.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.iso_week IS 'ISO year and week, e.g. 2026-W47.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.week_start IS 'Monday of the ISO week.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.days IS 'Days of the week with a label_status row (fewer than 7 at the edges or when days are missing).';
COMMENT ON COLUMN monitoring.label_coverage_weekly.predictions IS 'Valid predictions of those days.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.labelled IS 'Predictions with at least one label.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.coverage IS 'labelled / predictions over the week; NULL without predictions.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.lowest_day_coverage IS 'The lowest daily coverage of the week.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.corrected IS 'Predictions whose label was revised.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.positive_share IS 'Positive labels / labelled predictions; NULL without labels.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.worst_day_lag_p50_hours IS 'The largest daily median label lag of the week, in hours (not a weekly median).';
COMMENT ON COLUMN monitoring.label_coverage_weekly.worst_day_lag_p90_hours IS 'The largest daily 90th-percentile label lag of the week, in hours.';
COMMENT ON COLUMN monitoring.label_coverage_weekly.label_lag_max_hours IS 'Longest label lag observed in the week, in hours.';


-- Open alerts: the newest episode of each (source, model, subject) that has fired and has
-- no resolved notice, which is how alerting.decisions.history_from_records rebuilds it.
CREATE OR REPLACE VIEW monitoring.open_alerts AS
WITH episodes AS (
    SELECT source, model_name, subject, episode_start,
           bool_or(kind = 'resolved') AS resolved,
           min(decided_at) FILTER (WHERE kind = 'firing') AS first_decided_at
    FROM monitoring.alerts
    GROUP BY source, model_name, subject, episode_start
),
newest AS (
    SELECT DISTINCT ON (source, model_name, subject) *
    FROM episodes
    ORDER BY source, model_name, subject, episode_start DESC
),
top_firing AS (
    -- The episode's highest notification: its page after an escalation, else its ticket.
    SELECT DISTINCT ON (a.source, a.model_name, a.subject) a.*, n.first_decided_at
    FROM monitoring.alerts a
    JOIN newest n
        ON n.source = a.source AND n.model_name = a.model_name AND n.subject = a.subject
       AND n.episode_start = a.episode_start
    WHERE a.kind = 'firing' AND NOT n.resolved
    ORDER BY a.source, a.model_name, a.subject,
             CASE a.severity WHEN 'page' THEN 0 ELSE 1 END, a.decided_at DESC
)
SELECT
    f.severity,
    f.model_name,
    f.source,
    f.subject,
    f.episode_start AS since,
    f.first_decided_at,
    f.as_of,
    f.decided_at,
    f.reason,
    f.summary,
    f.delivery_status,
    f.delivered_at,
    last_attempt.destination AS last_attempt_destination,
    last_attempt.attempted_at AS last_attempt_at,
    last_attempt.outcome AS last_attempt_outcome,
    last_attempt.error AS last_attempt_error,
    f.retraining_requested,
    f.dedupe_key
FROM top_firing f
LEFT JOIN LATERAL (
    SELECT d.destination, d.attempted_at, d.outcome, d.error
    FROM monitoring.alert_deliveries d
    WHERE d.dedupe_key = f.dedupe_key AND d.kind = 'firing'
    ORDER BY d.attempted_at DESC, d.attempt DESC
    LIMIT 1
) last_attempt ON true
ORDER BY CASE f.severity WHEN 'page' THEN 0 ELSE 1 END, f.episode_start, f.model_name, f.subject;

COMMENT ON VIEW monitoring.open_alerts IS
    'Alerts firing and not resolved: per (source, model, subject), its newest episode when it has no resolved notice (the state error_budget_sensor rebuilds from monitoring.alerts), at the highest severity notified, pages first. A subject back to ok leaves this view with the sensor''s next tick, which records the resolved notice.';
COMMENT ON COLUMN monitoring.open_alerts.severity IS 'Highest level notified in the episode: page or ticket.';
COMMENT ON COLUMN monitoring.open_alerts.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.open_alerts.source IS 'error_budget (an SLO''s budget) or health_check (a failing pipeline-health check).';
COMMENT ON COLUMN monitoring.open_alerts.subject IS 'The SLO name (error_budget) or health check name (health_check).';
COMMENT ON COLUMN monitoring.open_alerts.since IS 'Episode start: the day of the observation that opened it.';
COMMENT ON COLUMN monitoring.open_alerts.first_decided_at IS 'When the episode''s first notification was decided.';
COMMENT ON COLUMN monitoring.open_alerts.as_of IS 'Day of the observation behind the highest notification.';
COMMENT ON COLUMN monitoring.open_alerts.decided_at IS 'When the highest notification was decided.';
COMMENT ON COLUMN monitoring.open_alerts.reason IS 'Why it was sent: new episode or escalation.';
COMMENT ON COLUMN monitoring.open_alerts.summary IS 'The one-line text delivered; NULL while pending.';
COMMENT ON COLUMN monitoring.open_alerts.delivery_status IS 'Delivery of the highest notification: pending, delivered or failed.';
COMMENT ON COLUMN monitoring.open_alerts.delivered_at IS 'When its last destination accepted it; NULL unless delivered.';
COMMENT ON COLUMN monitoring.open_alerts.last_attempt_destination IS 'Destination of the newest delivery attempt of that notification (log or a webhook name); NULL before any attempt.';
COMMENT ON COLUMN monitoring.open_alerts.last_attempt_at IS 'When that attempt started.';
COMMENT ON COLUMN monitoring.open_alerts.last_attempt_outcome IS 'delivered, retry or failed.';
COMMENT ON COLUMN monitoring.open_alerts.last_attempt_error IS 'Why that attempt failed; NULL when delivered.';
COMMENT ON COLUMN monitoring.open_alerts.retraining_requested IS 'Whether the notification requested retraining_job.';
COMMENT ON COLUMN monitoring.open_alerts.dedupe_key IS 'Key of the highest notification (monitoring.alerts.dedupe_key; also its Dagster run key).';


-- The default privileges of 002 cover views only when they are created by the role that
-- ran 002; grant explicitly so any migrating role leaves them readable.
GRANT SELECT ON monitoring.slo_status, monitoring.worst_cohorts, monitoring.drift_last_7_days,
    monitoring.label_coverage_weekly, monitoring.open_alerts TO monitoring_reader;
