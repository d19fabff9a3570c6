-- SLOs and error budgets. An SLO is an objective on one published figure (the SLI),
-- judged once per day; the error budget is the share of bad days its target allows over a
-- rolling compliance period.

CREATE TABLE IF NOT EXISTS monitoring.slo_evaluations (
    partition_date    date             NOT NULL,
    model_name        text             NOT NULL,
    slo_name          text             NOT NULL,
    sli_source        text             NOT NULL,
    sli_metric        text             NOT NULL,
    sli_subject       text             NOT NULL,
    value             double precision,
    lower             double precision,
    upper             double precision,
    objective_op      text             NOT NULL,
    objective_value   double precision NOT NULL,
    sufficient        boolean          NOT NULL,
    status            text             NOT NULL CHECK (status IN ('good', 'bad', 'unknown')),
    reason            text             NOT NULL,
    run_id            text             NOT NULL,
    produced_at       timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, slo_name)
);
COMMENT ON TABLE monitoring.slo_evaluations IS
    'Each SLO judged on each day. A day is bad only on clear evidence (its whole 95% interval lies beyond the objective; figures without an interval, such as PSI, are judged on their value), unknown when the data is insufficient (never counted as bad), good otherwise.';
COMMENT ON COLUMN monitoring.slo_evaluations.slo_name IS 'SLO name from the config.';
COMMENT ON COLUMN monitoring.slo_evaluations.sli_source IS 'Table the figure comes from: cohort_metrics, fairness_disparities or drift.';
COMMENT ON COLUMN monitoring.slo_evaluations.sli_metric IS 'Metric (or drift method) of that table.';
COMMENT ON COLUMN monitoring.slo_evaluations.sli_subject IS 'What was measured that day, e.g. "region=west vs north" (the worst group when the SLO names none), "all", or "income @ all".';
COMMENT ON COLUMN monitoring.slo_evaluations.value IS 'The SLI: for fairness differences the absolute gap |group - reference|, for the disparate-impact ratio the ratio, else the published value. NULL when undefined.';
COMMENT ON COLUMN monitoring.slo_evaluations.lower IS 'Lower bound of its 95% interval (for an absolute gap: of the absolute value); NULL when it has none.';
COMMENT ON COLUMN monitoring.slo_evaluations.upper IS 'Upper bound of its 95% interval.';
COMMENT ON COLUMN monitoring.slo_evaluations.objective_op IS 'Comparison the SLI must satisfy: <=, <, >= or > (strict and non-strict are judged alike: a day is bad only when the interval lies wholly beyond the objective).';
COMMENT ON COLUMN monitoring.slo_evaluations.objective_value IS 'The objective threshold.';
COMMENT ON COLUMN monitoring.slo_evaluations.sufficient IS 'Whether the underlying cohorts had the minimum sample size.';
COMMENT ON COLUMN monitoring.slo_evaluations.status IS 'good, bad or unknown (see the table comment).';
COMMENT ON COLUMN monitoring.slo_evaluations.reason IS 'Why unknown (no data, insufficient cohort, no sufficient comparison), or how the verdict was reached.';

CREATE TABLE IF NOT EXISTS monitoring.error_budgets (
    partition_date       date             NOT NULL,
    model_name           text             NOT NULL,
    slo_name             text             NOT NULL,
    target               double precision NOT NULL,
    period_days          integer          NOT NULL,
    known_days           integer          NOT NULL,
    good_days            integer          NOT NULL,
    bad_days             integer          NOT NULL,
    unknown_days         integer          NOT NULL,
    budget_days          double precision NOT NULL,
    consumed_days        integer          NOT NULL,
    remaining_days       double precision NOT NULL,
    remaining_fraction   double precision,
    burn_rate_short      double precision,
    burn_rate_long       double precision,
    short_window_days    integer          NOT NULL,
    long_window_days     integer          NOT NULL,
    status               text             NOT NULL CHECK (status IN ('ok', 'ticket', 'page')),
    retrain_on_page      boolean          NOT NULL,
    evidence_through     date,
    run_id               text             NOT NULL,
    produced_at          timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, slo_name)
);
COMMENT ON TABLE monitoring.error_budgets IS
    'Error budget of each SLO as of each day, over the rolling compliance period ending that day. Burn rate = (bad days / known days in the window) / (1 - target), as in the SRE workbook. Status (multi-window, multi-burn-rate, adapted to daily slices): page when the burn rate reaches 2 over the last 7 days and over the last 2 days; ticket when it reaches 1 over both; else ok.';
COMMENT ON COLUMN monitoring.error_budgets.target IS 'Share of known days that must be good.';
COMMENT ON COLUMN monitoring.error_budgets.period_days IS 'Rolling compliance period, in days, ending on partition_date.';
COMMENT ON COLUMN monitoring.error_budgets.known_days IS 'Days of the period judged good or bad.';
COMMENT ON COLUMN monitoring.error_budgets.good_days IS 'Good days of the period.';
COMMENT ON COLUMN monitoring.error_budgets.bad_days IS 'Bad days of the period.';
COMMENT ON COLUMN monitoring.error_budgets.unknown_days IS 'Days of the period with no verdict (insufficient data or not evaluated): neither good nor bad.';
COMMENT ON COLUMN monitoring.error_budgets.budget_days IS 'Bad days allowed: (1 - target) x known_days.';
COMMENT ON COLUMN monitoring.error_budgets.consumed_days IS 'Bad days spent (= bad_days).';
COMMENT ON COLUMN monitoring.error_budgets.remaining_days IS 'budget_days - consumed_days; negative once overspent.';
COMMENT ON COLUMN monitoring.error_budgets.remaining_fraction IS 'remaining_days / budget_days; NULL without known days.';
COMMENT ON COLUMN monitoring.error_budgets.burn_rate_short IS 'Burn rate over the short window (the short_window_days days ending on evidence_through); NULL without known days in it.';
COMMENT ON COLUMN monitoring.error_budgets.burn_rate_long IS 'Burn rate over the long window.';
COMMENT ON COLUMN monitoring.error_budgets.short_window_days IS 'Short window length in days.';
COMMENT ON COLUMN monitoring.error_budgets.long_window_days IS 'Long window length in days.';
COMMENT ON COLUMN monitoring.error_budgets.status IS 'ok, ticket or page (see the table comment).';
COMMENT ON COLUMN monitoring.error_budgets.evidence_through IS 'Last day of the period with a good or bad verdict. When later days are still unknown (labels not arrived yet), burn rates and status are judged as of this day: missing data is no evidence of recovery. NULL: no verdict at all.';
COMMENT ON COLUMN monitoring.error_budgets.retrain_on_page IS 'Whether the SLO asks for retraining when it pages (config retrain_on_page).';
COMMENT ON COLUMN monitoring.error_budgets.slo_name IS 'SLO name from the config.';
