"""Complaint (or appeal) rates per cohort and day, from a late-arriving complaints log.

A prediction scored on day ``d`` counts as complained about when at least one complaint
about it was recorded in its **window**: from the start of ``d`` to ``window_days`` days after
the end of ``d`` (UTC), and by the moment the count is made. Every day gets the same window,
so days compare; while it is open the count can only grow, so the day's rate is a lower
bound of its final rate until the window closes.

* ``complaint_rate`` = predictions complained about / predictions, with the Wilson 95%
  interval (``core.intervals.wilson_interval``); several complaints about one prediction
  count once.
* A complaint recorded before its prediction's scoring day, after the window, or without a
  readable time is not counted; ``classify_complaints`` says which, so a run can report
  them (they stay in the source).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from monitoring_pipeline.core.intervals import wilson_interval
from monitoring_pipeline.core.sufficient_stats import cohort_groupings

__all__ = [
    "COMPLAINT_OUTCOMES",
    "classify_complaints",
    "complaint_counts",
    "complaint_rates",
    "merge_complaint_counts",
    "window_closes_at",
]

KEYS = ["cohort_attribute", "cohort_value"]
# What became of each complaint row read for a day's predictions.
COMPLAINT_OUTCOMES = ("counted", "before_scoring_day", "after_window", "undated", "not_yet_known")


def window_closes_at(day: date, window_days: int) -> pd.Timestamp:
    """The end of ``day``'s complaint window (exclusive), UTC.

    >>> window_closes_at(date(2026, 11, 2), 14)
    Timestamp('2026-11-17 00:00:00+0000', tz='UTC')
    """
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1 + window_days)


def classify_complaints(
    complained_at: pd.Series,
    scoring_day: pd.Series | date,
    window_days: int,
    as_of: datetime | pd.Timestamp,
) -> pd.Series:
    """Each complaint's outcome (one of ``COMPLAINT_OUTCOMES``) given its prediction's
    ``scoring_day`` (one date for all, or one per row) and the moment ``as_of`` of the count.

    Times are parsed as UTC (naive ones taken as UTC); an unparseable or missing one is
    ``undated``.

    Example:
        >>> times = pd.Series(["2026-11-01 23:00", "2026-11-02 08:00", "2026-11-16 23:59",
        ...                    "2026-11-17 00:00", None, "2026-11-05"])
        >>> classify_complaints(times, date(2026, 11, 2), 14,
        ...                     pd.Timestamp("2026-11-04", tz="UTC")).tolist()
        ['before_scoring_day', 'counted', 'not_yet_known', 'after_window', 'undated', 'not_yet_known']
    """
    moment = pd.to_datetime(complained_at, utc=True, errors="coerce", format="mixed")
    if isinstance(scoring_day, pd.Series):
        days = pd.DatetimeIndex(pd.to_datetime(scoring_day.to_numpy())).tz_localize("UTC")
        start = pd.Series(days, index=complained_at.index)
    else:
        start = pd.Timestamp(scoring_day, tz="UTC")
    closes = start + pd.Timedelta(days=1 + window_days)
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    outcome = np.select(
        [
            moment.isna().to_numpy(),
            (moment < start).to_numpy(),
            (moment >= closes).to_numpy(),
            (moment > as_of).to_numpy(),
        ],
        ["undated", "before_scoring_day", "after_window", "not_yet_known"],
        "counted",
    )
    return pd.Series(outcome, index=complained_at.index, dtype=object)


def complaint_counts(
    rows: pd.DataFrame, cohort_attributes: Sequence[str], complained: str = "complained"
) -> pd.DataFrame:
    """Per cohort (``all`` and each group of each attribute): ``predictions`` (rows) and
    ``complaints`` (rows whose boolean ``complained`` column is true). Additive over chunks.

    Example:
        >>> rows = pd.DataFrame({"complained": [True, False, False, True, False],
        ...                      "g": list("aabbb")})
        >>> complaint_counts(rows, ["g"]).values.tolist()
        [['all', 'all', 5, 2], ['g', 'a', 2, 1], ['g', 'b', 3, 1]]
    """
    flags = rows[complained].to_numpy(dtype=bool)
    pieces = []
    for attribute, codes, uniques in cohort_groupings(rows, cohort_attributes):
        groups = len(uniques)
        pieces.append(
            pd.DataFrame(
                {
                    "cohort_attribute": attribute,
                    "cohort_value": uniques.astype(str),
                    "predictions": np.bincount(codes, minlength=groups),
                    "complaints": np.bincount(codes[flags], minlength=groups),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


def merge_complaint_counts(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The sum of :func:`complaint_counts` results (chunks of a day)."""
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(KEYS, sort=False)[["predictions", "complaints"]].sum().reset_index()


def complaint_rates(
    counts: pd.DataFrame, *, min_count: int = 1, confidence: float = 0.95
) -> pd.DataFrame:
    """Per cohort of ``counts``: ``metric`` (``complaint_rate``), ``value, lower, upper``
    (Wilson), ``n`` (predictions), ``complaints`` and ``sufficient`` (``n >= min_count``).

    Example:
        >>> counts = pd.DataFrame({"cohort_attribute": ["all"], "cohort_value": ["all"],
        ...                        "predictions": [10], "complaints": [8]})
        >>> r = complaint_rates(counts).iloc[0]
        >>> float(r.value), round(float(r.lower), 4), round(float(r.upper), 4)
        (0.8, 0.4902, 0.9433)
    """
    n = counts["predictions"].to_numpy(dtype=np.int64)
    k = counts["complaints"].to_numpy(dtype=np.int64)
    interval = wilson_interval(k, n, confidence)
    return pd.DataFrame(
        {
            "cohort_attribute": counts["cohort_attribute"].to_numpy(),
            "cohort_value": counts["cohort_value"].to_numpy(),
            "metric": "complaint_rate",
            "value": np.asarray(interval.estimate, dtype=float),
            "lower": np.asarray(interval.lower, dtype=float),
            "upper": np.asarray(interval.upper, dtype=float),
            "n": n,
            "complaints": k,
            "sufficient": n >= min_count,
        }
    )
