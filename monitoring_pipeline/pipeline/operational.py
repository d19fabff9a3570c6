"""``latency_histograms`` and ``operational_metrics`` of one (model, day): the day's logged
serving latencies streamed from ``labeled_predictions`` (only the latency column and the
cohort attributes leave the database) into additive histograms per cohort, and the
percentiles and throughput computed from them (``core.operational``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.operational import (
    latency_histograms,
    merge_latency_histograms,
    operational_metrics,
)
from monitoring_pipeline.core.sufficient_stats import ALL_VERSIONS, cohort_names
from monitoring_pipeline.storage.reads import iter_feature_values
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

__all__ = ["OperationalResult", "build_operational_metrics"]

HISTOGRAMS_TABLE = "latency_histograms"
METRICS_TABLE = "operational_metrics"


@dataclass(frozen=True)
class OperationalResult:
    rows: int
    # Cohort "all": metric -> (value, lower, upper); empty without predictions.
    overall: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    measured: int = 0
    invalid: int = 0
    # Every cohort's figures (for the materialization's table), slowest p95 first.
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def build_operational_metrics(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> OperationalResult:
    model = config.models[model_name]
    column = model.columns.latency_ms
    attributes = list(model.cohorts.attributes)
    parts = [
        latency_histograms(chunk, column, attributes)
        for chunk in iter_feature_values(
            engine,
            model_name,
            day,
            numeric_features=[column],
            categorical_features=[],
            cohort_attributes=attributes,
        )
        if not chunk.empty
    ]
    key = {"model_version": ALL_VERSIONS, "partition_date": day, "model_name": model_name}
    histograms = merge_latency_histograms(parts) if parts else pd.DataFrame()
    metrics = pd.DataFrame()
    if len(histograms):
        metrics = operational_metrics(histograms, min_count=config.min_cohort_size(model_name))
        metrics = metrics.assign(**key)
        histograms = histograms.assign(
            counts=["{" + ",".join(map(str, c.tolist())) + "}" for c in histograms["counts"]],
            **key,
        )
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows(HISTOGRAMS_TABLE, histograms), TableRows(METRICS_TABLE, metrics)],
        audit=audit,
    )
    if metrics.empty:
        return OperationalResult(rows=0)
    everyone = metrics[metrics.cohort_attribute == "all"].set_index("metric")
    overall = {m: (float(r.value), float(r.lower), float(r.upper)) for m, r in everyone.iterrows()}
    wide = metrics.pivot_table(
        index=["cohort_attribute", "cohort_value"], columns="metric", values="value"
    ).reset_index()
    wide["cohort"] = cohort_names(wide.cohort_attribute, wide.cohort_value)
    cohorts = wide.sort_values("latency_p95", ascending=False, na_position="last")
    first = histograms[histograms.cohort_attribute == "all"].iloc[0]
    return OperationalResult(
        rows=len(metrics),
        overall=overall,
        measured=int(everyone.loc["latency_p50", "n"]),
        invalid=int(first["latency_invalid"]),
        cohorts=cohorts.reset_index(drop=True),
    )
