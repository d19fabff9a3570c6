"""Build the Definitions object from a validated monitoring config."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.alerts import build_alert_job, build_error_budget_sensor
from monitoring_pipeline.defs.assets import build_model_assets
from monitoring_pipeline.defs.jobs import build_monitor_models_job
from monitoring_pipeline.defs.partitions import daily_partitions
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.schedules import build_daily_schedule
from monitoring_pipeline.defs.sensors import build_late_labels_sensor


def build_definitions(
    config: MonitoringConfig,
    *,
    database_url: str | None = None,
    retraining_job: dg.JobDefinition | None = None,
) -> dg.Definitions:
    """Every asset, job, schedule and sensor of the config. ``retraining_job`` (named
    ``retraining_job``) is what error_budget_sensor requests on a page of a
    ``retrain_on_page`` SLO; without it the sensor alerts only."""
    partitions_def = daily_partitions(config.partitions_start)
    per_model = {name: build_model_assets(config, name, partitions_def) for name in config.models}
    assets = [asset for chain in per_model.values() for asset in chain]
    materializable = {
        name: [
            key for asset in chain if isinstance(asset, dg.AssetsDefinition) for key in asset.keys
        ]
        for name, chain in per_model.items()
    }
    job = build_monitor_models_job(partitions_def)
    alert_job = build_alert_job(config)
    extra_jobs = [retraining_job] if retraining_job is not None else []
    return dg.Definitions(
        assets=assets,
        jobs=[job, alert_job, *extra_jobs],
        schedules=[build_daily_schedule(config, job)],
        sensors=[
            build_late_labels_sensor(config, materializable),
            build_error_budget_sensor(config, alert_job, retraining_job),
        ],
        resources={"monitoring_db": MonitoringDatabase(database_url=database_url)},
    )
