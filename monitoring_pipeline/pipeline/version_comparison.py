"""Canary comparison of one (model, day): candidate vs incumbent version per cohort, read
from the day's additive ``cohort_stats`` (never the raw rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.version_comparison import COUNTS, compare_versions
from monitoring_pipeline.storage.writes import Audit, TableRows, read_frame, replace_partitions


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
    stats = read_frame(
        engine,
        f"SELECT model_version, cohort_attribute, cohort_value, {', '.join(COUNTS)} "
        "FROM monitoring.cohort_stats WHERE model_name = :model AND partition_date = :day "
        "AND model_version <> 'all'",
        {"model": model_name, "day": day},
    )
    first_seen = read_frame(
        engine,
        "SELECT model_version, min(partition_date) AS first_day FROM monitoring.cohort_stats "
        "WHERE model_name = :model AND model_version <> 'all' AND partition_date <= :day "
        "AND n > 0 GROUP BY model_version",
        {"model": model_name, "day": day},
    )
    comparison = compare_versions(
        stats,
        dict(zip(first_seen.model_version, first_seen.first_day, strict=True)),
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
