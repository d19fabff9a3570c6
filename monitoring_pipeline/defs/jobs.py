"""Jobs over every model's assets."""

from __future__ import annotations

import dagster as dg

MONITOR_MODELS_JOB = "monitor_models_job"
# Run queue priority (tag dagster/priority) of alert_job and retraining_job: a page must not
# wait behind a backlog of monitor runs, such as late_labels_sensor re-running weeks of days.
RESPONSE_PRIORITY = "10"


def build_monitor_models_job(
    partitions_def: dg.PartitionsDefinition,
) -> dg.UnresolvedAssetJobDefinition:
    """Materialize every model's chain for one day."""
    return dg.define_asset_job(
        MONITOR_MODELS_JOB,
        selection=dg.AssetSelection.all(),  # external source specs are not materializable
        partitions_def=partitions_def,
        description="Label backfill, data quality and label status of every monitored model for one day.",
    )
