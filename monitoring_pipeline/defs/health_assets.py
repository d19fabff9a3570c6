"""The per-model ``pipeline_health`` asset: meta-monitoring findings as non-blocking checks.

Thin: it calls ``pipeline.health.build_pipeline_health`` for the partition, reports each
finding as an asset check (severity WARN, never blocking) and writes nothing else. Nothing
depends on it, so it can never stop the rest of the chain.
"""

import functools
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.health import CHECK_NAMES, HealthFinding
from monitoring_pipeline.defs.common import (
    float_metadata,
    labels_as_of,
    metadata_table,
    model_provenance,
    partitioned_check_spec,
    run_step,
)
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.pipeline.health import build_pipeline_health

CHECK_DESCRIPTIONS = {
    "stale_baseline": "The drift baseline exists, is recent (fixed), full and large enough.",
    "overdue_partitions": "Earlier days of the lookback are materialized, unblocked and complete.",
    "label_lag": "p90 label lag stays within the expected label lag.",
    "label_coverage": "Days older than the expected label lag are labelled enough.",
    "label_coverage_trend": "Coverage of mature days does not drop against the days before.",
    "label_arrival": "The newest days get labels as fast as earlier days did at their age.",
    "data_quality": "The day's quarantined share and non-blocking quality checks are within limits.",
}


def build_health_asset(
    config: MonitoringConfig,
    model_name: str,
    partitions_def: dg.PartitionsDefinition,
    *,
    upstream: list[dg.AssetKey],
    properties: Mapping[str, Any],
) -> dg.AssetsDefinition:
    """``<model_name>/pipeline_health``, downstream of ``upstream`` (label_status, drift),
    with ``properties`` (owners, code_version, pool)."""
    key = dg.AssetKey([model_name, "pipeline_health"])
    provenance = model_provenance(config, model_name)
    check_specs = [
        partitioned_check_spec(name, key, partitions_def, description=CHECK_DESCRIPTIONS[name])
        for name in CHECK_NAMES
    ]

    @dg.asset(
        key=key,
        deps=upstream,
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **properties,
        check_specs=check_specs,
        description=(
            "Meta-monitoring of the day: stale baseline, overdue days, label lag, coverage "
            "and arrival, the day's data quality."
        ),
    )
    def pipeline_health(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        step = functools.partial(build_pipeline_health, labels_as_of=labels_as_of(context))
        day, result = run_step(context, monitoring_db, provenance, step, config, model_name)
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
                "findings": findings_table(result.findings),
            },
            check_results=check_results,
        )

    return pipeline_health


def findings_table(findings: list[HealthFinding]) -> dg.MetadataValue:
    """The day's findings, problems first (fail, warn, ok)."""
    order = {"fail": 0, "warn": 1, "ok": 2}
    rows = sorted(findings, key=lambda f: order[f.status])
    frame = pd.DataFrame(
        {
            "check": pd.Series([f.check_name for f in rows], dtype=object),
            "status": pd.Series([f.status for f in rows], dtype=object),
            "observed": pd.Series([f.observed for f in rows], dtype=float),
            "threshold": pd.Series([f.threshold for f in rows], dtype=float),
            "message": pd.Series([f.message for f in rows], dtype=object),
        }
    )
    return metadata_table(
        frame,
        {
            "check": "health check",
            "status": "ok / warn / fail",
            "observed": "the figure observed",
            "threshold": "its limit",
            "message": "the finding in one line",
        },
    )
