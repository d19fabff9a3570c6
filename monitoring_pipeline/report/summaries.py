"""What the report says in words and tables, derived from the frames it was given (pure).

No SQL, no Dagster, no plotting: DataFrames in, DataFrames and dates out.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from monitoring_pipeline.core.calibration import reliability_curve, sum_bins
from monitoring_pipeline.core.disparities import RATIO_METRICS

BURNING = ("ticket", "page")


def current_budgets(budgets: pd.DataFrame, day: date) -> pd.DataFrame:
    """Each SLO's error_budgets row of ``day`` (SLOs without one are left out), with
    ``episode_start``: the first day of the run of non-ok days that ``day`` ends (NaT
    when the SLO is ok)."""
    today = budgets[budgets.partition_date == day].copy()
    today["episode_start"] = [
        episode_start(budgets[budgets.slo_name == slo], day) for slo in today.slo_name
    ]
    return today.sort_values("slo_name").reset_index(drop=True)


def episode_start(history: pd.DataFrame, day: date) -> date | None:
    """First day of the current episode of one SLO: walking back from ``day`` over
    consecutive days whose status is ticket or page. None when ``day`` is ok (or absent).

    A missing day (never materialized) ends the walk: the episode is known to have run at
    least since the day after it.
    """
    status = dict(zip(history.partition_date, history.status, strict=True))
    if status.get(day) not in BURNING:
        return None
    start = day
    while status.get(start - timedelta(days=1)) in BURNING:
        start -= timedelta(days=1)
    return start


def evidence_day(metrics: pd.DataFrame, disparities: pd.DataFrame) -> date | None:
    """The newest day of the window with sufficient evidence: as many sufficient group
    comparisons (cohort attributes, intersections aside) as a typical day of the window
    (the median count), so that the last days, whose labels are still arriving, do not
    count. Failing that, the newest day with a sufficient cohort other than 'all', else
    with a sufficient 'all'. None when no day has any."""
    single = disparities[~disparities.cohort_attribute.astype(str).str.contains("&", regex=False)]
    counts = single.sufficient.astype(bool).groupby(single.partition_date).sum()
    if len(counts) and counts.max() > 0:
        typical = max(float(counts.median()), 1.0)
        return max(counts.index[counts >= typical])
    for frame in (
        metrics[metrics.sufficient.astype(bool) & (metrics.cohort_attribute != "all")],
        metrics[metrics.sufficient.astype(bool)],
    ):
        if len(frame):
            return max(frame.partition_date)
    return None


def gap_bounds(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``plotted``: sufficient and defined, the only rows a figure may draw
    as values (the others are shown as insufficient). Defined: a value, and either both
    bounds or neither (figures such as PSI or ECE have no interval)."""
    lower, upper = frame.lower.notna(), frame.upper.notna()
    defined = frame.value.notna() & (lower == upper)
    return frame.assign(plotted=frame.sufficient.fillna(False).astype(bool) & defined)


def is_ratio(metric: str) -> bool:
    return metric in RATIO_METRICS


def reliability_curves(calibration: pd.DataFrame, *, min_count: int) -> pd.DataFrame:
    """One reliability curve per cohort over the window (the days' bins summed), long
    format: the columns of ``core.calibration.reliability_curve`` plus the cohort."""
    curves = []
    for (attribute, value), rows in calibration.groupby(
        ["cohort_attribute", "cohort_value"], sort=True
    ):
        curve = reliability_curve(
            sum_bins(rows.bin_n),
            sum_bins(rows.bin_score_sum),
            sum_bins(rows.bin_label_sum),
            min_count=min_count,
        )
        curves.append(curve.assign(cohort_attribute=attribute, cohort_value=value))
    if not curves:
        return pd.DataFrame(
            columns=["cohort_attribute", "cohort_value", "bin", "n", "mean_score", "observed"]
        )
    return pd.concat(curves, ignore_index=True)


def label_lag_days(label_status: pd.DataFrame) -> pd.DataFrame:
    """label_status with the lag quantiles in days."""
    out = label_status.copy()
    for q in ("p50", "p90", "p99"):
        out[f"lag_{q}_days"] = out[f"label_lag_{q}_hours"].astype(float) / 24.0
    return out


def finite_or_none(values) -> list[float | None]:
    """Plain floats for a figure, None where undefined (a gap in the line, never 0)."""
    array = np.asarray(values, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in array]
