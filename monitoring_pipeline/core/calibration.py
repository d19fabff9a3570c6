"""Reliability (calibration) curves from the additive score-bin counts of ``cohort_stats``.

No Dagster, no SQL. Each day stores, per cohort and per equal-width score bin on [0, 1],
the labelled predictions (``bin_n``), the sum of their scores and the positive labels;
summed over days they give a window's curve without rereading any row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from monitoring_pipeline.core.intervals import wilson_interval

__all__ = ["reliability_curve", "sum_bins"]

ERROR_BIN_LENGTHS = "score-bin arrays must all have the same length, got {lengths}"


def sum_bins(rows: Sequence[ArrayLike]) -> np.ndarray:
    """Element-wise sum of per-day bin arrays (all of one length).

    Example:
        >>> sum_bins([[1, 2], [3, 4]]).tolist()
        [4.0, 6.0]
    """
    arrays = [np.asarray(row, dtype=float) for row in rows]
    lengths = sorted({len(a) for a in arrays})
    if len(lengths) > 1:
        raise ValueError(ERROR_BIN_LENGTHS.format(lengths=lengths))
    if not arrays:
        return np.zeros(0)
    return np.sum(arrays, axis=0)


def reliability_curve(
    bin_n: ArrayLike,
    bin_score_sum: ArrayLike,
    bin_label_sum: ArrayLike,
    *,
    min_count: int,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean score against observed positive rate per score bin, with Wilson intervals.

    Parameters:
        bin_n: labelled predictions per equal-width bin on [0, 1].
        bin_score_sum: sum of their scores per bin.
        bin_label_sum: positive labels per bin.
        min_count: a bin with fewer labelled predictions is ``sufficient = False``.
        confidence: two-sided level of the interval of the observed rate.

    Returns:
        One row per bin: ``bin``, ``bin_lower``, ``bin_upper`` (edges), ``n``,
        ``mean_score``, ``observed``, ``lower``, ``upper`` and ``sufficient``. An empty
        bin has NaN figures (never 0).

    Example:
        >>> curve = reliability_curve([10, 0], [2.5, 0.0], [3, 0], min_count=5)
        >>> curve[["mean_score", "observed", "sufficient"]].round(2).values.tolist()
        [[0.25, 0.3, True], [nan, nan, False]]
    """
    n = np.asarray(bin_n, dtype=float)
    scores = np.asarray(bin_score_sum, dtype=float)
    positives = np.asarray(bin_label_sum, dtype=float)
    if not len(n) == len(scores) == len(positives):
        raise ValueError(ERROR_BIN_LENGTHS.format(lengths=[len(n), len(scores), len(positives)]))
    bins = len(n)
    edges = np.linspace(0.0, 1.0, bins + 1)
    interval = wilson_interval(positives, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_score = np.where(n > 0, scores / n, np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(bins),
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "n": n.astype(int),
            "mean_score": mean_score,
            "observed": interval.estimate,
            "lower": interval.lower,
            "upper": interval.upper,
            "sufficient": n >= min_count,
        }
    )
