"""The per-model ``drift`` asset: feature, score and null-rate drift against the baseline.

Thin: it calls ``pipeline.drift.build_drift`` for the partition and reports.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import model_provenance, partitioned_check_spec, run_step
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.verdict_checks import (
    DRIFT_CHECK,
    drift_check_description,
    drift_check_result,
    drifted_table,
)
from monitoring_pipeline.pipeline.drift import build_drift


def build_drift_asset(
    config: MonitoringConfig,
    model_name: str,
    partitions_def: dg.PartitionsDefinition,
    *,
    upstream: dg.AssetKey,
    properties: Mapping[str, Any],
) -> dg.AssetsDefinition:
    """``<model_name>/drift``: reads ``upstream`` (the model's labeled predictions), with
    ``properties`` (owners, code_version, pool) and a check that no test is flagged on the day."""
    key = dg.AssetKey([model_name, "drift"])
    provenance = model_provenance(config, model_name)

    @dg.asset(
        key=key,
        deps=[upstream],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **properties,
        check_specs=[
            partitioned_check_spec(
                DRIFT_CHECK, key, partitions_def, description=drift_check_description()
            )
        ],
        description="Per feature and score, overall and per cohort: PSI, KS, Jensen-Shannon, chi-square and null-rate change against the baseline, BH-adjusted.",
    )
    def drift(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(context, monitoring_db, provenance, build_drift, config, model_name)
        context.log.info(
            f"{model_name} {day}: {result.rows} drift rows, {result.drifted_tests} drifted; "
            f"baseline {result.baseline_description}"
        )
        if result.bins_fitted:
            context.log.info(f"bins fitted for {', '.join(result.bins_fitted)}")
        if result.backfilled_days:
            context.log.info(
                "histograms stored for baseline days "
                + ", ".join(d.isoformat() for d in result.backfilled_days)
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "histogram_rows": result.histogram_rows,
                "drifted_tests": result.drifted_tests,
                # The same count under the name the check and its plot over partitions use.
                "drift_flags": result.drifted_tests,
                "p_value_tests": result.p_value_tests,
                "baseline": result.baseline_description,
                "baseline_from": result.baseline_from.isoformat()
                if result.baseline_from
                else "none",
                "baseline_to": result.baseline_to.isoformat() if result.baseline_to else "none",
                "baseline_days": result.baseline_days,
                "status_counts": dg.MetadataValue.json(result.statuses),
                "bins_fitted_now": dg.MetadataValue.json(result.bins_fitted),
                "baseline_days_backfilled": len(result.backfilled_days),
                "drifted_features": drifted_table(result.drifted),
            },
            check_results=[drift_check_result(result.drifted, day.isoformat())],
        )

    return drift
