"""The per-model ``pipeline_health`` asset: meta-monitoring findings as non-blocking checks.

Thin: it calls ``pipeline.health.build_pipeline_health`` for the partition, reports each
finding as an asset check (severity WARN, never blocking) and writes nothing else. Nothing
depends on it, so it can never stop the rest of the chain.
"""

import warnings

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.health import CHECK_NAMES
from monitoring_pipeline.defs.common import float_metadata, run_step
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.pipeline.health import build_pipeline_health, findings_markdown

CHECK_DESCRIPTIONS = {
    "stale_baseline": "The drift baseline exists, is recent (fixed), full and large enough.",
    "overdue_partitions": "Earlier days of the lookback are materialized, unblocked and complete.",
    "label_lag": "p90 label lag stays within the expected label lag.",
    "label_coverage": "Days older than the expected label lag are labelled enough.",
    "label_coverage_trend": "Coverage of mature days does not drop against the days before.",
}


def build_health_asset(
    config: MonitoringConfig,
    model_name: str,
    partitions_def: dg.PartitionsDefinition,
    *,
    upstream: list[dg.AssetKey],
) -> dg.AssetsDefinition:
    """``<model_name>/pipeline_health``, downstream of ``upstream`` (label_status, drift)."""
    key = dg.AssetKey([model_name, "pipeline_health"])
    # partitions_def on a check spec makes each evaluation record its day (without it the
    # evaluation of a partitioned asset's check is unpartitioned). Dagster 1.13 flags it as
    # preview; the asset test asserts the recorded partition, so a change is caught there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        check_specs = [
            dg.AssetCheckSpec(
                name,
                asset=key,
                blocking=False,
                description=CHECK_DESCRIPTIONS[name],
                partitions_def=partitions_def,
            )
            for name in CHECK_NAMES
        ]

    @dg.asset(
        key=key,
        deps=upstream,
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        check_specs=check_specs,
        description="Meta-monitoring of the day: stale baseline, overdue days, label lag and coverage.",
    )
    def pipeline_health(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(context, monitoring_db, build_pipeline_health, config, model_name)
        for finding in result.findings:
            if finding.status != "ok":
                context.log.warning(
                    f"{model_name} {day} {finding.check_name} {finding.status}: {finding.message}"
                )
        # A warn is not a pass: it shows (as a WARN-severity failure) in the UI; no check
        # blocks, since health describes the monitoring and must never stop it.
        check_results = [
            dg.AssetCheckResult(
                check_name=finding.check_name,
                passed=finding.status == "ok",
                severity=dg.AssetCheckSeverity.WARN,
                description=finding.message,
                metadata={
                    "status": finding.status,
                    "severity_on_fail": finding.severity,
                    "observed": float_metadata(finding.observed),
                    "threshold": float_metadata(finding.threshold),
                    "message": finding.message,
                    "details": dg.MetadataValue.json(finding.details),
                },
            )
            for finding in result.findings
        ]
        return dg.MaterializeResult(
            metadata={
                **{f"{status}_checks": count for status, count in result.statuses.items()},
                "findings": dg.MetadataValue.md(findings_markdown(result.findings)),
            },
            check_results=check_results,
        )

    return pipeline_health
