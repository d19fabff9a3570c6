"""Reads behind the demo's printed summary (``demo/summary.py``): what the published
tables hold over the simulated days, across table families, as the summary prints it.
Bound parameters only; no Dagster."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame


def ingestion_totals(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """Per model (the index): ``days, read, written, quarantined, labels_quarantined,
    without_time`` summed over ``start`` to ``end``."""
    return read_frame(
        engine,
        "SELECT model_name, count(*) AS days, sum(rows_read) AS read, sum(rows_written) AS written, "
        "sum(rows_quarantined) AS quarantined, sum(labels_quarantined) AS labels_quarantined, "
        "max(source_rows_without_time) AS without_time "
        "FROM monitoring.ingestion_stats WHERE partition_date BETWEEN :start AND :end GROUP BY 1 ORDER BY 1",
        {"start": start, "end": end},
    ).set_index("model_name")


def label_coverage(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """``model_name, partition_date, coverage, label_lag_p50_hours`` per day."""
    return read_frame(
        engine,
        "SELECT model_name, partition_date, coverage, label_lag_p50_hours FROM monitoring.label_status "
        "WHERE partition_date BETWEEN :start AND :end ORDER BY 1, 2",
        {"start": start, "end": end},
    )


def quarantine_reasons(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """``model_name, source, reason, n``: quarantined rows per reason, most first."""
    return read_frame(
        engine,
        "SELECT model_name, source, reason, count(*) AS n FROM monitoring.quarantined_rows "
        "WHERE partition_date BETWEEN :start AND :end GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC",
        {"start": start, "end": end},
    )


def quality_failures(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """Failed quality checks: ``model_name, check_name, column_name, expectation,
    first_day, last_day, days, worst_share``."""
    return read_frame(
        engine,
        "SELECT model_name, check_name, column_name, expectation, min(partition_date) AS first_day, "
        "max(partition_date) AS last_day, count(*) AS days, max(unexpected_share) AS worst_share "
        "FROM monitoring.quality_results WHERE NOT success AND partition_date BETWEEN :start AND :end "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 5",
        {"start": start, "end": end},
    )


def persistent_rate_gaps(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """TPR/FPR gaps of single attributes whose interval excluded 0 on three days or more
    (sufficient groups, version ``all``): ``model_name, cohort_attribute, cohort_value,
    reference_value, metric, days, first_day, last_day, mean_value``."""
    return read_frame(
        engine,
        "SELECT model_name, cohort_attribute, cohort_value, reference_value, metric, count(*) AS days, "
        "min(partition_date) AS first_day, max(partition_date) AS last_day, avg(value) AS mean_value "
        "FROM monitoring.fairness_disparities WHERE model_version = 'all' AND sufficient "
        "AND metric IN ('tpr_difference', 'fpr_difference') AND (lower > 0 OR upper < 0) "
        "AND position('&' in cohort_attribute) = 0 AND partition_date BETWEEN :start AND :end "
        "GROUP BY 1, 2, 3, 4, 5 HAVING count(*) >= 3 ORDER BY 1, 6 DESC",
        {"start": start, "end": end},
    )


def budgets_at_end(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """Each SLO's budget on ``end`` with ``first_page``, its first paging day from ``start``."""
    return read_frame(
        engine,
        "SELECT b.model_name, b.slo_name, b.status, b.bad_days, b.known_days, b.remaining_days, "
        "b.burn_rate_long, (SELECT min(partition_date) FROM monitoring.error_budgets p "
        "  WHERE p.model_name = b.model_name AND p.slo_name = b.slo_name AND p.status = 'page' "
        "  AND p.partition_date BETWEEN :start AND :end) AS first_page "
        "FROM monitoring.error_budgets b WHERE b.partition_date = :end ORDER BY 1, 2",
        {"start": start, "end": end},
    )


def health_on(engine: Engine, day: date) -> pd.DataFrame:
    """``model_name, check_name, status, severity, message`` of the health checks of ``day``."""
    return read_frame(
        engine,
        "SELECT model_name, check_name, status, severity, message FROM monitoring.health_checks "
        "WHERE partition_date = :end ORDER BY 1, 2",
        {"end": day},
    )


def alerts_between(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """The alerts as of ``start`` to ``end`` in decision order."""
    return read_frame(
        engine,
        "SELECT dedupe_key, kind, severity, model_name, subject, as_of, delivery_status, "
        "retraining_requested, worst_cohorts FROM monitoring.alerts "
        "WHERE as_of BETWEEN :start AND :end ORDER BY decided_at, dedupe_key, kind",
        {"start": start, "end": end},
    )


def last_delivery_attempts(engine: Engine) -> pd.DataFrame:
    """The last attempt per (alert, kind, destination): ``dedupe_key, kind, destination,
    attempt, outcome, error``."""
    return read_frame(
        engine,
        "SELECT DISTINCT ON (dedupe_key, kind, destination) dedupe_key, kind, destination, "
        "attempt, outcome, error FROM monitoring.alert_deliveries "
        "ORDER BY dedupe_key, kind, destination, attempt DESC",
    )


def retraining_requests_with_versions(engine: Engine) -> pd.DataFrame:
    """Every retraining request with the fitted version it produced (if any)."""
    return read_frame(
        engine,
        "SELECT r.request_id, r.model_name, r.slo_name, r.as_of, r.status, r.status_reason, "
        "r.result_version, r.alert_dedupe_key, "
        "r.training_start, r.training_end, r.evidence, v.training_rows, v.holdout_log_loss, "
        "v.incumbent_holdout_log_loss, v.incumbent_version, v.reweighted_by "
        "FROM monitoring.retraining_requests r LEFT JOIN monitoring.model_versions v "
        "ON v.model_name = r.model_name AND v.model_version = r.result_version ORDER BY 1",
    )


def versions_served_after(engine: Engine, model_name: str, as_of: date) -> pd.DataFrame:
    """``model_version, first_day, last_day, max_daily_n`` of the versions that served
    after ``as_of``."""
    return read_frame(
        engine,
        "SELECT model_version, min(partition_date) AS first_day, max(partition_date) AS last_day, "
        "max(n) FILTER (WHERE cohort_attribute = 'all') AS max_daily_n "
        "FROM monitoring.cohort_stats WHERE model_name = :model AND model_version <> 'all' "
        "AND partition_date > :as_of GROUP BY 1 ORDER BY 2",
        {"model": model_name, "as_of": as_of},
    )


def version_comparison_size(engine: Engine, model_name: str) -> pd.Series:
    """One row: the ``days`` and ``rows`` of the model's version comparison."""
    return read_frame(
        engine,
        "SELECT count(DISTINCT partition_date) AS days, count(*) AS rows FROM monitoring.version_comparison "
        "WHERE model_name = :model",
        {"model": model_name},
    ).iloc[0]
