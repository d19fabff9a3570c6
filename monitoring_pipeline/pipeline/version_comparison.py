"""Canary comparison of one (model, day): candidate vs incumbent version per cohort, read
from the day's additive ``cohort_stats`` (never the raw rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.version_comparison import COUNTS, compare_versions
from monitoring_pipeline.storage.cohorts import version_cohort_counts, version_first_days
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions


@dataclass(frozen=True)
class VersionComparisonResult:
    rows: int
    versions: list[str]
    candidate: str | None
    largest: pd.DataFrame  # sufficient rows whose interval excludes 0, largest |difference|


def build_version_comparison(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> VersionComparisonResult:
    """Compare the versions that served ``day`` (none written when fewer than two did)."""
    stats = version_cohort_counts(engine, model_name, day, COUNTS)
    comparison = compare_versions(
        stats,
        version_first_days(engine, model_name, up_to=day),
        min_cohort_size=config.min_cohort_size(model_name),
    )
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[
            TableRows(
                "version_comparison",
                comparison.assign(partition_date=day, model_name=model_name),
            )
        ],
        audit=audit,
    )
    versions = sorted(stats[stats.n > 0].model_version.unique()) if len(stats) else []
    clear = comparison[comparison.verdict.isin(["better", "worse", "higher", "lower"])]
    largest = clear.reindex(clear.difference.abs().sort_values(ascending=False).index).head(10)
    return VersionComparisonResult(
        rows=len(comparison),
        versions=versions,
        candidate=comparison.candidate_version.iloc[0] if len(comparison) else None,
        largest=largest,
    )
