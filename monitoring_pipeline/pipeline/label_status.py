"""Ground-truth arrival per day: coverage and label-lag quantiles of a written partition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.writes import Audit, TableRows, read_frame, replace_partitions

# percentile_cont interpolates linearly between order statistics (numpy's default method).
LABEL_STATUS_QUERY = """
SELECT
    count(*)                                            AS predictions,
    count(label)                                        AS labelled,
    count(*) FILTER (WHERE label_revisions > 1)         AS corrected,
    count(*) FILTER (WHERE label = 1)                   AS positives,
    percentile_cont(0.5)  WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p50_hours,
    percentile_cont(0.9)  WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p90_hours,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p99_hours,
    max(label_lag_hours)                                AS label_lag_max_hours
FROM monitoring.labeled_prediction_rows
WHERE model_name = :model AND partition_date = :day
"""


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
    row = read_frame(engine, LABEL_STATUS_QUERY, {"model": model_name, "day": day}).iloc[0]
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
