"""Run the monitoring job for a range of days on a persistent Dagster instance (CLI, demo).

Runs are recorded in the instance, so the Dagster UI shows them afterwards exactly as if
they had been launched from it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.runtime import dagster_environment
from monitoring_pipeline.settings import Settings
from monitoring_pipeline.storage.database import ServerUrls


@dataclass(frozen=True)
class PartitionRun:
    partition_key: str
    run_id: str
    success: bool
    seconds: float
    failed_checks: list[str]
    not_run: list[str]  # steps held back by a failed blocking check or upstream failure
    errors: list[str]  # failures other than blocking checks, one line each


@contextmanager
def dagster_instance(settings: Settings, urls: ServerUrls) -> Iterator[dg.DagsterInstance]:
    """The persistent instance of dagster.yaml, with this process' environment pointed at it."""
    environment = dagster_environment(settings, urls)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    settings.dagster_artifacts_dir.mkdir(parents=True, exist_ok=True)
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_days(
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    days: Sequence[date],
    *,
    database_url: str,
    progress: Callable[[int, int, PartitionRun], None] | None = None,
) -> list[PartitionRun]:
    """Materialize every asset of every model for each day, one run per day, in order."""
    job = build_definitions(config, database_url=database_url).resolve_job_def(MONITOR_MODELS_JOB)
    runs = []
    for index, day in enumerate(days, start=1):
        started = time.monotonic()
        result = job.execute_in_process(
            partition_key=day.isoformat(),
            instance=instance,
            raise_on_error=False,
            # Failures are reported by the caller in one line each; the events keep the details.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        failed_checks = [
            f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            for evaluation in (
                event.asset_check_evaluation_data
                for event in result.all_events
                if event.event_type_value == "ASSET_CHECK_EVALUATION"
            )
            if not evaluation.passed
        ]
        run = PartitionRun(
            partition_key=day.isoformat(),
            run_id=result.run_id,
            success=result.success,
            seconds=time.monotonic() - started,
            failed_checks=failed_checks,
            not_run=sorted(set(job.graph.node_names()) - _steps(result, "STEP_START")),
            errors=[
                f"{event.step_key}: {_root_message(event.step_failure_data.error)}"
                for event in result.all_events
                if event.event_type_value == "STEP_FAILURE"
                and event.step_failure_data.error
                # A failed blocking check is reported through failed_checks and not_run.
                and event.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"
            ],
        )
        runs.append(run)
        if progress is not None:
            progress(index, len(days), run)
    return runs


def _steps(result: dg.ExecuteInProcessResult, event_type: str) -> set[str]:
    return {
        e.step_key for e in result.all_events if e.event_type_value == event_type and e.step_key
    }


def _root_message(error) -> str:
    """First line of the innermost cause: Dagster wraps user errors in its own."""
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name
