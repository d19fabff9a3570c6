"""alert_job and error_budget_sensor (error budgets and pipeline health). Thin: the
decisions and the delivery live in ``pipeline.alerts``, ``pipeline.health_alerts`` and
``alerting``."""

from collections.abc import Callable
from datetime import UTC, date, datetime

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.jobs import RESPONSE_PRIORITY
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.tags import PRIORITY_TAG
from monitoring_pipeline.pipeline.alerts import (
    SOURCE,
    AlertDeliveryError,
    AlertRequest,
    AlertRequestError,
    evaluate_alerts,
    send_alert,
)
from monitoring_pipeline.storage.database import DatabaseUnavailableError

ALERT_JOB = "alert_job"
SEND_ALERT_OP = "send_alert"
ERROR_BUDGET_SENSOR = "error_budget_sensor"
# Contract with the retraining work: job `retraining_job`, op `request_retraining`, op config
# {model_name, slo_name, as_of (YYYY-MM-DD), alert_dedupe_key}.
RETRAINING_JOB = "retraining_job"
REQUEST_RETRAINING_OP = "request_retraining"


class AlertConfig(dg.Config):
    """One alert to record and deliver (the sensor fills this in; it can be launched by hand)."""

    model_name: str
    slo_name: str = ""  # the SLO of an error_budget alert
    severity: str  # ticket | page
    kind: str  # firing | resolved
    as_of: str  # YYYY-MM-DD: the error_budgets / health_checks day the alert is about
    dedupe_key: str
    episode_start: str | None = None  # YYYY-MM-DD; default: as_of
    reason: str = "launched by hand"
    source: str = SOURCE  # error_budget | health_check
    subject: str = ""  # the health check of a health_check alert (or the SLO, as slo_name)


def build_alert_job(config: MonitoringConfig) -> dg.JobDefinition:
    """``alert_job``: gather the evidence and links, write the alert row, deliver to the log
    and every configured webhook that takes its severity; fails (one line) when a
    destination never accepts it."""
    monitoring_config = config

    @dg.op(name=SEND_ALERT_OP, description="Record one alert with its evidence and deliver it.")
    def send_alert_op(
        context: dg.OpExecutionContext, config: AlertConfig, monitoring_db: MonitoringDatabase
    ) -> dg.Output:
        try:
            as_of = date.fromisoformat(config.as_of)
            start = date.fromisoformat(config.episode_start) if config.episode_start else as_of
        except ValueError as exc:
            raise dg.Failure(
                description=f"as_of / episode_start: {exc}", allow_retries=False
            ) from None
        request = AlertRequest(
            model_name=config.model_name,
            slo_name=config.slo_name,
            severity=config.severity,
            kind=config.kind,
            as_of=as_of,
            dedupe_key=config.dedupe_key,
            episode_start=start,
            reason=config.reason,
            source=config.source,
            subject=config.subject,
        )
        try:
            report = send_alert(
                monitoring_db.engine(),
                monitoring_config,
                request,
                run_id=context.run_id,
                logger=context.log,
            )
        except (AlertDeliveryError, AlertRequestError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except DatabaseUnavailableError as exc:
            raise dg.Failure(description=str(exc)) from None
        return dg.Output(
            None,
            metadata={
                "summary": report.summary,
                "delivered_to": dg.MetadataValue.json(report.delivered_to),
                "already_delivered": dg.MetadataValue.json(report.already_delivered),
                "evidence_reused": report.evidence_reused,
                **{
                    f"{name}_url": dg.MetadataValue.url(url)
                    for name, url in report.links.items()
                    if url
                },
            },
        )

    @dg.job(
        name=ALERT_JOB,
        description="Record an alert (evidence: budget figures, bad days, worst cohorts; or a pipeline-health finding and its days; links to the report, the Dagster partition and the runbook; owners) and deliver it to the log and each configured webhook that takes its severity.",
        tags={"kind": "alert", PRIORITY_TAG: RESPONSE_PRIORITY},
    )
    def alert_job():
        send_alert_op()

    return alert_job


def build_error_budget_sensor(
    config: MonitoringConfig,
    alert_job: dg.JobDefinition,
    retraining_job: dg.JobDefinition | None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorDefinition:
    """Reacts to new ``error_budgets`` and ``health_checks`` rows: decides page / ticket /
    escalation / resolved notifications per (model, SLO) and per (model, health check),
    and whether a model's health rows stopped coming (``health_checks_missing``, judged on
    ``clock``); records them in ``monitoring.alerts`` and requests one ``alert_job`` run
    each (run key = dedupe key + kind), plus ``retraining_job`` for a page of an SLO with
    ``retrain_on_page`` (None: no retraining requests; health alerts never request it).

    The cursor is the newest ``produced_at`` seen in either table; the alert state lives in
    Postgres, so a lost cursor or a daemon restart decides nothing twice and loses nothing.
    """
    settings = config.alerting
    jobs = [alert_job] + ([retraining_job] if retraining_job is not None else [])

    @dg.sensor(
        name=ERROR_BUDGET_SENSOR,
        jobs=jobs,
        minimum_interval_seconds=settings.check_every_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts when an SLO's error budget reaches ticket or page, when a pipeline-health "
            "check fails, or when a model's health rows stop coming (again on escalation, "
            "resolved on recovery), deduplicated with cooldowns"
            + (
                "; requests retraining_job on a page of a retrain_on_page SLO."
                if retraining_job
                else "."
            )
        ),
    )
    def error_budget_sensor(context: dg.SensorEvaluationContext, monitoring_db: MonitoringDatabase):
        since = datetime.fromisoformat(context.cursor) if context.cursor else None
        try:
            engine = monitoring_db.engine()
        except DatabaseUnavailableError as exc:
            return dg.SkipReason(str(exc))
        outcome = evaluate_alerts(engine, config, since, clock())
        for decision in outcome.decisions:
            context.log.info(decision.explanation)
        cursor = outcome.cursor.isoformat() if outcome.cursor else context.cursor
        requests = []
        for alert in outcome.pending:
            requests.append(alert_run_request(alert))
            if (
                alert["retraining_requested"]
                and alert["source"] == SOURCE
                and retraining_job is not None
            ):
                requests.append(retraining_run_request(alert))
        if not requests:
            return dg.SensorResult(
                skip_reason=(
                    f"no alert to send ({outcome.changed_subjects} SLO(s) and "
                    f"{outcome.changed_health_checks} health check(s) with new results)"
                ),
                cursor=cursor,
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return error_budget_sensor


def alert_run_request(alert) -> dg.RunRequest:
    """The alert_job run of a recorded alert; its run key is the dedupe key and kind.

    An error-budget alert names its SLO in ``slo_name`` (as it always has), a health alert
    its check in ``subject``; the tags say which (``slo`` or ``check``).
    """
    is_budget = alert["source"] == SOURCE
    subject_field = "slo_name" if is_budget else "subject"
    return dg.RunRequest(
        run_key=f"alert:{alert['dedupe_key']}:{alert['kind']}",
        job_name=ALERT_JOB,
        run_config={
            "ops": {
                SEND_ALERT_OP: {
                    "config": {
                        "model_name": alert["model_name"],
                        subject_field: alert["subject"],
                        "severity": alert["severity"],
                        "kind": alert["kind"],
                        "as_of": alert["as_of"].isoformat(),
                        "dedupe_key": alert["dedupe_key"],
                        "episode_start": alert["episode_start"].isoformat(),
                        "reason": alert["reason"],
                        "source": alert["source"],
                    }
                }
            }
        },
        tags={
            "trigger": ERROR_BUDGET_SENSOR,
            "model": alert["model_name"],
            ("slo" if is_budget else "check"): alert["subject"],
            "alert_source": alert["source"],
            "severity": alert["severity"],
            "alert_kind": alert["kind"],
        },
    )


def retraining_run_request(alert) -> dg.RunRequest:
    """The retraining request that goes with a page (contract: see RETRAINING_JOB)."""
    return dg.RunRequest(
        run_key=f"retrain:{alert['dedupe_key']}",
        job_name=RETRAINING_JOB,
        run_config={
            "ops": {
                REQUEST_RETRAINING_OP: {
                    "config": {
                        "model_name": alert["model_name"],
                        "slo_name": alert["subject"],
                        "as_of": alert["as_of"].isoformat(),
                        "alert_dedupe_key": alert["dedupe_key"],
                    }
                }
            }
        },
        tags={
            "trigger": ERROR_BUDGET_SENSOR,
            "model": alert["model_name"],
            "slo": alert["subject"],
        },
    )
