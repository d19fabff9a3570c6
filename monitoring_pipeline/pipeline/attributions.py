"""``feature_attributions`` of one (model, day): the day's logged attributions summarised per
cohort (``core.attributions``), streamed from ``labeled_predictions`` one chunk at a time
(only the attribution columns and the cohort attributes leave the database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.attributions import (
    attribution_sums,
    merge_attribution_sums,
    summarize_attributions,
)
from monitoring_pipeline.core.sufficient_stats import ALL_VERSIONS
from monitoring_pipeline.storage.reads import iter_feature_values
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

__all__ = ["AttributionsResult", "build_feature_attributions"]

TABLE = "feature_attributions"


@dataclass(frozen=True)
class AttributionsResult:
    rows: int
    # Cohort "all": feature, mean_abs, lower, upper, mean, share; largest share first.
    overall: pd.DataFrame = field(repr=False)
    # Predictions of the day with an attribution logged (0: a version without explainer).
    attributed: int = 0


def build_feature_attributions(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> AttributionsResult:
    model = config.models[model_name]
    attributes = list(model.cohorts.attributes)
    parts = [
        attribution_sums(chunk, model.attributions, attributes)
        for chunk in iter_feature_values(
            engine,
            model_name,
            day,
            numeric_features=model.attribution_columns,
            categorical_features=[],
            cohort_attributes=attributes,
        )
        if not chunk.empty
    ]
    rows = pd.DataFrame()
    if parts and model.attributions:
        summary = summarize_attributions(
            merge_attribution_sums(parts), min_count=config.min_cohort_size(model_name)
        )
        rows = summary.assign(model_version=ALL_VERSIONS, partition_date=day, model_name=model_name)
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows(TABLE, rows)],
        audit=audit,
    )
    overall = pd.DataFrame(columns=["feature", "mean_abs", "lower", "upper", "mean", "share"])
    attributed = 0
    if len(rows):
        everyone = rows[rows.cohort_attribute == "all"].sort_values("share", ascending=False)
        overall = everyone[overall.columns.tolist()].reset_index(drop=True)
        attributed = int(everyone["n"].max())
    return AttributionsResult(rows=len(rows), overall=overall, attributed=attributed)
