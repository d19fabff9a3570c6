"""Sensors. late_labels_sensor: re-run days whose labels have grown since they were built;
late_complaints_sensor: re-count days whose complaints grew or whose window closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.tags import LABELS_AS_OF_TAG
from monitoring_pipeline.pipeline.late_complaints import find_stale_complaint_days
from monitoring_pipeline.pipeline.late_labels import find_stale_partitions
from monitoring_pipeline.storage.database import DatabaseUnavailableError

LATE_LABELS_SENSOR = "late_labels_sensor"
LATE_COMPLAINTS_SENSOR = "late_complaints_sensor"


def build_late_labels_sensor(
    config: MonitoringConfig,
    asset_keys: dict[str, list[dg.AssetKey]],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    labels_as_of_clock: bool = False,
) -> dg.SensorDefinition:
    """Requests the model's label-dependent assets for each day whose label rows grew by
    ``late_labels.min_change`` of its predictions. The run key names the model, the day
    and the label rows seen, so repeated ticks before the re-run lands request nothing new,
    and a day is re-run again only when more labels arrive. ``asset_keys``: per model, the
    assets whose results depend on labels (labeled_predictions and everything downstream
    but drift, see ``LABEL_INDEPENDENT_ASSETS``). The lookback window ends on ``clock()``'s
    day (tests and replays pass their own clock). ``labels_as_of_clock`` (a replay): count
    only labels recorded by ``clock()``, and tag each run with that cutoff
    (``monitoring/labels_as_of``) so that it joins those labels only."""
    settings = config.late_labels

    @dg.sensor(
        name=LATE_LABELS_SENSOR,
        job_name=MONITOR_MODELS_JOB,
        minimum_interval_seconds=settings.check_every_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Re-runs a model's days (last {settings.lookback_days}) whose label rows grew by "
            f">= {settings.min_change:.0%} of their predictions since they were materialized."
        ),
    )
    def late_labels_sensor(context: dg.SensorEvaluationContext, monitoring_db: MonitoringDatabase):
        now = clock().astimezone(UTC)
        today = now.date()
        cutoff = now if labels_as_of_clock else None
        try:
            engine = monitoring_db.engine()
        except DatabaseUnavailableError as exc:
            return dg.SkipReason(str(exc))
        requests = []
        for model_name in config.models:
            for stale in find_stale_partitions(
                engine, config, model_name, today, labels_as_of=cutoff
            ):
                context.log.info(
                    f"{model_name} {stale.partition_date}: label rows {stale.label_rows_used} -> "
                    f"{stale.label_rows_now} ({stale.change:+.1%} of {stale.predictions} predictions)"
                )
                day = stale.partition_date.isoformat()
                requests.append(
                    dg.RunRequest(
                        run_key=f"late-labels:{model_name}:{day}:{stale.label_rows_now}",
                        partition_key=day,
                        asset_selection=asset_keys[model_name],
                        tags={
                            "trigger": "late_labels",
                            "model": model_name,
                            **({LABELS_AS_OF_TAG: cutoff.isoformat()} if cutoff else {}),
                        },
                    )
                )
        if not requests:
            return dg.SkipReason("no materialized day gained enough labels")
        return requests

    return late_labels_sensor


def build_late_complaints_sensor(
    config: MonitoringConfig,
    asset_keys: dict[str, list[dg.AssetKey]],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    complaints_as_of_clock: bool = False,
) -> dg.SensorDefinition:
    """Requests a model's complaint-dependent assets (``asset_keys``: complaint_metrics and
    what reads it) for each day whose in-window complaints, counted at ``clock()``, differ
    from the stored count, or whose window closed since (the rate becomes final). The run
    key names the model, the day, the count and whether the window is closed, so a day is
    re-run once per change. ``complaints_as_of_clock`` (a replay): tag each run with
    ``clock()`` (``monitoring/labels_as_of``) so that it counts what was known then."""

    @dg.sensor(
        name=LATE_COMPLAINTS_SENSOR,
        job_name=MONITOR_MODELS_JOB,
        minimum_interval_seconds=config.late_labels.check_every_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Re-counts a model's complaint rates on the days whose complaints grew, or whose "
            "complaint window closed, since they were counted."
        ),
    )
    def late_complaints_sensor(
        context: dg.SensorEvaluationContext, monitoring_db: MonitoringDatabase
    ):
        now = clock().astimezone(UTC)
        try:
            engine = monitoring_db.engine()
        except DatabaseUnavailableError as exc:
            return dg.SkipReason(str(exc))
        requests = []
        for model_name in asset_keys:
            for stale in find_stale_complaint_days(engine, config, model_name, now):
                context.log.info(f"{model_name} {stale.partition_date}: {stale.why}")
                day = stale.partition_date.isoformat()
                state = "closed" if stale.window_closed else "open"
                requests.append(
                    dg.RunRequest(
                        run_key=f"late-complaints:{model_name}:{day}:{stale.complaints_now}:{state}",
                        partition_key=day,
                        asset_selection=asset_keys[model_name],
                        tags={
                            "trigger": "late_complaints",
                            "model": model_name,
                            **(
                                {LABELS_AS_OF_TAG: now.isoformat()}
                                if complaints_as_of_clock
                                else {}
                            ),
                        },
                    )
                )
        if not requests:
            return dg.SkipReason("no day's complaint count changed")
        return requests

    return late_complaints_sensor
