"""Reads of ``cohort_stats`` over a window of days (the baseline of a comparison).

``cohort_stats`` is additive, so a window's statistics are the sums of its days' rows:
these reads return the stored rows (or sums of counts) and never touch raw predictions.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.core.sufficient_stats import ALL_VERSIONS
from monitoring_pipeline.storage.reads import read_frame

__all__ = ["cohort_stats_between", "group_sizes_between"]


def group_sizes_between(engine: Engine, model_name: str, start: date, end: date) -> pd.DataFrame:
    """Predictions per cohort group over ``start..end`` (inclusive), all versions summed.

    Returns columns ``cohort_attribute, cohort_value, n`` (one row per group present on
    any day of the window; empty when no day of it has statistics).
    """
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, sum(n)::bigint AS n "
        "FROM monitoring.cohort_stats WHERE model_name = :model AND model_version = :all "
        "AND partition_date BETWEEN :start AND :end "
        "GROUP BY cohort_attribute, cohort_value ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "all": ALL_VERSIONS, "start": start, "end": end},
    )


def cohort_stats_between(engine: Engine, model_name: str, start: date, end: date) -> pd.DataFrame:
    """The stored ``cohort_stats`` rows of ``start..end`` (inclusive), every version."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.cohort_stats WHERE model_name = :model "
        "AND partition_date BETWEEN :start AND :end "
        "ORDER BY partition_date, model_version, cohort_attribute, cohort_value",
        {"model": model_name, "start": start, "end": end},
    )
