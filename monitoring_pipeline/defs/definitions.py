"""Build the Definitions object from a validated monitoring config."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.alerts import build_alert_job, build_error_budget_sensor
from monitoring_pipeline.defs.assets import (
    COMPLAINT_DEPENDENT_ASSETS,
    LABEL_INDEPENDENT_ASSETS,
    build_model_assets,
)
from monitoring_pipeline.defs.backfill import build_backfill_job
from monitoring_pipeline.defs.executors import celery_executor_def
from monitoring_pipeline.defs.jobs import build_monitor_models_job
from monitoring_pipeline.defs.partitions import daily_partitions
from monitoring_pipeline.defs.report_assets import build_report_asset
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.retraining import build_retraining_job
from monitoring_pipeline.defs.schedules import build_daily_schedule
from monitoring_pipeline.defs.sensors import build_late_complaints_sensor, build_late_labels_sensor
from monitoring_pipeline.defs.version_comparison import build_version_comparison_asset


def _now() -> datetime:
    return datetime.now(UTC)


def build_definitions(
    config: MonitoringConfig,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    labels_as_of_clock: bool = False,
    reports: bool = True,
) -> dg.Definitions:
    """Every asset, job, schedule and sensor of the config. error_budget_sensor launches
    alert_job (error budgets and pipeline health), and retraining_job on a page of a
    ``retrain_on_page`` SLO. ``clock`` (default: the wall clock, UTC) is what every sensor
    takes as "now": tests and the demo's simulated days pass their own. ``database_url``
    becomes the resource's config, stored in every job snapshot: leave it None outside tests
    (the URL, password included, is then read at run time; see ``MonitoringDatabase``).
    ``labels_as_of_clock`` (a replay, ``monitoring-pipeline backtest``): late_labels_sensor
    sees, and lets its runs join, only the labels recorded by ``clock()``. ``reports=False``
    leaves out each model's HTML ``report`` asset (a replay decides nothing with it)."""
    partitions_def = daily_partitions(config.partitions_start)
    per_model = {
        name: [
            *build_model_assets(config, name, partitions_def),
            build_version_comparison_asset(config, name, partitions_def),
            *([build_report_asset(config, name, partitions_def)] if reports else []),
        ]
        for name in config.models
    }
    assets = [asset for chain in per_model.values() for asset in chain]
    label_dependent = {
        name: [
            key
            for asset in chain
            if isinstance(asset, dg.AssetsDefinition)
            for key in asset.keys
            if key.path[-1] not in LABEL_INDEPENDENT_ASSETS
        ]
        for name, chain in per_model.items()
    }
    complaint_dependent = {
        name: [
            key
            for asset in chain
            if isinstance(asset, dg.AssetsDefinition)
            for key in asset.keys
            if key.path[-1] in COMPLAINT_DEPENDENT_ASSETS
        ]
        for name, chain in per_model.items()
        if config.models[name].complaints is not None
    }
    execution = config.execution.celery
    # Without Celery a run's steps execute in its own process, one after another: Dagster's
    # default (a process per step) paid ~1.7 s of imports for each of a day's ~34 steps, and
    # a UI backfill run of the demo's two models took 56-62 s a day instead of 5.0-5.4 s
    # (README, "Runs the daemon launches").
    job = build_monitor_models_job(
        partitions_def,
        celery_executor_def(execution) if execution is not None else dg.in_process_executor,
    )
    alert_job = build_alert_job(config)
    retraining_job = build_retraining_job(config)
    return dg.Definitions(
        assets=assets,
        jobs=[
            job,
            build_backfill_job(config, database_url=database_url),
            alert_job,
            retraining_job,
        ],
        schedules=[build_daily_schedule(config, job)],
        sensors=[
            build_late_labels_sensor(
                config, label_dependent, clock=clock or _now, labels_as_of_clock=labels_as_of_clock
            ),
            *(
                [
                    build_late_complaints_sensor(
                        config,
                        complaint_dependent,
                        clock=clock or _now,
                        complaints_as_of_clock=labels_as_of_clock,
                    )
                ]
                if complaint_dependent
                else []
            ),
            build_error_budget_sensor(config, alert_job, retraining_job, clock=clock or _now),
        ],
        resources={"monitoring_db": MonitoringDatabase(database_url=database_url)},
        # Every other run (an asset materialized from the asset graph, alert_job,
        # retraining_job) in process too.
        executor=dg.in_process_executor,
    )
