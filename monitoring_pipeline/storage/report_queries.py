"""Reads behind the HTML report: one model's published tables over a window of days.

Base tables only (never the analysts' views, which may change shape independently), model
version ``'all'``, bound parameters only; no Dagster. Each function returns a DataFrame
whose columns are named in its query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

# The rates the debug page plots over time, per cohort.
RATE_METRICS = ("selection_rate", "tpr", "fpr", "precision")


@dataclass(frozen=True)
class ReportFrames:
    """Everything one report shows, as read from the tables.

    ``budgets`` holds every error_budgets row of the model up to the report day (not only
    the window): an episode that is still burning may have started before the window.
    ``changes`` holds cohort_changes rows of the metrics the model's change SLOs read
    (``value`` the stored ``difference``).
    ``drift`` holds the rows of one day, ``drift_day`` (the newest of the window with a
    baseline; None when there is none). ``calibration`` holds cohort_stats' score bins of
    every day of the window.
    """

    budgets: pd.DataFrame
    evaluations: pd.DataFrame
    metrics: pd.DataFrame
    disparities: pd.DataFrame
    changes: pd.DataFrame
    drift: pd.DataFrame
    drift_day: date | None
    calibration: pd.DataFrame
    label_status: pd.DataFrame
    alerts: pd.DataFrame
    # estimated_disparities rows of the window (gaps estimated from scores).
    estimated_disparities: pd.DataFrame
    # version_comparison rows of the window (canary: candidate - incumbent).
    version_comparison: pd.DataFrame
    # operational_metrics rows of the window (latency percentiles, throughput; version all).
    operational: pd.DataFrame
    # complaint_metrics rows of the window (complaint rates; version all).
    complaints: pd.DataFrame


def _frame(conn: sa.Connection, query: str, params: dict) -> pd.DataFrame:
    result = conn.execute(sa.text(query), params)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def newest_materialized_day(engine: Engine, model_name: str) -> date | None:
    """The newest day with an error_budgets row of the model (else a label_status row)."""
    query = sa.text(
        "SELECT coalesce("
        "(SELECT max(partition_date) FROM monitoring.error_budgets WHERE model_name = :model), "
        "(SELECT max(partition_date) FROM monitoring.label_status WHERE model_name = :model))"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"model": model_name}).scalar()


def load_report_frames(
    engine: Engine,
    model_name: str,
    start: date,
    end: date,
    *,
    metrics: Sequence[str] = RATE_METRICS,
    change_metrics: Sequence[str] = (),
) -> ReportFrames:
    """Read the tables of ``model_name`` for the days ``start`` .. ``end`` (inclusive);
    ``metrics``: the cohort_metrics metrics to read; ``change_metrics``: the
    cohort_changes metrics."""
    window = {"model": model_name, "start": start, "end": end}
    with engine.connect() as conn:
        budgets = _frame(
            conn,
            "SELECT partition_date, slo_name, status, target, period_days, known_days, "
            "good_days, bad_days, unknown_days, budget_days, consumed_days, remaining_days, "
            "remaining_fraction, burn_rate_short, burn_rate_long, short_window_days, "
            "long_window_days, evidence_through "
            "FROM monitoring.error_budgets WHERE model_name = :model AND partition_date <= :end "
            "ORDER BY slo_name, partition_date",
            window,
        )
        evaluations = _frame(
            conn,
            "SELECT partition_date, slo_name, sli_source, sli_metric, sli_subject, value, lower, "
            "upper, objective_op, objective_value, sufficient, status, reason, bad_members "
            "FROM monitoring.slo_evaluations WHERE model_name = :model "
            "AND partition_date BETWEEN :start AND :end ORDER BY slo_name, partition_date",
            window,
        )
        metrics = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, metric, value, lower, upper, "
            "denominator, n, n_labelled, sufficient "
            "FROM monitoring.cohort_metrics WHERE model_name = :model AND model_version = 'all' "
            "AND partition_date BETWEEN :start AND :end AND metric = ANY(:metrics) "
            "ORDER BY cohort_attribute, cohort_value, metric, partition_date",
            window | {"metrics": list(metrics)},
        )
        disparities = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, reference_value, metric, "
            "value, lower, upper, sufficient, is_worst "
            "FROM monitoring.fairness_disparities WHERE model_name = :model "
            "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
            "ORDER BY partition_date, cohort_attribute, cohort_value, metric",
            window,
        )
        estimated_disparities = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, reference_value, metric, "
            "value, lower, upper, sufficient, realised_value "
            "FROM monitoring.estimated_disparities WHERE model_name = :model "
            "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
            "ORDER BY partition_date, cohort_attribute, cohort_value, metric",
            window,
        )
        version_comparison = _frame(
            conn,
            "SELECT * FROM monitoring.version_comparison WHERE model_name = :model "
            "AND partition_date BETWEEN :start AND :end "
            "ORDER BY partition_date, cohort_attribute, cohort_value, metric",
            window,
        )
        operational = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, metric, value, lower, upper, "
            "sufficient, n FROM monitoring.operational_metrics WHERE model_name = :model "
            "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
            "ORDER BY partition_date, cohort_attribute, cohort_value, metric",
            window,
        )
        complaints = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, metric, value, lower, upper, "
            "sufficient, n, complaints, window_complete FROM monitoring.complaint_metrics "
            "WHERE model_name = :model AND model_version = 'all' "
            "AND partition_date BETWEEN :start AND :end "
            "ORDER BY partition_date, cohort_attribute, cohort_value",
            window,
        )
        changes = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, metric, "
            "difference AS value, lower, upper, sufficient, baseline_value, denominator "
            "FROM monitoring.cohort_changes WHERE model_name = :model "
            "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
            "AND metric = ANY(:metrics) "
            "ORDER BY partition_date, cohort_attribute, cohort_value, metric",
            window | {"metrics": list(change_metrics)},
        )
        drift_day = conn.execute(
            sa.text(
                "SELECT max(partition_date) FROM monitoring.drift WHERE model_name = :model "
                "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
                "AND status <> 'no_baseline'"
            ),
            window,
        ).scalar()
        drift = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, feature, method, statistic, "
            "lower, upper, threshold, drifted, sufficient, status "
            "FROM monitoring.drift WHERE model_name = :model AND model_version = 'all' "
            "AND partition_date = :day ORDER BY cohort_attribute, cohort_value, feature, method",
            {"model": model_name, "day": drift_day},
        )
        calibration = _frame(
            conn,
            "SELECT partition_date, cohort_attribute, cohort_value, bin_n, bin_score_sum, "
            "bin_label_sum FROM monitoring.cohort_stats WHERE model_name = :model "
            "AND model_version = 'all' AND partition_date BETWEEN :start AND :end "
            "AND strpos(cohort_attribute, '&') = 0 "
            "ORDER BY cohort_attribute, cohort_value, partition_date",
            window,
        )
        label_status = _frame(
            conn,
            "SELECT partition_date, predictions, labelled, coverage, label_lag_p50_hours, "
            "label_lag_p90_hours, label_lag_p99_hours "
            "FROM monitoring.label_status WHERE model_name = :model "
            "AND partition_date BETWEEN :start AND :end ORDER BY partition_date",
            window,
        )
        alerts = _frame(
            conn,
            "SELECT dedupe_key, kind, source, subject, severity, episode_start, as_of, reason, "
            "delivery_status, summary "
            "FROM monitoring.alerts WHERE model_name = :model "
            "AND as_of BETWEEN :start AND :end ORDER BY as_of DESC, decided_at DESC",
            window,
        )
    return ReportFrames(
        budgets=budgets,
        evaluations=evaluations,
        metrics=metrics,
        disparities=disparities,
        changes=changes,
        drift=drift,
        drift_day=drift_day,
        calibration=calibration,
        label_status=label_status,
        alerts=alerts,
        estimated_disparities=estimated_disparities,
        version_comparison=version_comparison,
        operational=operational,
        complaints=complaints,
    )
