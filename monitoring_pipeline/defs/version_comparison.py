"""version_comparison: the canary comparison of model versions serving the same day."""

import dagster as dg
import pandas as pd

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import (
    metadata_table,
    model_provenance,
    model_step_properties,
    run_step,
)
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.pipeline.version_comparison import build_version_comparison


def build_version_comparison_asset(
    config: MonitoringConfig, model_name: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``<model>/version_comparison``, downstream of ``<model>/cohort_metrics``."""
    provenance = model_provenance(config, model_name)

    @dg.asset(
        key=[model_name, "version_comparison"],
        deps=[dg.AssetKey([model_name, "cohort_metrics"])],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **model_step_properties(config, model_name),
        description="On days served by two or more versions: candidate minus incumbent per cohort and metric, with Newcombe 95% intervals.",
    )
    def version_comparison(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, provenance, build_version_comparison, config, model_name
        )
        if result.candidate:
            context.log.info(
                f"{model_name} {day}: candidate {result.candidate} vs "
                f"{[v for v in result.versions if v != result.candidate]}: "
                f"{len(result.largest)} clear difference(s) shown"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "versions": ", ".join(result.versions) or "none",
                "candidate": result.candidate or "n/a (fewer than two versions)",
                "largest_differences": differences_table(result.largest),
            }
        )

    return version_comparison


def differences_table(largest: pd.DataFrame) -> dg.MetadataValue:
    """The largest clear differences between versions, largest first."""
    frame = pd.DataFrame(
        {
            "cohort": (largest.cohort_attribute + "=" + largest.cohort_value).astype(object),
            "metric": largest.metric.astype(object),
            "difference": largest.difference.astype(float),
            "lower": largest.lower.astype(float),
            "upper": largest.upper.astype(float),
            "verdict": largest.verdict.astype(object),
        }
    )
    return metadata_table(
        frame,
        {
            "cohort": "cohort",
            "metric": "metric",
            "difference": "candidate minus incumbent",
            "lower": "95% Newcombe interval, lower bound",
            "upper": "95% Newcombe interval, upper bound",
            "verdict": "better / worse / higher / lower",
        },
    )
