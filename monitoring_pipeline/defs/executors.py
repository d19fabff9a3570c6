"""Executors of the jobs: dagster-celery's for ``monitor_models_job`` when the config has
``execution.celery`` (see ``monitoring_pipeline.distributed`` for the workers' side)."""

from __future__ import annotations

import logging
import warnings

import dagster as dg

from monitoring_pipeline.config.models import CeleryExecution

# A step is acknowledged when it ends, not when a worker takes it: a worker process killed
# mid-step (out of memory, a lost node) puts the step back on the queue for another worker,
# instead of leaving the run waiting for it forever. Re-running a step is safe: its
# partition writes are one transaction, rolled back with the lost connection.
RECOVER_LOST_STEPS = {"task_acks_late": True, "task_reject_on_worker_lost": True}

# How often the run's process looks at its steps on the workers. dagster-celery sleeps a
# whole second between looks (its module constant ``TICK_SECONDS``, no setting): each of
# the 6 step levels of a model's chain then waited up to a second for the next level to be
# sent (two workers, the demo's small days: 9.5-9.7 s a day, 5.5-6.4 s with 50 ms; README,
# "Cost and capacity"). A look is one broker read per step in flight.
STEP_POLL_SECONDS = 0.05


def celery_executor_def(execution: CeleryExecution) -> dg.ExecutorDefinition:
    """dagster-celery's executor on the configured broker; an ``*_env`` setting stays a
    reference to the variable (resolved where the run starts), so no secret enters the job."""
    from dagster_celery import celery_executor  # Celery only where it is configured

    _poll_steps_often()
    # dagster-celery registers its step task anew for every step it sends, and Celery warns
    # of each (a screen of warnings per run) though the task is the same function.
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
    broker = execution.broker or {"env": execution.broker_env}
    backend = execution.backend or (
        {"env": execution.backend_env} if execution.backend_env else broker
    )
    return celery_executor.configured(
        {"broker": broker, "backend": backend, "config_source": RECOVER_LOST_STEPS},
        name="celery",
    )


def _poll_steps_often() -> None:
    """dagster-celery's run loop looks at its steps every STEP_POLL_SECONDS, not every second."""
    from dagster_celery import core_execution_loop

    if hasattr(core_execution_loop, "TICK_SECONDS"):
        core_execution_loop.TICK_SECONDS = STEP_POLL_SECONDS
    else:  # a dagster-celery upgrade renamed it: still correct, only slower
        logging.getLogger(__name__).warning(
            "dagster_celery no longer has TICK_SECONDS: steps are polled at its own pace"
        )
