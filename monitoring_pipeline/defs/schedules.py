"""The daily schedule: materialize the latest complete day of every asset of every model."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig

DAILY_SCHEDULE = "daily_monitoring_schedule"


def build_daily_schedule(
    config: MonitoringConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """At ``schedule.cron`` (UTC), run ``job`` for the day ``schedule.lag_days`` before the tick.

    A lag of 1 is the day that just ended; a larger lag waits for late logs. The run key is
    the partition, so a repeated tick never launches the same day twice.
    """
    settings = config.schedule

    @dg.schedule(
        name=DAILY_SCHEDULE,
        cron_schedule=settings.cron,
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING
        if settings.enabled
        else dg.DefaultScheduleStatus.STOPPED,
        description=f"Every day at '{settings.cron}' UTC: all assets of every model for the day {settings.lag_days} day(s) before.",
    )
    def daily_monitoring_schedule(context: dg.ScheduleEvaluationContext):
        day = (context.scheduled_execution_time - timedelta(days=settings.lag_days)).date()
        if day < config.partitions_start:
            return dg.SkipReason(f"{day} is before partitions_start {config.partitions_start}")
        partition_key = day.isoformat()
        return dg.RunRequest(
            run_key=partition_key, partition_key=partition_key, tags={"trigger": "daily_schedule"}
        )

    return daily_monitoring_schedule
