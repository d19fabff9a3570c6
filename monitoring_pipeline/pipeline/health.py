"""Pipeline health of one (model, day): read the stored figures, judge them with
``core.health``, write ``monitoring.health_checks``.

Reads only published tables (ingestion_stats, quality_results, label_status, drift,
error_budgets) of days up to the partition day, never raw rows, so it is cheap and a
re-run judges the same figures the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import HealthConfig, MonitoringConfig
from monitoring_pipeline.core.health import (
    CHECK_NAMES,
    BaselineObservation,
    DayLabels,
    DayQuality,
    HealthFinding,
    PartitionPresence,
    YoungDayLabels,
    check_data_quality,
    check_label_arrival,
    check_label_coverage,
    check_label_coverage_trend,
    check_label_lag,
    check_overdue_partitions,
    check_stale_baseline,
    mature_days,
    with_severity,
)
from monitoring_pipeline.pipeline.late_labels import label_rows_now
from monitoring_pipeline.storage.drift import baseline_row
from monitoring_pipeline.storage.health import written_days
from monitoring_pipeline.storage.ingestion import (
    blocked_days,
    day_quality,
    failed_nonblocking_expectations,
    label_rows_used,
    label_status_between,
    labelled_by_age,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

__all__ = ["HealthResult", "build_pipeline_health", "label_window_start"]

# The label_arrival reference days end this many days before the judged day: older than
# every young day (young_days <= 7), so at each young day's age their labels were joined.
REFERENCE_GAP_DAYS = 7

HEALTH_COLUMNS = [
    "partition_date", "model_name", "check_name", "status", "severity", "observed",
    "threshold", "message", "details",
]  # fmt: skip


@dataclass(frozen=True)
class HealthResult:
    findings: list[HealthFinding]

    @property
    def statuses(self) -> dict[str, int]:
        counts = {"ok": 0, "warn": 0, "fail": 0}
        for finding in self.findings:
            counts[finding.status] += 1
        return counts


def label_window_start(day: date, lag_days: float, health: HealthConfig) -> date:
    """First day whose label_status any label check of ``day`` can read."""
    reach = max(
        health.label_coverage.window_days,
        2 * health.label_coverage_trend.days,
        health.label_lag.window_days,
    )
    return mature_days(day, lag_days) - timedelta(days=reach - 1)


def _baseline(engine: Engine, model_name: str, day: date) -> BaselineObservation | None:
    rows = baseline_row(engine, model_name, day)
    if rows.empty:
        return None
    row = rows.iloc[0]
    return BaselineObservation(
        status=row.status,
        baseline_from=None if pd.isna(row.baseline_from) else row.baseline_from,
        baseline_to=None if pd.isna(row.baseline_to) else row.baseline_to,
        baseline_days=int(row.baseline_days),
        rows=None if pd.isna(row.n_reference) else int(row.n_reference),
    )


def _presence(
    engine: Engine, config: MonitoringConfig, model_name: str, first: date, last: date
) -> PartitionPresence:
    span = (model_name, first, last)
    has_slos = bool(config.models[model_name].slos)
    return PartitionPresence(
        ingested=written_days(engine, "ingestion_stats", *span),
        label_status=written_days(engine, "label_status", *span),
        drift=written_days(engine, "drift", *span),
        error_budgets=written_days(engine, "error_budgets", *span) if has_slos else None,
        blocked=blocked_days(engine, *span),
    )


def _labels(engine: Engine, model_name: str, first: date, last: date) -> list[DayLabels]:
    frame = label_status_between(engine, model_name, first, last)
    return [
        DayLabels(
            day=row.partition_date,
            predictions=int(row.predictions),
            labelled=int(row.labelled),
            label_lag_p90_hours=None
            if pd.isna(row.label_lag_p90_hours)
            else float(row.label_lag_p90_hours),
            computed_on=row.computed_on,
        )
        for row in frame.itertuples()
    ]


def _young_days(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, cutoff: datetime
) -> list[YoungDayLabels]:
    """The label_arrival inputs: each young day's labels and the median share the
    reference days had labelled at the same age.

    Ages are counted to the label feed's own clock: the newest label recorded (by
    ``cutoff``) for any day since the reference days. A source filled up to an earlier
    moment (a simulation, a feed exported daily) is judged as of that moment, so lateness
    of the export itself is not taken for missing labels, and the figures depend on the
    data only: a re-run judges the same ages.
    """
    health = config.health_config(model_name)
    settings = health.label_arrival
    first_young = max(config.partitions_start, day - timedelta(days=settings.young_days - 1))
    last_reference = day - timedelta(days=REFERENCE_GAP_DAYS)
    first_reference = last_reference - timedelta(days=settings.reference_days - 1)
    since = max(config.partitions_start, first_reference)
    labels = label_rows_now(engine, config, model_name, since, labels_as_of=cutoff)
    written = label_rows_used(engine, model_name, first_young)
    written = written[written.partition_date <= day]
    newest = labels.newest_label_at.dropna()
    if written.empty or newest.empty:
        return []
    feed_clock = min(pd.Timestamp(cutoff), pd.Timestamp(newest.max()))
    young = written.merge(labels, on="partition_date", how="left").fillna({"label_rows_now": 0})
    young["age_hours"] = [
        (feed_clock - pd.Timestamp(d + timedelta(days=1), tz=UTC)) / pd.Timedelta(hours=1)
        for d in young.partition_date
    ]
    young = young[young.age_hours > 0]
    reference = labelled_by_age(
        engine, model_name, first_reference, last_reference, sorted(set(young.age_hours))
    )
    reference = reference[reference.predictions >= health.label_coverage.min_predictions]
    expected = (
        (reference.labelled / reference.predictions).groupby(reference.age_hours).median()
        if reference.partition_date.nunique() >= 3
        else pd.Series(dtype=float)
    )
    return [
        YoungDayLabels(
            day=row.partition_date,
            predictions=int(row.predictions),
            labelled=int(row.label_rows_now),
            expected_share=float(expected[row.age_hours]) if row.age_hours in expected else None,
            age_hours=float(row.age_hours),
        )
        for row in young.itertuples()
    ]


def _day_quality(engine: Engine, model_name: str, day: date) -> DayQuality | None:
    counts = day_quality(engine, model_name, day)
    if counts.empty:
        return None
    failed = failed_nonblocking_expectations(engine, model_name, day)
    return DayQuality(
        rows_read=int(counts.rows_read.iloc[0]),
        rows_quarantined=int(counts.rows_quarantined.iloc[0]),
        failed_checks=tuple(
            f"{row.check_name} {row.column_name or ''} {row.expectation}: "
            f"{row.unexpected_share:.1%} unexpected ({row.tolerance})".replace("  ", " ")
            if pd.notna(row.unexpected_share)
            else f"{row.check_name} {row.column_name or ''} {row.expectation} failed"
            for row in failed.itertuples()
        ),
    )


def evaluate_health(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    day: date,
    *,
    labels_as_of: datetime | None = None,
) -> list[HealthFinding]:
    """Every health check of (``model_name``, ``day``), in ``CHECK_NAMES`` order.

    ``labels_as_of``: the label cutoff of the run (a replay's), else the wall clock: the
    moment young days' labels are counted at (label_arrival)."""
    model = config.models[model_name]
    health = config.health_config(model_name)
    lag = model.expected_label_lag_days
    start = config.partitions_start
    overdue = health.overdue_partitions
    presence = _presence(
        engine, config, model_name, day - timedelta(days=overdue.lookback_days), day
    )
    labels = _labels(engine, model_name, label_window_start(day, lag, health), day)
    baseline = model.baseline
    sb = health.stale_baseline
    lc, trend, ll = health.label_coverage, health.label_coverage_trend, health.label_lag
    findings = {
        "stale_baseline": check_stale_baseline(
            day,
            _baseline(engine, model_name, day),
            partitions_start=start,
            preceding_days=baseline.preceding_days,
            start=baseline.start,
            end=baseline.end,
            max_age_days=sb.max_age_days,
            min_days=sb.min_days,
            min_rows=sb.min_rows,
            max_missing_days=sb.max_missing_days,
        ),
        "overdue_partitions": check_overdue_partitions(
            day,
            presence,
            partitions_start=start,
            lookback_days=overdue.lookback_days,
            max_overdue_days=overdue.max_overdue_days,
        ),
        "label_lag": check_label_lag(
            day,
            labels,
            expected_label_lag_days=lag,
            max_ratio=ll.max_ratio,
            window_days=ll.window_days,
            min_labelled=ll.min_labelled,
        ),
        "label_coverage": check_label_coverage(
            day,
            labels,
            expected_label_lag_days=lag,
            min_coverage=lc.min_coverage,
            window_days=lc.window_days,
            min_predictions=lc.min_predictions,
        ),
        "label_coverage_trend": check_label_coverage_trend(
            day,
            labels,
            expected_label_lag_days=lag,
            days=trend.days,
            max_drop=trend.max_drop,
            min_predictions=trend.min_predictions,
        ),
        "label_arrival": check_label_arrival(
            day,
            _young_days(engine, config, model_name, day, labels_as_of or datetime.now(UTC)),
            max_drop=health.label_arrival.max_drop,
            alpha=health.label_arrival.alpha,
            min_expected=health.label_arrival.min_expected,
        ),
        "data_quality": check_data_quality(
            day,
            _day_quality(engine, model_name, day),
            max_quarantined_share=config.quality(model_name).max_malformed_share,
        ),
    }
    return [with_severity(findings[name], getattr(health, name).severity) for name in CHECK_NAMES]


def build_pipeline_health(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    day: date,
    audit: Audit,
    *,
    labels_as_of: datetime | None = None,
) -> HealthResult:
    """Judge (``model_name``, ``day``) and replace its rows of ``monitoring.health_checks``
    (``labels_as_of``: the run's label cutoff, see :func:`evaluate_health`)."""
    findings = evaluate_health(
        engine, config, model_name, day, labels_as_of=labels_as_of or audit.produced_at
    )
    frame = pd.DataFrame(
        [
            {
                "partition_date": day,
                "model_name": model_name,
                "check_name": f.check_name,
                "status": f.status,
                "severity": f.severity,
                "observed": f.observed,
                "threshold": f.threshold,
                "message": f.message,
                "details": json.dumps(f.details, sort_keys=True, default=str),
            }
            for f in findings
        ],
        columns=HEALTH_COLUMNS,
    ).astype({"observed": "float64", "threshold": "float64"})
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows("health_checks", frame)],
        audit=audit,
    )
    return HealthResult(findings)
