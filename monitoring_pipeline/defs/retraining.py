"""retraining_job: record a retraining request with its evidence and trigger the configured
action. Launched by the error-budget sensor (or by hand from the UI) with op config
``{"model_name", "slo_name", "as_of": "YYYY-MM-DD", "alert_dedupe_key"}``."""

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import EXPECTED_ERRORS, fail_clearly
from monitoring_pipeline.defs.jobs import RESPONSE_PRIORITY
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.tags import PRIORITY_TAG
from monitoring_pipeline.pipeline.retraining import RetrainingError, request_retraining

RETRAINING_JOB = "retraining_job"
REQUEST_RETRAINING_OP = "request_retraining"


class RetrainingRequestConfig(dg.Config):
    """Which page asks for retraining. ``alert_dedupe_key`` makes the request exactly-once."""

    model_name: str
    slo_name: str
    as_of: str  # YYYY-MM-DD: the partition day whose error budget paged
    alert_dedupe_key: str


def retraining_run_config(
    *, model_name: str, slo_name: str, as_of: str, alert_dedupe_key: str
) -> dict:
    """Run config of :data:`RETRAINING_JOB` (for sensors and callers)."""
    return {
        "ops": {
            REQUEST_RETRAINING_OP: {
                "config": {
                    "model_name": model_name,
                    "slo_name": slo_name,
                    "as_of": as_of,
                    "alert_dedupe_key": alert_dedupe_key,
                }
            }
        }
    }


def build_retraining_job(monitoring_config: MonitoringConfig) -> dg.JobDefinition:
    """The non-partitioned job with the single op ``request_retraining``."""

    @dg.op(
        name=REQUEST_RETRAINING_OP,
        out=dg.Out(int, description="The request id."),
        description="Load the evidence, record the request once per dedupe key, run its action, record the outcome.",
    )
    def request_retraining_op(
        context: dg.OpExecutionContext,
        config: RetrainingRequestConfig,
        monitoring_db: MonitoringDatabase,
    ):
        try:
            outcome = request_retraining(
                monitoring_db.engine(),
                monitoring_config,
                model_name=config.model_name,
                slo_name=config.slo_name,
                as_of=config.as_of,
                alert_dedupe_key=config.alert_dedupe_key,
                run_id=context.run_id,
                database_url=monitoring_db.database_url,
            )
        except RetrainingError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except EXPECTED_ERRORS as exc:
            raise fail_clearly(exc) from None
        context.log.info(outcome.summary)
        request = outcome.request
        return dg.Output(
            request.request_id,
            metadata={
                "request_id": request.request_id,
                "status": request.status,
                "status_reason": request.status_reason or "",
                "created": outcome.created,
                "acted": outcome.acted,
                "training_window": f"{request.training_start} .. {request.training_end}",
                "evidence": dg.MetadataValue.json(request.evidence),
            },
        )

    @dg.job(
        name=RETRAINING_JOB,
        description="Record a retraining request with its evidence (once per alert dedupe key) and trigger the model's configured retraining action.",
        tags={"kind": "retraining", PRIORITY_TAG: RESPONSE_PRIORITY},
    )
    def retraining_job():
        request_retraining_op()

    return retraining_job
