"""Alerts from pipeline health: decide on new ``health_checks`` rows and on models whose
rows stopped coming (the sensor's work), and gather a health alert's evidence (alert_job's
work). Recording and delivery are shared with the error-budget alerts (``pipeline.alerts``).
No Dagster here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.decisions import (
    Cooldown,
    Decision,
    Signal,
    decide,
    history_from_records,
)
from monitoring_pipeline.alerting.health_signals import (
    HEALTH_CHECKS_MISSING,
    HEALTH_SOURCE,
    health_check_signal,
    judge_missing_health,
    missing_health_signal,
)
from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.health import CHECK_NAMES
from monitoring_pipeline.storage import alerts as store
from monitoring_pipeline.storage import health as health_store

__all__ = [
    "HEALTH_SUBJECTS",
    "SourceDecisions",
    "build_health_evidence",
    "decide_health_alerts",
    "health_check_signals",
    "missing_health_signals",
]

# Every subject the health_check source alerts on.
HEALTH_SUBJECTS: tuple[str, ...] = (*CHECK_NAMES, HEALTH_CHECKS_MISSING)


@dataclass(frozen=True)
class SourceDecisions:
    """What one look at a signal source decided (health checks here, error budgets in
    ``pipeline.alerts``).

    ``changed_subjects``: (model, subject) pairs with new rows; ``newest_produced_at``: the
    newest ``produced_at`` among them (for the sensor's cursor).
    """

    decisions: list[Decision]
    changed_subjects: int
    newest_produced_at: datetime | None


def health_check_signals(current: pd.DataFrame, config: MonitoringConfig) -> list[Signal]:
    """One signal per current ``health_checks`` row of a configured model and known check."""
    return [
        health_check_signal(
            row.model_name, row.check_name, row.partition_date, row.status, row.severity
        )
        for row in current.itertuples(index=False)
        if row.model_name in config.models and row.check_name in CHECK_NAMES
    ]


def missing_health_signals(
    newest_days: Mapping[str, date | None], config: MonitoringConfig, today: date
) -> list[Signal]:
    """One ``health_checks_missing`` signal per configured model, judged on ``today``.

    None while the schedule is disabled: days are then materialized by hand, and days
    without health rows are expected.
    """
    if not config.schedule.enabled:
        return []
    settings = config.alerting.health_checks_missing
    signals = []
    for model_name in config.models:
        judged = judge_missing_health(
            newest_days.get(model_name),
            today,
            lag_days=config.schedule.lag_days,
            grace_days=settings.grace_days,
            severity=settings.severity,
        )
        signals.append(missing_health_signal(model_name, judged, today))
    return signals


def decide_health_alerts(
    engine: Engine, config: MonitoringConfig, since: datetime | None, now: datetime
) -> SourceDecisions:
    """Decide on every (model, check) with health rows produced after ``since``, and on
    every model's ``health_checks_missing`` as of ``now`` (every call: an absence produces
    no rows to notice). Nothing is recorded here; the caller records the notifications.

    A missing-health decision that notifies nothing is left out while its signal is ok, so
    a healthy steady state logs nothing every tick.
    """
    changes = store.health_changes_since(engine, since)
    subjects = {(m, c) for m, c in changes.subjects if m in config.models and c in CHECK_NAMES}
    signals = health_check_signals(store.current_health_checks(engine, subjects), config)
    today = now.astimezone(UTC).date()
    missing = (
        missing_health_signals(store.newest_health_days(engine, config.models), config, today)
        if config.schedule.enabled
        else []
    )
    records = store.alert_records(
        engine, HEALTH_SOURCE, {(s.model_name, s.subject) for s in [*signals, *missing]}
    )
    cooldown = Cooldown(
        ticket_days=config.alerting.cooldown_days.ticket,
        page_days=config.alerting.cooldown_days.page,
    )

    def judged(signal: Signal) -> Decision:
        history = history_from_records(records.get((signal.model_name, signal.subject), []))
        return decide(signal, history, cooldown)

    decisions = [judged(s) for s in signals]
    for signal in missing:
        decision = judged(signal)
        if decision.notifications or signal.level != "ok":
            decisions.append(decision)
    return SourceDecisions(decisions, len(subjects), changes.newest_produced_at)


def build_health_evidence(
    engine: Engine,
    config: MonitoringConfig,
    *,
    model_name: str,
    subject: str,
    severity: str,
    kind: str,
    as_of: date,
    episode_start: date,
    reason: str,
) -> dict[str, Any]:
    """The evidence of a health alert, JSON-ready.

    For a check: the finding of the ``as_of`` row (status, message, observed, threshold,
    details) and every day of the episode (``episode_start`` .. ``as_of``) with its status;
    the failing days are the affected partitions. For ``health_checks_missing``: the
    model's newest health day, the day expected by ``as_of`` and the days without rows.
    """
    base = {
        "source": HEALTH_SOURCE,
        "kind": kind,
        "severity": severity,
        "model_name": model_name,
        "subject": subject,
        "reason": reason,
        "as_of": as_of.isoformat(),
        "episode_start": episode_start.isoformat(),
        "evidence_day": as_of.isoformat(),
        "worst_cohorts": None,
    }
    if subject == HEALTH_CHECKS_MISSING:
        return base | _missing_evidence(engine, config, model_name, as_of)
    found = health_store.check_finding(engine, model_name, subject, as_of)
    finding = None
    if not found.empty:
        row = found.iloc[0]
        finding = {
            "day": as_of.isoformat(),
            "status": row.status,
            "severity": row.severity,
            "observed": _number(row.observed),
            "threshold": _number(row.threshold),
            "message": row.message,
            "details": _details(row.details),
            "produced_at": pd.Timestamp(row.produced_at).isoformat(),
        }
    days = health_store.check_episode(engine, model_name, subject, episode_start, as_of)
    episode = [
        {
            "day": r.partition_date.isoformat(),
            "status": r.status,
            "observed": _number(r.observed),
            "message": r.message,
        }
        for r in days.itertuples(index=False)
    ]
    return base | {
        "finding": finding,
        "episode_days": episode,
        "affected_partitions": [{"day": d["day"]} for d in episode if d["status"] == "fail"],
    }


def _missing_evidence(
    engine: Engine, config: MonitoringConfig, model_name: str, as_of: date
) -> dict[str, Any]:
    newest = store.newest_health_days(engine, [model_name]).get(model_name)
    settings = config.alerting.health_checks_missing
    judged = judge_missing_health(
        newest,
        as_of,
        lag_days=config.schedule.lag_days,
        grace_days=settings.grace_days,
        severity=settings.severity,
    )
    expected = judged.expected_through
    if judged.missing_days:
        message = (
            f"no pipeline_health rows after {newest} (expected through {expected} on {as_of}, "
            f"schedule '{config.schedule.cron}' UTC with lag {config.schedule.lag_days} day(s) "
            f"+ {settings.grace_days} day(s) of grace): is the Dagster daemon running and "
            "daily_monitoring_schedule on? Then re-run monitor_models_job for the missing days"
        )
    else:
        message = f"pipeline_health rows through {newest} (expected through {expected})"
    return {
        "finding": {
            "day": as_of.isoformat(),
            "status": "fail" if judged.missing_days else "ok",
            "severity": settings.severity,
            "observed": float((as_of - newest).days) if newest else None,
            "threshold": float(config.schedule.lag_days + settings.grace_days),
            "message": message,
            "details": {
                "newest_day": newest.isoformat() if newest else None,
                "expected_through": expected.isoformat(),
                "missing": [d.isoformat() for d in judged.missing_days],
                "schedule_cron": config.schedule.cron,
                "schedule_lag_days": config.schedule.lag_days,
                "grace_days": settings.grace_days,
            },
            "produced_at": None,
        },
        "episode_days": [],
        "affected_partitions": [{"day": d.isoformat()} for d in judged.missing_days],
    }


def _details(value: Any) -> Any:
    # jsonb comes back parsed; a text column (or a driver without jsonb support) as a string.
    return json.loads(value) if isinstance(value, str) else value


def _number(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return None if math.isnan(value) else value
