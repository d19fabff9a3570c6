"""monitor_models_job: every model's assets for one day (alert_job and retraining_job are
built in ``defs/alerts.py`` and ``defs/retraining.py``)."""

from __future__ import annotations

import dagster as dg

MONITOR_MODELS_JOB = "monitor_models_job"
# Run queue priority (tag dagster/priority) of alert_job and retraining_job: a page must not
# wait behind a backlog of monitor runs, such as late_labels_sensor re-running weeks of days.
RESPONSE_PRIORITY = "10"


def build_monitor_models_job(
    partitions_def: dg.PartitionsDefinition,
    executor_def: dg.ExecutorDefinition | None = None,
) -> dg.UnresolvedAssetJobDefinition:
    """Materialize every model's whole chain for one day (the ten assets listed in
    ``defs/assets.py``, report included). ``executor_def``: where its steps run (None:
    the Definitions' executor; ``execute_in_process`` always runs them in process)."""
    return dg.define_asset_job(
        MONITOR_MODELS_JOB,
        selection=dg.AssetSelection.all(),  # external source specs are not materializable
        partitions_def=partitions_def,
        executor_def=executor_def,
        description=(
            "One day of every monitored model: label backfill and quality checks, label "
            "status, cohort metrics, fairness disparities, drift, SLO evaluations, error "
            "budgets, pipeline health, version comparison and the HTML report."
        ),
    )
