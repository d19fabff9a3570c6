"""Steps on Celery workers (``execution.celery`` in the config; dagster-celery).

Why Celery: Dagster's Celery executor orchestrates a run step by step from the run's own
process (a step whose upstream failed, or whose blocking check failed, is skipped exactly as
in process), while each step executes on whichever worker takes it from the broker; the
workers write their events and tables to the same PostgreSQL. The same executor reaches a
cluster unchanged: workers are processes (or the pods of a Deployment) that run
``monitoring-pipeline worker`` with the broker's and PostgreSQL's addresses. (dagster-dask
runs each step in its own one-step plan, so a failed upstream step does not hold back its
downstream ones: a blocked day would still be written.)

This module holds the workers' side and the check made before a run: the job as a worker
rebuilds it from the config file, the broker a worker connects to, and whether some worker
answers before a run waits on one (the executor itself is in ``defs/executors.py``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from monitoring_pipeline.config.models import CeleryExecution

if TYPE_CHECKING:
    import dagster as dg

# Where `monitoring-pipeline worker` hands the broker to the worker's Celery app
# (monitoring_pipeline.celery_app), resolved from the config once.
BROKER_VAR = "MONITORING_CELERY_BROKER_URL"
BACKEND_VAR = "MONITORING_CELERY_BACKEND_URL"
CELERY_APP = "monitoring_pipeline.celery_app"
QUEUE = "dagster"  # dagster-celery's default queue, which its executor sends steps to


class WorkersUnavailableError(RuntimeError):
    """No Celery worker answers on the configured broker (or the broker is unreachable)."""


def broker_urls(execution: CeleryExecution, environ: Mapping[str, str] = os.environ) -> dict:
    """``{BROKER_VAR: ..., BACKEND_VAR: ...}`` resolved from the config and ``environ``."""

    def resolve(value: str | None, variable: str | None) -> str | None:
        if value is not None:
            return value
        if variable is None:
            return None
        if not environ.get(variable):
            raise WorkersUnavailableError(
                f"execution.celery names environment variable {variable}, which is not set"
            )
        return environ[variable]

    broker = resolve(execution.broker, execution.broker_env)
    backend = resolve(execution.backend, execution.backend_env) or broker
    return {BROKER_VAR: broker, BACKEND_VAR: backend}


def celery_app(broker: str, backend: str):
    """The Celery app of dagster-celery's executor on ``broker``, with its step task."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    from monitoring_pipeline.defs.executors import RECOVER_LOST_STEPS  # Dagster: not at CLI start

    executor = CeleryExecutor.for_cli(
        broker=broker, backend=backend, config_source=RECOVER_LOST_STEPS
    )
    app = make_app(executor.app_args())
    create_task(app)
    return app


def answering_workers(execution: CeleryExecution, timeout: float = 3.0) -> list[str]:
    """Names of the workers that answer a ping on the broker within ``timeout`` seconds;
    raises WorkersUnavailableError, naming the broker without its password, if none does."""
    from monitoring_pipeline.storage.database import redact

    urls = broker_urls(execution)
    app = celery_app(urls[BROKER_VAR], urls[BACKEND_VAR])
    try:
        replies = app.control.ping(timeout=timeout)
    except Exception as exc:  # kombu raises the transport's own errors
        raise WorkersUnavailableError(
            f"cannot reach the Celery broker at {redact(urls[BROKER_VAR])}: {exc}"
        ) from None
    finally:
        app.close()
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise WorkersUnavailableError(
            f"no Celery worker answers on {redact(urls[BROKER_VAR])}: start one or more with "
            "`monitoring-pipeline worker` (same config, same database)"
        )
    return names


@functools.lru_cache(maxsize=4)
def _config_job(config_path: str, modified_ns: int, database_url: str | None, job_name: str):
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.definitions import build_definitions

    definitions = build_definitions(load_config(Path(config_path)), database_url=database_url)
    return definitions.resolve_job_def(job_name)


def config_job(
    config_path: str, database_url: str | None = None, job_name: str = "monitor_models_job"
) -> dg.JobDefinition:
    """Job ``job_name`` of the config file: how a worker or a job's step process rebuilds
    the run's job (once per process and version of the file, not once per step)."""
    path = Path(config_path)
    return _config_job(str(path), path.stat().st_mtime_ns, database_url, job_name)


def monitor_models_job(config_path: str, database_url: str | None = None) -> dg.JobDefinition:
    """``monitor_models_job`` of the config file (the Celery workers' job)."""
    return config_job(config_path, database_url)


def reconstructable_job(
    config_path: Path, database_url: str | None = None, job_name: str = "monitor_models_job"
):
    """A pointer to :func:`config_job` that Dagster hands to each process running a step
    of the job. Leave ``database_url`` None outside tests: it is stored with the run (see
    MonitoringDatabase)."""
    import dagster as dg

    return dg.build_reconstructable_job(
        __name__,
        config_job.__name__,
        reconstructable_kwargs={
            "config_path": str(config_path),
            "database_url": database_url,
            "job_name": job_name,
        },
    )


def reconstructable_monitor_job(config_path: Path, database_url: str | None = None):
    """:func:`reconstructable_job` of ``monitor_models_job`` (steps on Celery workers)."""
    return reconstructable_job(config_path, database_url)
