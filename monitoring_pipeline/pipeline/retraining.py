"""One retraining request: load the evidence -> record it once -> trigger the action ->
record the outcome. No Dagster: ``defs/retraining.py`` is a thin wrapper around
:func:`request_retraining`.

Re-running with the same ``alert_dedupe_key`` records nothing twice: a request already
triggered, completed or suppressed is left alone; one whose action failed (or whose run
died before acting) is acted on again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.worst_cohorts import worst_cohorts
from monitoring_pipeline.config.models import (
    CohortChangeSLI,
    CohortMetricSLI,
    CommandAction,
    DriftSLI,
    FairnessSLI,
    MonitoringConfig,
    SLOConfig,
    WebhookAction,
)
from monitoring_pipeline.core.retraining import (
    TrainingWindow,
    suggest_training_window,
)
from monitoring_pipeline.pipeline.alerts import sli_rows
from monitoring_pipeline.pipeline.retraining_actions import (
    ActionOutcome,
    command_argv,
    describe_target,
    post_webhook,
    run_command,
    webhook_url,
)
from monitoring_pipeline.storage import retraining as store
from monitoring_pipeline.storage import slo as slo_store
from monitoring_pipeline.storage.ingestion import label_coverage_between

DEFAULT_TRAINING_WINDOW_DAYS = 28


class RetrainingError(ValueError):
    """A retraining request that cannot be served; ``str()`` is one line."""


@dataclass(frozen=True)
class RequestOutcome:
    """What :func:`request_retraining` did."""

    request: store.RetrainingRequest
    created: bool
    acted: bool
    summary: str


# --------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    out = []
    for row in frame[columns].to_dict("records"):
        out.append(
            {
                k: (
                    _number(v)
                    if isinstance(v, float | int) and not isinstance(v, bool)
                    else (v.isoformat() if isinstance(v, date) else v)
                )
                for k, v in row.items()
            }
        )
    return out


def _budget(engine: Engine, model_name: str, slo: SLOConfig, as_of: date) -> dict | None:
    frame = slo_store.budget_row(engine, model_name, slo.name, as_of)
    if frame.empty:
        return None
    row = frame.iloc[0][_BUDGET_KEYS].to_dict()
    budget: dict[str, Any] = {}
    for key, value in row.items():
        if key == "status":
            budget[key] = value
        elif key == "evidence_through":
            budget[key] = None if pd.isna(value) else value.isoformat()
        elif key in _COUNT_KEYS:
            budget[key] = int(value)
        else:
            budget[key] = _number(value)
    return budget


# The budget figures a request's evidence keeps, in this order.
_BUDGET_KEYS = [
    "status", "target", "period_days", "known_days", "good_days", "bad_days", "unknown_days",
    "budget_days", "remaining_days", "remaining_fraction", "burn_rate_short", "burn_rate_long",
    "short_window_days", "long_window_days", "evidence_through",
]  # fmt: skip
_COUNT_KEYS = {
    "period_days", "known_days", "good_days", "bad_days", "unknown_days",
    "short_window_days", "long_window_days",
}  # fmt: skip


def _bad_days(engine: Engine, model_name: str, slo: SLOConfig, as_of: date) -> pd.DataFrame:
    start = as_of - timedelta(days=slo.compliance_period_days - 1)
    evaluations = slo_store.slo_evaluations(engine, model_name, slo.name, start, as_of)
    bad = evaluations[evaluations.status == "bad"]
    return bad[["partition_date", "sli_subject", "value", "lower", "upper"]]


# What a request's evidence says of each worst cohort, beside its figure: who it is.
_COHORT_COLUMNS = {
    FairnessSLI: ["cohort_attribute", "cohort_value", "reference_value"],
    CohortMetricSLI: ["cohort_attribute", "cohort_value", "n_labelled"],
    CohortChangeSLI: ["cohort_attribute", "cohort_value", "baseline_value", "denominator"],
    DriftSLI: ["cohort_attribute", "cohort_value", "n_current"],
}


def _worst_cohorts(
    engine: Engine, model_name: str, slo: SLOConfig, day: date, limit: int
) -> list[dict[str, Any]]:
    """The cohorts furthest beyond the objective on ``day`` (version 'all'), with
    intervals: the one ranking alerts and the report use
    (:func:`~monitoring_pipeline.alerting.worst_cohorts.worst_cohorts`)."""
    sli = slo.sli
    metric = sli.method if isinstance(sli, DriftSLI) else sli.metric
    worst = worst_cohorts(sli_rows(engine, model_name, day, slo), slo, limit)
    if worst.empty:
        return []
    columns = next(c for kind, c in _COHORT_COLUMNS.items() if isinstance(sli, kind))
    return _records(
        worst.assign(metric=metric),
        ["cohort", *columns, "metric", "value", "lower", "upper", "sufficient", "beyond_objective"],
    )


def _window_coverage(engine: Engine, model_name: str, window: TrainingWindow) -> dict[str, Any]:
    row = label_coverage_between(engine, model_name, window.start, window.end)
    predictions, labelled = int(row.predictions), int(row.labelled)
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "days": window.days,
        "days_materialized": int(row.days),
        "predictions": predictions,
        "labelled": labelled,
        "label_coverage": round(labelled / predictions, 4) if predictions else None,
    }


def load_evidence(
    engine: Engine, config: MonitoringConfig, model_name: str, slo: SLOConfig, as_of: date
) -> tuple[dict[str, Any], TrainingWindow]:
    """Why retraining is asked for, read from the published tables: the SLO's error
    budget as of ``as_of``, its bad days in the compliance period, the worst cohorts on
    the last judged day, and the suggested training window with its label coverage."""
    model = config.models[model_name]
    settings = model.retraining
    window = suggest_training_window(
        as_of,
        settings.training_window_days if settings else DEFAULT_TRAINING_WINDOW_DAYS,
        earliest=config.partitions_start,
    )
    budget = _budget(engine, model_name, slo, as_of)
    bad = _bad_days(engine, model_name, slo, as_of)
    judged = (
        date.fromisoformat(budget["evidence_through"])
        if budget and budget.get("evidence_through")
        else as_of
    )
    limit = settings.worst_cohorts if settings else 5
    if slo.objective.adaptive is not None:  # the band edge the evidence day was judged against
        reading = slo_store.slo_evaluations(engine, model_name, slo.name, judged, judged)
        if len(reading):
            slo = slo.judged_against(reading.objective_value.iloc[0])
    evidence = {
        "slo": {
            "name": slo.name,
            "description": slo.description,
            "sli": slo.sli.model_dump(),
            "objective": f"{slo.objective.op} {slo.objective.value:g}",
            "target": slo.target,
            "compliance_period_days": slo.compliance_period_days,
            "retrain_on_page": slo.retrain_on_page,
        },
        "budget": budget,
        "bad_days": _records(bad, ["partition_date", "sli_subject", "value", "lower", "upper"]),
        "first_bad_day": bad.partition_date.min().isoformat() if not bad.empty else None,
        "worst_cohorts_on": judged.isoformat(),
        "worst_cohorts": _worst_cohorts(engine, model_name, slo, judged, limit),
        "training_window": _window_coverage(engine, model_name, window),
    }
    return evidence, window


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise RetrainingError(f"as_of must be a day YYYY-MM-DD, got {text!r}") from None


def _slo(config: MonitoringConfig, model_name: str, slo_name: str) -> SLOConfig:
    if model_name not in config.models:
        raise RetrainingError(
            f"unknown model {model_name!r} (configured: {', '.join(sorted(config.models))})"
        )
    for slo in config.models[model_name].slos:
        if slo.name == slo_name:
            return slo
    names = [s.name for s in config.models[model_name].slos]
    raise RetrainingError(
        f"model {model_name} has no SLO {slo_name!r} (its SLOs: {', '.join(names) or 'none'})"
    )


def placeholder_values(request: store.RetrainingRequest) -> dict[str, str]:
    """Values of the command placeholders (and MONITORING_RETRAIN_* variables)."""
    return {
        "request_id": str(request.request_id),
        "model_name": request.model_name,
        "slo_name": request.slo_name,
        "as_of": request.as_of.isoformat(),
        "alert_dedupe_key": request.alert_dedupe_key,
        "training_start": request.training_start.isoformat(),
        "training_end": request.training_end.isoformat(),
    }


def webhook_payload(request: store.RetrainingRequest) -> dict[str, Any]:
    """What a webhook receives: the request, its evidence and how to report back."""
    return placeholder_values(request) | {
        "request_id": request.request_id,
        "evidence": request.evidence,
        "report_back": (
            f"monitoring-pipeline retrain-report --request-id {request.request_id} "
            "--version <new model version> [--message <text>]"
        ),
    }


def _act(
    engine: Engine,
    config: MonitoringConfig,
    request: store.RetrainingRequest,
    *,
    run_id: str,
    database_url: str | None,
) -> tuple[store.RetrainingRequest, bool]:
    """Run the action unless another run is running it; returns (request, acted)."""
    settings = config.models[request.model_name].retraining
    now = datetime.now(UTC)
    if settings is None:
        reason = (
            f"no retraining action configured for {request.model_name} "
            f"(models.{request.model_name}.retraining)"
        )
        store.fail_request(engine, request.request_id, reason=reason, now=now)
        raise RetrainingError(f"retraining request {request.request_id}: {reason}")
    action = settings.action
    values = placeholder_values(request)
    if isinstance(action, CommandAction):
        target = " ".join(command_argv(action, values))
    else:
        try:
            target = describe_target(webhook_url(action))
        except ValueError:
            target = f"${action.url_env}"
    claimed = store.claim_action(
        engine,
        request.request_id,
        kind=action.kind,
        target=target,
        run_id=run_id,
        now=now,
        stale_before=now - timedelta(seconds=action_deadline_seconds(action)),
    )
    if not claimed:
        current = store.get_request(engine, request.request_id)
        return current, False
    outcome: ActionOutcome
    if isinstance(action, CommandAction):
        # The program reaches the same monitoring database as this run.
        extra = {"MONITORING_DATABASE_URL": database_url} if database_url else {}
        outcome = run_command(action, values, extra_env=extra)
    else:
        outcome = post_webhook(
            action, webhook_payload(request), idempotency_key=request.alert_dedupe_key
        )
    recorded = store.finish_action(
        engine,
        request.request_id,
        succeeded=outcome.succeeded,
        reason=outcome.reason,
        exit_code=outcome.exit_code,
        http_status=outcome.http_status,
        output_tail=outcome.output_tail,
        attempts=outcome.attempts,
        now=datetime.now(UTC),
    )
    if not outcome.succeeded:
        raise RetrainingError(f"retraining request {request.request_id}: {outcome.reason}")
    return recorded, True


def action_deadline_seconds(action: CommandAction | WebhookAction) -> float:
    """How long an action may run at most: after that, an unfinished attempt is taken as
    abandoned (its run died) and the request may be claimed again."""
    if isinstance(action, CommandAction):
        return action.timeout_seconds + 60
    waits = sum(action.retry_wait_seconds * k for k in range(1, action.max_attempts))
    return action.max_attempts * action.timeout_seconds + waits + 60


def request_retraining(
    engine: Engine,
    config: MonitoringConfig,
    *,
    model_name: str,
    slo_name: str,
    as_of: str | date,
    alert_dedupe_key: str,
    run_id: str,
    database_url: str | None = None,
) -> RequestOutcome:
    """Record the retraining request for ``alert_dedupe_key`` once and act on it.

    Raises RetrainingError (one line) for a bad model, SLO or day, and when the action
    fails; the failure is recorded on the request first.
    """
    day = as_of if isinstance(as_of, date) else parse_day(as_of)
    if not alert_dedupe_key.strip():
        raise RetrainingError("alert_dedupe_key must not be empty")
    slo = _slo(config, model_name, slo_name)
    settings = config.models[model_name].retraining
    evidence, window = load_evidence(engine, config, model_name, slo, day)
    holder = store.find_cooldown_holder(
        engine,
        model_name=model_name,
        as_of=day,
        cooldown_days=settings.cooldown_days if settings else 0,
    )
    status, reason = "requested", "recorded; the action runs next"
    if holder is not None and holder.alert_dedupe_key != alert_dedupe_key:
        status = "suppressed"
        reason = (
            f"cooldown: request {holder.request_id} ({holder.slo_name}, as of {holder.as_of}, "
            f"{holder.status}) lies within {settings.cooldown_days} day(s)"  # type: ignore[union-attr]
        )
    request, created = store.record_request(
        engine,
        model_name=model_name,
        slo_name=slo_name,
        as_of=day,
        alert_dedupe_key=alert_dedupe_key,
        evidence=evidence,
        training_start=window.start,
        training_end=window.end,
        status=status,
        status_reason=reason,
        run_id=run_id,
        now=datetime.now(UTC),
    )
    if not created and (
        request.model_name != model_name or request.slo_name != slo_name or request.as_of != day
    ):
        raise RetrainingError(
            f"alert_dedupe_key {alert_dedupe_key!r} already names request {request.request_id} "
            f"for {request.model_name}/{request.slo_name} as of {request.as_of}"
        )
    if request.status not in store.ACTIONABLE:
        what = "recorded" if created else "already recorded"
        return RequestOutcome(
            request,
            created,
            acted=False,
            summary=f"retraining request {request.request_id} {what}: {request.status} "
            f"({request.status_reason})",
        )
    current, acted = _act(engine, config, request, run_id=run_id, database_url=database_url)
    if not acted:
        return RequestOutcome(
            current,
            created,
            acted=False,
            summary=f"retraining request {current.request_id}: another run is acting on it "
            f"(started {current.attempts} time(s)); nothing done",
        )
    verb = "recorded and" if created else "retried:"
    return RequestOutcome(
        current,
        created,
        acted=True,
        summary=f"retraining request {current.request_id} {verb} {current.status} "
        f"({current.status_reason})",
    )
