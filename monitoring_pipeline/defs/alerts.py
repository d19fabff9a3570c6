"""alert_job and error_budget_sensor. Thin: the decisions and the delivery live in
``pipeline.alerts`` and ``alerting``."""

from datetime import UTC, date, datetime

import dagster as dg
from dagster._core.storage.tags import PRIORITY_TAG

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.jobs import RESPONSE_PRIORITY
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.pipeline.alerts import (
    SOURCE,
    AlertDeliveryError,
    AlertRequest,
    AlertRequestError,
    evaluate_error_budgets,
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
    slo_name: str
    severity: str  # ticket | page
    kind: str  # firing | resolved
    as_of: str  # YYYY-MM-DD: the error_budgets day the alert is about
    dedupe_key: str
    episode_start: str | None = None  # YYYY-MM-DD; default: as_of
    reason: str = "launched by hand"
    source: str = SOURCE


def build_alert_job(config: MonitoringConfig) -> dg.JobDefinition:
    """``alert_job``: gather the evidence, write the alert row, deliver to the log and every
    configured webhook; fails (one line) when a destination never accepts it."""
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
            },
        )

    @dg.job(
        name=ALERT_JOB,
        description="Record an alert (evidence: budget figures, bad days, worst cohorts) and deliver it to the log and the configured webhooks.",
        tags={"kind": "alert", PRIORITY_TAG: RESPONSE_PRIORITY},
    )
    def alert_job():
        send_alert_op()

    return alert_job


def build_error_budget_sensor(
    config: MonitoringConfig,
    alert_job: dg.JobDefinition,
    retraining_job: dg.JobDefinition | None,
) -> dg.SensorDefinition:
    """Reacts to new ``error_budgets`` rows: decides page / ticket / escalation / resolved
    notifications per (model, SLO), records them in ``monitoring.alerts`` and requests one
    ``alert_job`` run each (run key = dedupe key + kind), plus ``retraining_job`` for a page
    of an SLO with ``retrain_on_page`` (None: no retraining requests).

    The cursor is the newest ``produced_at`` seen; the alert state lives in Postgres, so a
    lost cursor or a daemon restart decides nothing twice and loses nothing.
    """
    settings = config.alerting
    jobs = [alert_job] + ([retraining_job] if retraining_job is not None else [])

    @dg.sensor(
        name=ERROR_BUDGET_SENSOR,
        jobs=jobs,
        minimum_interval_seconds=settings.check_every_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts when an SLO's error budget reaches ticket or page (again on escalation, "
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
        outcome = evaluate_error_budgets(engine, config, since, datetime.now(UTC))
        for decision in outcome.decisions:
            context.log.info(decision.explanation)
        cursor = outcome.cursor.isoformat() if outcome.cursor else context.cursor
        requests = []
        for alert in outcome.pending:
            requests.append(alert_run_request(alert))
            if alert["retraining_requested"] and retraining_job is not None:
                requests.append(retraining_run_request(alert))
        if not requests:
            return dg.SensorResult(
                skip_reason=f"no alert to send ({outcome.changed_subjects} SLO(s) with new results)",
                cursor=cursor,
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return error_budget_sensor


def alert_run_request(alert) -> dg.RunRequest:
    """The alert_job run of a recorded alert; its run key is the dedupe key and kind."""
    return dg.RunRequest(
        run_key=f"alert:{alert['dedupe_key']}:{alert['kind']}",
        job_name=ALERT_JOB,
        run_config={
            "ops": {
                SEND_ALERT_OP: {
                    "config": {
                        "model_name": alert["model_name"],
                        "slo_name": alert["subject"],
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
            "slo": alert["subject"],
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
