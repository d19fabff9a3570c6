"""Reads of the operational tables (``operational_metrics``, ``latency_histograms``)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = ["operational_figures"]


def operational_figures(engine: Engine, model_name: str, day: date, *, metric: str) -> pd.DataFrame:
    """``cohort_attribute, cohort_value, value, lower, upper, n_labelled, sufficient`` of
    every cohort on ``day`` for operational ``metric`` (model version ``all``; ``n_labelled``
    is the figure's ``n``: latencies measured, or predictions), shaped like
    ``storage.cohorts.cohort_metric_figures`` so one ranking serves both."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, value, lower, upper, n AS n_labelled, sufficient "
        "FROM monitoring.operational_metrics WHERE model_name = :model AND partition_date = :day "
        "AND model_version = 'all' AND metric = :metric ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day, "metric": metric},
    )
