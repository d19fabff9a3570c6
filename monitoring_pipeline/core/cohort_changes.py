"""Each cohort's own figures on a day against the same cohort over its baseline window.

A reference gap cannot see a change of the reference group itself (a threshold moved for
the largest group makes every gap shrink); a change from baseline can. Both sides come
from ``derive_cohort_metrics`` on additive statistics: the day's, and the baseline
window's summed over its days (``merge_stats``), so the cost follows the number of
cohorts, never the rows. The day is not part of its baseline window, so the two samples
are independent.

==========================  ====================  ======================================
metric                      value (day, baseline)  interval of the difference
==========================  ====================  ======================================
selection_rate              pred_pos / n           Newcombe hybrid score
tpr                         tp / (tp + fn)         Newcombe hybrid score
fpr                         fp / (fp + tn)         Newcombe hybrid score
precision                   tp / (tp + fp)         Newcombe hybrid score
calibration_in_the_large    mean(score - label)    Welch normal:
                                                   d +/- z sqrt(var_d/n_d + var_b/n_b)
==========================  ====================  ======================================

``difference`` is day minus baseline. ``sufficient``: both the day's and the baseline's
own denominator of the metric reach the minimum size (the ``<metric>_sufficient`` flags
of both frames). A cohort absent from the baseline has NaN baseline figures and is not
sufficient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring_pipeline.core.cohort_metrics import sufficient_column, wide_key_columns
from monitoring_pipeline.core.disparities import calibration_moments
from monitoring_pipeline.core.intervals import newcombe_difference_interval, normal_quantile

__all__ = ["CHANGE_METRICS", "compute_cohort_changes"]

# Rate -> (numerator, denominator) as sums of the count columns.
_RATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "selection_rate": (("pred_pos",), ("n",)),
    "tpr": (("tp",), ("tp", "fn")),
    "fpr": (("fp",), ("fp", "tn")),
    "precision": (("tp",), ("tp", "fp")),
}
CHANGE_METRICS: tuple[str, ...] = (*_RATES, "calibration_in_the_large")
_COUNTS = ("n", "n_labelled", "positives", "pred_pos", "tp", "fp", "tn", "fn")
_SUMS = ("score_sum", "brier_sum")


def compute_cohort_changes(
    current: pd.DataFrame, baseline: pd.DataFrame, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Day minus baseline, per cohort and metric of ``CHANGE_METRICS``, with an interval.

    Parameters:
        current: ``derive_cohort_metrics`` output of the day.
        baseline: ``derive_cohort_metrics`` output of the baseline window's summed
            statistics (same key columns, same minimum size).
        confidence: two-sided confidence level of the intervals.

    Returns:
        One row per (key of ``current``, metric), in ``current`` order then
        ``CHANGE_METRICS`` order, with ``value, baseline_value, difference, lower, upper,
        denominator, baseline_denominator (int64, 0 without a baseline row), sufficient``.

    Example:
        >>> from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics
        >>> from monitoring_pipeline.core.sufficient_stats import (
        ...     CohortSpec, compute_confusion_stats)
        >>> def wide(decisions):
        ...     frame = pd.DataFrame({"model_version": "v1", "score": 0.5,
        ...         "decision": decisions, "label": [1.0] * len(decisions)})
        ...     return derive_cohort_metrics(
        ...         compute_confusion_stats(frame, CohortSpec()), min_cohort_size=1)
        >>> changes = compute_cohort_changes(wide([1, 0]), wide([1, 1, 1, 0]))
        >>> float(changes.set_index("metric").loc["tpr", "difference"])  # 1/2 - 3/4
        -0.25
    """
    keys = wide_key_columns(current)
    wanted = [
        *keys,
        *_COUNTS,
        *_SUMS,
        *CHANGE_METRICS,
        *(sufficient_column(m) for m in CHANGE_METRICS),
    ]
    merged = current[wanted].merge(
        baseline[wanted], on=keys, how="left", suffixes=("", "_base"), validate="one_to_one"
    )

    def total(columns: tuple[str, ...], suffix: str = "") -> np.ndarray:
        return sum(merged[f"{c}{suffix}"].to_numpy(dtype=np.float64) for c in columns)

    pieces = []
    for metric in CHANGE_METRICS:
        if metric in _RATES:
            numerator, denominator = _RATES[metric]
            interval = newcombe_difference_interval(
                total(numerator),
                total(denominator),
                total(numerator, "_base"),
                total(denominator, "_base"),
                confidence,
            )
            difference, lower, upper = interval.estimate, interval.lower, interval.upper
            n_day, n_base = total(denominator), total(denominator, "_base")
        else:
            mean_d, var_d, n_day = calibration_moments(merged, "")
            mean_b, var_b, n_base = calibration_moments(merged, "_base")
            difference = mean_d - mean_b
            with np.errstate(divide="ignore", invalid="ignore"):
                half = normal_quantile(confidence) * np.sqrt(var_d / n_day + var_b / n_base)
            lower, upper = difference - half, difference + half
        flag = sufficient_column(metric)
        piece = merged[keys].copy()
        piece["metric"] = metric
        piece["value"] = merged[metric].to_numpy(dtype=np.float64)
        piece["baseline_value"] = merged[f"{metric}_base"].to_numpy(dtype=np.float64)
        piece["difference"] = difference
        piece["lower"] = lower
        piece["upper"] = upper
        piece["denominator"] = np.nan_to_num(n_day).astype(np.int64)
        piece["baseline_denominator"] = np.nan_to_num(n_base).astype(np.int64)
        piece["sufficient"] = merged[flag].to_numpy(dtype=bool) & merged[f"{flag}_base"].fillna(
            False
        ).to_numpy(dtype=bool)
        piece["__row"] = np.arange(len(merged))
        pieces.append(piece)
    result = pd.concat(pieces, ignore_index=True)
    result["metric"] = result["metric"].astype("str")
    order = {m: i for i, m in enumerate(CHANGE_METRICS)}
    result["__order"] = result["metric"].map(order)
    result = result.sort_values(["__row", "__order"], kind="stable")
    return result.drop(columns=["__row", "__order"]).reset_index(drop=True)
