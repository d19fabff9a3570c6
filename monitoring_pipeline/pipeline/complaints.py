"""``complaint_metrics`` of one (model, day): the day's predictions (id and cohort attributes,
streamed from ``labeled_predictions``) joined to the complaints log by id, counted per
cohort and turned into rates with Wilson intervals (``core.complaints``).

The count is made as of ``complaints_as_of`` (a replay's cutoff) or now, and at the latest as
of the window's end (nothing counted changes after it); the rows say when, when the day's
window closes, and whether it had closed by then, so an analyst and the SLO know a rate that
can still grow from a final one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.complaints import (
    classify_complaints,
    complaint_counts,
    complaint_rates,
    merge_complaint_counts,
    window_closes_at,
)
from monitoring_pipeline.core.sufficient_stats import ALL_VERSIONS, cohort_names
from monitoring_pipeline.storage.reads import iter_prediction_cohorts
from monitoring_pipeline.storage.sources import ComplaintReader
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

__all__ = ["ComplaintResult", "build_complaint_metrics"]

TABLE = "complaint_metrics"


@dataclass(frozen=True)
class ComplaintResult:
    rows: int
    predictions: int = 0
    # Predictions complained about (in the window, known by the count).
    complained: int = 0
    window_closes_at: pd.Timestamp | None = None
    window_complete: bool = False
    # Complaint rows read for the day's predictions, by outcome (core.complaints).
    outcomes: dict[str, int] = field(default_factory=dict)
    # Every cohort's rate, highest first (for the materialization's table).
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def build_complaint_metrics(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    day: date,
    audit: Audit,
    *,
    complaints_as_of: datetime | None = None,
) -> ComplaintResult:
    model = config.models[model_name]
    settings = model.complaints
    assert settings is not None, f"{model_name} has no complaints: source"
    closes = window_closes_at(day, settings.window_days)
    # Once the window has closed, later moments count the same complaints: the count is
    # "as of" the window's end, so a re-run of a closed day writes the same rows.
    as_of = min(pd.Timestamp(complaints_as_of or datetime.now(UTC)).tz_convert("UTC"), closes)
    attributes = list(model.cohorts.attributes)
    reader = ComplaintReader(engine, settings, day)
    outcomes: Counter[str] = Counter()
    parts = []
    for chunk in iter_prediction_cohorts(engine, model_name, day, cohort_attributes=attributes):
        if chunk.empty:
            continue
        complaints = reader.read(chunk["prediction_id"])
        outcome = classify_complaints(complaints["complained_at"], day, settings.window_days, as_of)
        outcomes.update(outcome.value_counts().to_dict())
        complained_ids = complaints.loc[outcome == "counted", "prediction_id"]
        flagged = chunk.assign(complained=chunk["prediction_id"].isin(complained_ids))
        parts.append(complaint_counts(flagged, attributes))
    rates = pd.DataFrame()
    if parts:
        rates = complaint_rates(
            merge_complaint_counts(parts), min_count=config.min_cohort_size(model_name)
        ).assign(
            window_closes_at=closes,
            counted_as_of=as_of,
            window_complete=as_of >= closes,
            model_version=ALL_VERSIONS,
            partition_date=day,
            model_name=model_name,
        )
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows(TABLE, rates)],
        audit=audit,
    )
    if rates.empty:
        return ComplaintResult(rows=0, window_closes_at=closes, window_complete=as_of >= closes)
    everyone = rates[rates.cohort_attribute == "all"].iloc[0]
    cohorts = rates.assign(cohort=cohort_names(rates.cohort_attribute, rates.cohort_value))
    cohorts = cohorts.sort_values("value", ascending=False, na_position="last")
    return ComplaintResult(
        rows=len(rates),
        predictions=int(everyone["n"]),
        complained=int(everyone["complaints"]),
        window_closes_at=closes,
        window_complete=bool(as_of >= closes),
        outcomes={k: int(outcomes.get(k, 0)) for k in sorted(outcomes)},
        cohorts=cohorts.reset_index(drop=True),
    )
