"""Jobs over every model's assets."""

from __future__ import annotations

import dagster as dg

MONITOR_MODELS_JOB = "monitor_models_job"


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
