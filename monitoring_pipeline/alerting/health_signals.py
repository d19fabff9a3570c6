"""Pipeline-health findings as alert signals (plain data in, signals out).

Two kinds of subject, both under source ``health_check``:

* a health check of a model (``stale_baseline``, ``overdue_partitions``, ...): its current
  finding is the ``monitoring.health_checks`` row of the newest ``partition_date``; a
  ``fail`` raises the row's ``severity``, anything else (``ok``, and ``warn``: worth a
  look, tolerated by the thresholds) is ``ok``;
* ``health_checks_missing``: the pipeline_health asset cannot notice the scheduler
  stopping altogether (then it does not run), so the absence of its rows is judged here,
  against the wall clock: the newest health day of a model must not be more than
  ``lag_days + grace_days`` days before today.

Example::

    >>> health_check_level("fail", "page"), health_check_level("warn", "page")
    ('page', 'ok')
    >>> judge_missing_health(date(2026, 11, 20), date(2026, 11, 24), lag_days=1, grace_days=1)
    MissingHealth(level='page', newest_day=datetime.date(2026, 11, 20), expected_through=datetime.date(2026, 11, 22), missing_days=(datetime.date(2026, 11, 21), datetime.date(2026, 11, 22)))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipeline.alerting.decisions import Level, Severity, Signal

__all__ = [
    "HEALTH_CHECKS_MISSING",
    "HEALTH_SOURCE",
    "MissingHealth",
    "health_check_level",
    "health_check_signal",
    "judge_missing_health",
    "missing_health_signal",
]

HEALTH_SOURCE = "health_check"
HEALTH_CHECKS_MISSING = "health_checks_missing"
HEALTH_TABLE = "monitoring.health_checks"

ERROR_STATUS = "health status must be 'ok', 'warn' or 'fail', got {status!r}"
ERROR_SEVERITY = "health severity must be 'ticket' or 'page', got {severity!r}"


def health_check_level(status: str, severity: str) -> Level:
    """The alert level of a finding: its ``severity`` when it fails, else ``ok``.

    A ``warn`` notifies nothing: it is tolerated by the thresholds and shows in the Dagster
    UI and the table; only a broken threshold wakes anyone.
    """
    if status not in ("ok", "warn", "fail"):
        raise ValueError(ERROR_STATUS.format(status=status))
    if severity not in ("ticket", "page"):
        raise ValueError(ERROR_SEVERITY.format(severity=severity))
    return severity if status == "fail" else "ok"  # type: ignore[return-value]


def health_check_signal(
    model_name: str, check_name: str, partition_date: date, status: str, severity: str
) -> Signal:
    """The signal of one check's current ``health_checks`` row (never requests retraining:
    a finding about the monitoring says nothing about the model's quality)."""
    return Signal(
        source=HEALTH_SOURCE,
        model_name=model_name,
        subject=check_name,
        level=health_check_level(status, severity),
        as_of=partition_date,
        evidence={"table": HEALTH_TABLE, "partition_date": partition_date.isoformat()},
        retrain_on_page=False,
    )


@dataclass(frozen=True)
class MissingHealth:
    """Whether a model's health rows are overdue as of a day.

    ``expected_through``: the newest day that should have health rows by then;
    ``missing_days``: the days after ``newest_day`` up to it (empty when level is ``ok``).
    """

    level: Level
    newest_day: date | None
    expected_through: date
    missing_days: tuple[date, ...]


def judge_missing_health(
    newest_day: date | None,
    today: date,
    *,
    lag_days: int,
    grace_days: int,
    severity: Severity = "page",
) -> MissingHealth:
    """Judge a model's newest health day against ``today`` (the wall clock's UTC day).

    The schedule materializes day ``T - lag_days`` on day ``T``; a day of grace more covers
    a run still going or a tick late in the day. So the newest health day must be at least
    ``today - lag_days - grace_days``; older, the model raises ``severity``.

    A model with no health rows at all (``newest_day`` None) is not judged: it has never
    run, e.g. it was added since the last scheduled run, and would otherwise page before
    its first one (its gaps show in ``overdue_partitions`` once it runs).
    """
    expected_through = today - timedelta(days=lag_days + grace_days)
    if newest_day is None or newest_day >= expected_through:
        return MissingHealth("ok", newest_day, expected_through, ())
    first = newest_day + timedelta(days=1)
    missing = tuple(first + timedelta(days=i) for i in range((expected_through - first).days + 1))
    return MissingHealth(severity, newest_day, expected_through, missing)


def missing_health_signal(model_name: str, judged: MissingHealth, today: date) -> Signal:
    """The ``health_checks_missing`` signal of a model, observed on ``today``.

    Its day is the wall clock's: episodes, cooldowns and dedupe keys count calendar days.
    """
    return Signal(
        source=HEALTH_SOURCE,
        model_name=model_name,
        subject=HEALTH_CHECKS_MISSING,
        level=judged.level,
        as_of=today,
        evidence={
            "table": HEALTH_TABLE,
            "newest_day": judged.newest_day.isoformat() if judged.newest_day else "",
            "expected_through": judged.expected_through.isoformat(),
        },
        retrain_on_page=False,
    )
