"""The Celery app a worker runs (``celery -A monitoring_pipeline.celery_app worker``, started
by ``monitoring-pipeline worker``, which resolves the broker from the config into the
environment): dagster-celery's step task on that broker."""

import os

from celery.signals import task_postrun

from monitoring_pipeline.dagster_storage import close_storages, track_storages
from monitoring_pipeline.distributed import BACKEND_VAR, BROKER_VAR, celery_app

track_storages()  # inherited by the pool's forked processes


@task_postrun.connect
def _close_the_steps_storages(**_) -> None:
    # The step's Dagster instance is never closed by dagster-celery: close its connections.
    close_storages()


app = celery_app(os.environ[BROKER_VAR], os.environ.get(BACKEND_VAR) or os.environ[BROKER_VAR])
