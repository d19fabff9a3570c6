"""Alerts from error budgets and pipeline health: decide on new results (the sensor's
work), then gather an alert's evidence, record it and deliver it (alert_job's work). The
health side's decisions and evidence live in ``pipeline.health_alerts``. No Dagster here.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.decisions import (
    Cooldown,
    Decision,
    Signal,
    decide,
    history_from_records,
)
from monitoring_pipeline.alerting.health_signals import HEALTH_SOURCE
from monitoring_pipeline.alerting.links import dagster_partition_url, report_url
from monitoring_pipeline.alerting.messages import (
    log_line,
    rank_worst_cohorts,
    slack_payload,
    summary_line,
)
from monitoring_pipeline.alerting.webhook import Attempt, deliver_webhook
from monitoring_pipeline.alerting.worst_cohorts import sli_figures
from monitoring_pipeline.config.models import (
    CanarySLI,
    CohortChangeSLI,
    CohortMetricSLI,
    ComplaintSLI,
    DriftSLI,
    EstimatedFairnessSLI,
    FairnessSLI,
    MonitoringConfig,
    OperationalSLI,
    SLOConfig,
    WebhookDestination,
)
from monitoring_pipeline.core.disparities import RATIO_METRICS
from monitoring_pipeline.core.version_comparison import canary_harm, release_action
from monitoring_pipeline.pipeline.health_alerts import (
    HEALTH_SUBJECTS,
    SourceDecisions,
    build_health_evidence,
    decide_health_alerts,
)
from monitoring_pipeline.settings import load_settings
from monitoring_pipeline.storage import alerts as store
from monitoring_pipeline.storage import releases as release_store
from monitoring_pipeline.storage import slo as slo_store
from monitoring_pipeline.storage.cohorts import (
    cohort_change_figures,
    cohort_metric_figures,
    fairness_figures,
    version_comparison_rows,
    version_shares,
)
from monitoring_pipeline.storage.complaints import complaint_figures
from monitoring_pipeline.storage.drift import cohort_drift
from monitoring_pipeline.storage.estimation import estimated_disparity_figures
from monitoring_pipeline.storage.operational import operational_figures

SOURCE = "error_budget"
LOG_DESTINATION = "log"
# produced_at is stamped when a step starts, not when it commits: a run that started before
# the newest row seen may commit after it. Re-reading this much before the cursor catches
# such rows; deciding again on a row already seen changes nothing.
CURSOR_OVERLAP = timedelta(hours=1)
# Alerts recorded but never picked up by alert_job (a tick that died between recording and
# launching) are requested again for this long; run keys keep Dagster from launching twice.
OUTBOX_HORIZON = timedelta(days=7)
_SEVERITY_RANK = {"ticket": 1, "page": 2}
# The HTML reports' default folder under MONITORING_HOME (config links.reports_dir overrides).
REPORTS_SUBDIR = "reports"


class AlertRequestError(ValueError):
    """An alert_job request names an unknown model or SLO, or has malformed fields."""


class AlertDeliveryError(RuntimeError):
    """A destination did not accept the alert after every allowed attempt."""


@dataclass(frozen=True)
class SensorOutcome:
    """What one sensor evaluation found and decided."""

    cursor: datetime | None
    changed_subjects: int
    decisions: list[Decision]
    newly_recorded: list[tuple[str, str]]
    pending: list[Mapping[str, Any]]
    changed_health_checks: int = 0  # (model, check) pairs with new health_checks rows


def error_budget_signals(current: pd.DataFrame, config: MonitoringConfig) -> list[Signal]:
    """One signal per configured SLO from its current error_budgets row."""
    signals = []
    for row in current.itertuples(index=False):
        slo = _slo(config, row.model_name, row.slo_name)
        if slo is None:  # removed from the config since: nothing to alert on
            continue
        signals.append(
            Signal(
                source=SOURCE,
                model_name=row.model_name,
                subject=row.slo_name,
                level=row.status,
                as_of=row.partition_date,
                evidence={
                    "table": "monitoring.error_budgets",
                    "partition_date": str(row.partition_date),
                },
                retrain_on_page=slo.retrain_on_page,
            )
        )
    return signals


def evaluate_error_budgets(
    engine: Engine, config: MonitoringConfig, since: datetime | None, now: datetime
) -> SensorOutcome:
    """Decide on every SLO whose error budget got new rows after ``since`` (error budgets
    only; the sensor uses :func:`evaluate_alerts`, which adds pipeline health).

    Decisions are recorded in ``monitoring.alerts`` (pending) before anything is launched,
    so a restart, a lost cursor or a repeated tick decides the same thing again and records
    nothing new. Returns every pending alert, the new ones and any left over.
    """
    budgets = _decide_error_budgets(engine, config, _reread_from(since))
    recorded = store.record_decisions(
        engine, [n for d in budgets.decisions for n in d.notifications], now
    )
    return SensorOutcome(
        cursor=_newest(since, budgets.newest_produced_at),
        changed_subjects=budgets.changed_subjects,
        decisions=budgets.decisions,
        newly_recorded=recorded,
        pending=store.pending_alerts(engine, now - OUTBOX_HORIZON),
    )


def evaluate_alerts(
    engine: Engine, config: MonitoringConfig, since: datetime | None, now: datetime
) -> SensorOutcome:
    """The sensor's work: decide on new error_budgets rows, new health_checks rows and
    models whose health rows stopped coming (judged on ``now``), record every notification
    (pending) in one statement, and return every pending alert.

    ``since`` is one cursor for both tables: the newest ``produced_at`` read in either.
    Both are written by the same monitoring runs, so the hour re-read before it covers a
    late commit in either table, as it does for one.
    """
    reread = _reread_from(since)
    budgets = _decide_error_budgets(engine, config, reread)
    health = decide_health_alerts(engine, config, reread, now)
    decisions = [*budgets.decisions, *health.decisions]
    recorded = store.record_decisions(engine, [n for d in decisions for n in d.notifications], now)
    return SensorOutcome(
        cursor=_newest(since, budgets.newest_produced_at, health.newest_produced_at),
        changed_subjects=budgets.changed_subjects,
        decisions=decisions,
        newly_recorded=recorded,
        pending=store.pending_alerts(engine, now - OUTBOX_HORIZON),
        changed_health_checks=health.changed_subjects,
    )


def _decide_error_budgets(
    engine: Engine, config: MonitoringConfig, since: datetime | None
) -> SourceDecisions:
    """Decisions for the SLOs with error_budgets rows produced after ``since``."""
    changes = store.budget_changes_since(engine, since)
    configured = {(m, slo.name) for m, model in config.models.items() for slo in model.slos}
    subjects = changes.subjects & configured
    current = store.current_budgets(engine, subjects)
    records = store.alert_records(engine, SOURCE, subjects)
    cooldown = Cooldown(
        ticket_days=config.alerting.cooldown_days.ticket,
        page_days=config.alerting.cooldown_days.page,
    )
    decisions = [
        decide(
            signal,
            history_from_records(records.get((signal.model_name, signal.subject), [])),
            cooldown,
        )
        for signal in error_budget_signals(current, config)
    ]
    return SourceDecisions(decisions, len(subjects), changes.newest_produced_at)


def _reread_from(since: datetime | None) -> datetime | None:
    return since - CURSOR_OVERLAP if since else None


def _newest(since: datetime | None, *seen: datetime | None) -> datetime | None:
    """The new cursor: the newest of ``since`` and the produced_at values just read."""
    return max((t for t in (since, *seen) if t is not None), default=None)


@dataclass(frozen=True)
class AlertRequest:
    """What alert_job is asked to send (its op config).

    The watched subject is ``subject``, or ``slo_name`` when ``subject`` is empty (the
    field error-budget alerts have always used): the SLO for ``error_budget``, the check
    name (or ``health_checks_missing``) for ``health_check``.
    """

    model_name: str
    slo_name: str
    severity: str
    kind: str
    as_of: date
    dedupe_key: str
    episode_start: date
    reason: str
    source: str = SOURCE
    subject: str = ""

    @property
    def watched(self) -> str:
        """The subject of the alert: the SLO or the health check."""
        return self.subject or self.slo_name

    def validate(self, config: MonitoringConfig) -> SLOConfig | None:
        """Check the request against the config; returns the SLO of an error-budget alert
        (None for a health alert). Raises :class:`AlertRequestError` naming the field."""
        if self.source not in (SOURCE, HEALTH_SOURCE):
            raise AlertRequestError(
                f"source must be {SOURCE!r} or {HEALTH_SOURCE!r}, got {self.source!r}"
            )
        if self.severity not in _SEVERITY_RANK:
            raise AlertRequestError(f"severity must be 'ticket' or 'page', got {self.severity!r}")
        if self.kind not in ("firing", "resolved"):
            raise AlertRequestError(f"kind must be 'firing' or 'resolved', got {self.kind!r}")
        if self.model_name not in config.models:
            raise AlertRequestError(f"model_name: no monitored model {self.model_name!r}")
        if self.subject and self.slo_name and self.subject != self.slo_name:
            raise AlertRequestError(
                f"subject {self.subject!r} and slo_name {self.slo_name!r} differ: give one"
            )
        if self.source == HEALTH_SOURCE:
            if self.watched not in HEALTH_SUBJECTS:
                raise AlertRequestError(
                    f"subject: {self.watched!r} is not a health check "
                    f"({', '.join(HEALTH_SUBJECTS)})"
                )
            return None
        if not self.watched:
            raise AlertRequestError("slo_name: required for error_budget alerts")
        slo = _slo(config, self.model_name, self.watched)
        if slo is None:
            raise AlertRequestError(
                f"slo_name: model {self.model_name!r} has no SLO {self.watched!r}"
            )
        return slo


@dataclass(frozen=True)
class SendReport:
    summary: str
    delivered_to: list[str]
    already_delivered: list[str]
    evidence_reused: bool
    links: Mapping[str, str | None] = field(default_factory=dict)  # name -> URL


def send_alert(
    engine: Engine,
    config: MonitoringConfig,
    request: AlertRequest,
    *,
    run_id: str,
    logger: logging.Logger | Any,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Record the alert with its evidence and links, and deliver it to every destination
    it is addressed to (see :func:`destinations`) and not yet served.

    Idempotent: the alert row is keyed by (dedupe key, kind); evidence gathered once is
    reused by re-executions, so every destination gets the same message; a destination with
    a delivered attempt is skipped. ``environ`` (default: the process's) locates
    ``MONITORING_HOME`` for the default reports folder. Raises :class:`AlertDeliveryError` (one line) when a
    destination never accepts it, after recording every attempt.
    """
    slo = request.validate(config)
    env = os.environ if environ is None else environ
    existing = store.get_alert(engine, request.dedupe_key, request.kind)
    reused = existing is not None and existing.get("evidence") is not None
    if reused:
        evidence = existing["evidence"]
    else:
        gathered = (
            build_evidence(engine, config, request, slo)
            if slo is not None
            else build_health_evidence(
                engine,
                config,
                model_name=request.model_name,
                subject=request.watched,
                severity=request.severity,
                kind=request.kind,
                as_of=request.as_of,
                episode_start=request.episode_start,
                reason=request.reason,
            )
        )
        evidence = gathered | alert_context(config, request, slo, env)
        links = evidence["links"]
        now = datetime.now(UTC)
        store.save_alert(
            engine,
            {
                "dedupe_key": request.dedupe_key,
                "kind": request.kind,
                "source": request.source,
                "model_name": request.model_name,
                "subject": request.watched,
                "severity": request.severity,
                "episode_start": request.episode_start,
                "as_of": request.as_of,
                "reason": request.reason,
                "retraining_requested": False,
                "decided_at": now,
                "delivery_status": "pending",
                "summary": summary_line(evidence),
                "evidence": evidence,
                "affected_partitions": store.as_dates(
                    d["day"] for d in evidence["affected_partitions"]
                ),
                "worst_cohorts": evidence.get("worst_cohorts"),
                "report_url": links["report"],
                "dagster_url": links["dagster"],
                "runbook_url": links["runbook"],
                "owners": evidence["owners"],
                "run_id": run_id,
                "produced_at": now,
            },
        )
    if request.kind == "firing" and evidence.get("recommendation"):
        release_store.record_recommendation(
            engine,
            alert_dedupe_key=request.dedupe_key,
            model_name=request.model_name,
            slo_name=request.watched,
            as_of=request.as_of,
            recommendation=evidence["recommendation"],
            run_id=run_id,
        )
    summary = summary_line(evidence)
    payload = slack_payload(evidence, request.dedupe_key)
    state = store.delivery_state(engine, request.dedupe_key, request.kind)
    delivered, skipped, failures = [], [], []
    errors: dict[str, list[str]] = {}

    def recorder(destination: str) -> Callable[[Attempt], None]:
        """Record each attempt as it ends, so a killed run still leaves the ones it made."""

        def record(attempt: Attempt) -> None:
            store.record_attempt(
                engine, request.dedupe_key, request.kind, destination, attempt, run_id=run_id
            )
            if attempt.outcome != "delivered":
                errors.setdefault(destination, []).append(attempt.error or "?")
                logger.warning(
                    f"{destination}: attempt {attempt.attempt} {attempt.outcome}: {attempt.error}"
                )

        return record

    severities = {request.severity}
    if request.kind == "resolved":
        severities |= store.episode_severities(
            engine, request.source, request.model_name, request.watched, request.episode_start
        )
    for destination in destinations(config, severities):
        name = LOG_DESTINATION if destination is None else destination.name
        last_attempt, done = state.get(name, (0, False))
        if done:
            skipped.append(name)
            continue
        if destination is None:
            started = datetime.now(UTC)
            log = logger.warning if request.kind == "firing" else logger.info
            log(log_line(evidence, request.dedupe_key))
            recorder(name)(Attempt(last_attempt + 1, started, "delivered", None, None, 0.0))
            delivered.append(name)
            continue
        url = destination.url or env.get(destination.url_env or "")
        if not url:
            error = f"environment variable {destination.url_env} is not set"
            recorder(name)(Attempt(last_attempt + 1, datetime.now(UTC), "failed", None, error, 0.0))
            failures.append(f"{name} ({error})")
            continue
        ok = deliver_webhook(
            url,
            payload,
            timeout=destination.timeout_seconds,
            max_attempts=destination.max_attempts,
            backoff_seconds=destination.backoff_seconds,
            on_attempt=recorder(name),
            first_attempt=last_attempt + 1,
            sleep=sleep,
        )
        if ok:
            delivered.append(name)
        else:
            tried = errors.get(name, ["?"])
            failures.append(f"{name} ({len(tried)} attempt(s), last: {tried[-1]})")
    if failures:
        store.set_delivery_status(engine, request.dedupe_key, request.kind, "failed", None)
        raise AlertDeliveryError(
            f"alert {request.dedupe_key} ({request.kind}) not delivered to {'; '.join(failures)}"
        )
    store.set_delivery_status(
        engine, request.dedupe_key, request.kind, "delivered", datetime.now(UTC)
    )
    return SendReport(summary, delivered, skipped, reused, dict(evidence.get("links") or {}))


def destinations(
    config: MonitoringConfig, severities: Iterable[str]
) -> list[WebhookDestination | None]:
    """Where an alert goes: the log (None) always, and each webhook that receives one of
    ``severities``. A firing alert has its own severity; a resolved notice those its
    episode fired at, so every channel that heard of the episode hears it end."""
    wanted = set(severities)
    return [None, *(w for w in config.alerting.webhooks if w.receives & wanted)]


def build_evidence(
    engine: Engine, config: MonitoringConfig, request: AlertRequest, slo: SLOConfig
) -> dict[str, Any]:
    """Budget figures of the as-of row, the bad days of its compliance period with their
    readings, and the worst cohorts of the SLI's source table on the last day with
    evidence; JSON-ready (dates as ISO strings, undefined numbers as null)."""
    model, day = request.model_name, request.as_of
    budget_rows = slo_store.budget_row(engine, model, slo.name, day)
    budget: dict[str, Any] = {}
    if not budget_rows.empty:
        row = budget_rows.iloc[0]
        budget = {
            column: _json(row[column])
            for column in (
                "status", "evidence_through", "target", "period_days", "known_days", "good_days",
                "bad_days", "unknown_days", "budget_days", "consumed_days", "remaining_days",
                "remaining_fraction", "burn_rate_short", "burn_rate_long", "short_window_days",
                "long_window_days",
            )
        }  # fmt: skip
    evidence_day = (
        date.fromisoformat(budget["evidence_through"]) if budget.get("evidence_through") else day
    )
    start = day - timedelta(days=slo.compliance_period_days - 1)
    evaluations = slo_store.slo_evaluations(engine, model, slo.name, start, day)
    bad = evaluations[evaluations.status == "bad"]
    affected = [
        {
            "day": _json(r.partition_date),
            "subject": r.sli_subject,
            "value": _json(r.value),
            "lower": _json(r.lower),
            "upper": _json(r.upper),
            "bad_members": list(r.bad_members),
        }
        for r in bad.itertuples(index=False)
    ]
    reading = evaluations[evaluations.partition_date == evidence_day]
    if len(reading):  # an adaptive objective: the band edge the evidence day was judged against
        slo = slo.judged_against(reading.objective_value.iloc[0])
    objective = objective_text(slo)
    recommendation = (
        canary_recommendation(engine, model, evidence_day, slo)
        if isinstance(slo.sli, CanarySLI) and request.kind == "firing"
        else None
    )
    return {
        "recommendation": recommendation,
        "source": request.source,
        "kind": request.kind,
        "severity": request.severity,
        "model_name": model,
        "subject": slo.name,
        "description": slo.description,
        "reason": request.reason,
        "as_of": day.isoformat(),
        "episode_start": request.episode_start.isoformat(),
        "evidence_day": evidence_day.isoformat(),
        "sli": slo.sli.model_dump(),
        "objective": objective,
        "budget": budget,
        "reading": {
            "subject": reading.sli_subject.iloc[0],
            "status": reading.status.iloc[0],
            "value": _json(reading.value.iloc[0]),
            "lower": _json(reading.lower.iloc[0]),
            "upper": _json(reading.upper.iloc[0]),
            "reason": reading.reason.iloc[0],
            "bad_members": list(reading.bad_members.iloc[0]),
            "members": int(reading.members.iloc[0]),
        }
        if len(reading)
        else None,
        "affected_partitions": affected,
        "worst_cohorts": rank_worst_cohorts(
            sli_cohorts(engine, model, evidence_day, slo), slo.objective.op, slo.objective.value
        ),
    }


def sli_rows(engine: Engine, model: str, day: date, slo: SLOConfig) -> pd.DataFrame:
    """The stored rows of the SLO's SLI figure on ``day`` (model version 'all'): every
    group of a fairness SLI's attribute, every cohort of a cohort metric, a change from
    baseline or a drift test."""
    sli = slo.sli
    if isinstance(sli, CanarySLI):
        return canary_harm(version_comparison_rows(engine, model, day, metric=sli.metric))
    if isinstance(sli, EstimatedFairnessSLI):
        return estimated_disparity_figures(
            engine, model, day, attribute=sli.attribute, metric=sli.metric
        )
    if isinstance(sli, FairnessSLI):
        return fairness_figures(engine, model, day, attribute=sli.attribute, metric=sli.metric)
    if isinstance(sli, OperationalSLI):
        return operational_figures(engine, model, day, metric=sli.metric)
    if isinstance(sli, ComplaintSLI):
        return complaint_figures(engine, model, day)
    if isinstance(sli, CohortMetricSLI):
        return cohort_metric_figures(engine, model, day, metric=sli.metric)
    if isinstance(sli, CohortChangeSLI):
        return cohort_change_figures(engine, model, day, metric=sli.metric)
    assert isinstance(sli, DriftSLI)
    return cohort_drift(engine, model, day, feature=sli.feature, method=sli.method)


def canary_recommendation(
    engine: Engine, model: str, day: date, slo: SLOConfig
) -> dict[str, Any] | None:
    """What to do about a worse canary on ``day``: ``hold`` its rollout, or ``rollback``
    once it serves most predictions (``core.version_comparison.release_action``), with
    the evidence: the cohort where it is clearly worst (largest lower bound of the harm)."""
    harm = sli_figures(sli_rows(engine, model, day, slo), slo)
    if harm.empty:
        return None
    worst = harm.sort_values("lower", ascending=False, na_position="last").iloc[0]
    share = version_shares(engine, model, day).get(worst.candidate_version)
    action = release_action(share)
    share_text = "" if share is None else f" ({share:.0%} of the day's predictions)"
    verb = "hold the rollout of" if action == "hold" else "roll back"
    return {
        "action": action,
        "candidate_version": str(worst.candidate_version),
        "incumbent_version": str(worst.incumbent_version),
        "candidate_share": _json(share),
        "metric": slo.sli.metric,
        "cohort": str(worst.cohort),
        "harm": _json(worst.value),
        "lower": _json(worst.lower),
        "upper": _json(worst.upper),
        "text": (
            f"{verb} {worst.candidate_version}{share_text}: its {slo.sli.metric} is "
            f"{worst.value:.3f} [{worst.lower:.3f}, {worst.upper:.3f}] worse than "
            f"{worst.incumbent_version}'s for {worst.cohort} on {day}"
        ),
    }


def sli_cohorts(engine: Engine, model: str, day: date, slo: SLOConfig) -> pd.DataFrame:
    """Every cohort that competes for the SLO's worst on ``day`` (see
    :func:`~monitoring_pipeline.alerting.worst_cohorts.sli_figures`): ``cohort, value,
    lower, upper, sufficient`` as stored; a signed fairness difference also as
    ``judged_value, judged_lower, judged_upper``, its size, which the SLO judges."""
    return sli_figures(sli_rows(engine, model, day, slo), slo)


def objective_text(slo: SLOConfig) -> str:
    """The objective as the SLO applies it: ``<= 0.1``, or ``|tpr_difference| <= 0.1`` for a
    difference, which is judged by its size whatever its sign."""
    sli = slo.sli
    bound = f"{slo.objective.op} {slo.objective.value:g}"
    adaptive = slo.objective.adaptive
    if adaptive is not None:
        side = "+" if slo.objective.op in ("<=", "<") else "-"
        bound += (
            f" (adaptive: mean {side} {adaptive.k:g} sd of its good days over the "
            f"{adaptive.window_days} before)"
        )
    if isinstance(sli, EstimatedFairnessSLI):
        return f"|{sli.metric}| {bound}, estimated from scores (labels still arriving)"
    if isinstance(sli, FairnessSLI) and sli.metric not in RATIO_METRICS:
        return f"|{sli.metric}| {bound}"
    if isinstance(sli, CohortChangeSLI):
        return f"|{sli.metric} - baseline| {bound}"
    return bound


def alert_context(
    config: MonitoringConfig,
    request: AlertRequest,
    slo: SLOConfig | None,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Where the alert leads, for its evidence: ``links`` (``report`` of the model and
    ``as_of`` day, ``dagster``: that partition of the SLO's ``error_budgets`` or of the
    model's ``pipeline_health`` for a health alert, ``runbook`` of the SLO or None),
    ``dagster_asset`` and ``owners`` (the SLO's ``owner``, else the model's ``owners``)."""
    model = config.models[request.model_name]
    links = config.links
    asset = [request.model_name, "error_budgets" if slo is not None else "pipeline_health"]
    reports_dir = (
        Path(links.reports_dir)
        if links.reports_dir
        else load_settings(dict(environ)).home / REPORTS_SUBDIR
    )
    day = request.as_of
    return {
        "links": {
            "report": report_url(
                request.model_name,
                day,
                reports_dir=reports_dir,
                reports_base_url=links.reports_base_url,
            ),
            "dagster": dagster_partition_url(links.dagster_url, asset, day.isoformat()),
            "runbook": slo.runbook_url if slo is not None else None,
        },
        "dagster_asset": "/".join(asset),
        "owners": model.slo_owners(slo) if slo is not None else list(model.owners),
    }


def _slo(config: MonitoringConfig, model_name: str, slo_name: str) -> SLOConfig | None:
    model = config.models.get(model_name)
    if model is None:
        return None
    return next((slo for slo in model.slos if slo.name == slo_name), None)


def _json(value: Any) -> Any:
    """A JSON-ready scalar: ISO dates, plain numbers, None for null/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value
