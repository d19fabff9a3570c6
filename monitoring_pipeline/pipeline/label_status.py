"""Ground-truth arrival per day: coverage and label-lag quantiles of a written partition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.ingestion import label_status_figures
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions


@dataclass(frozen=True)
class LabelStatus:
    predictions: int
    labelled: int
    coverage: float | None
    corrected: int
    positives: int
    label_lag_p50_hours: float | None
    label_lag_p90_hours: float | None
    label_lag_p99_hours: float | None
    label_lag_max_hours: float | None


def build_label_status(engine: Engine, model_name: str, day: date, audit: Audit) -> LabelStatus:
    row = label_status_figures(engine, model_name, day)
    predictions = int(row["predictions"])
    status = LabelStatus(
        predictions=predictions,
        labelled=int(row["labelled"]),
        coverage=int(row["labelled"]) / predictions if predictions else None,
        corrected=int(row["corrected"]),
        positives=int(row["positives"]),
        **{
            key: None if pd.isna(row[key]) else float(row[key])
            for key in (
                "label_lag_p50_hours",
                "label_lag_p90_hours",
                "label_lag_p99_hours",
                "label_lag_max_hours",
            )
        },
    )
    frame = pd.DataFrame([vars(status)]).assign(partition_date=day, model_name=model_name)
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows("label_status", frame)],
        audit=audit,
    )
    return status
