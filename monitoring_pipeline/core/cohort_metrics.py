"""Per-cohort performance and calibration metrics derived from additive statistics.

Every figure comes from the counts of ``compute_confusion_stats`` (merged over chunks,
days or a window with ``merge_stats``), so no metric ever re-reads rows.

Metrics (value, ``_lower``, ``_upper``, ``_n`` = denominator):

============================  ===========================  ============================
metric                        value                        interval
============================  ===========================  ============================
selection_rate                pred_pos / n                 Wilson
prevalence                    label_pos / n_labelled       Wilson
tpr                           tp / (tp + fn)               Wilson
fpr                           fp / (fp + tn)               Wilson
fnr                           fn / (tp + fn)               Wilson
precision                     tp / (tp + fp)               Wilson
accuracy                      (tp + tn) / n_labelled       Wilson
ece                           sum_b bin_n_b / n_labelled   inversion along the observed
                              * |mean score_b - mean       gaps (``core.calibration_
                              label_b|                     error``), from the bins
brier                         brier_sum / n_labelled       normal, from brier_sum and
                                                           brier_sq_sum (NaN without it)
calibration_in_the_large      mean(score - label) over     normal, from brier_sum
                              labelled rows
============================  ===========================  ============================

A metric whose denominator is 0 is NaN, never 0: a cohort without actual positives has
no TPR.

Sufficiency is judged per metric, on that metric's own denominator (the ``_n`` column):
``<metric>_sufficient`` is ``<metric>_n >= min_cohort_size``. So TPR needs
``min_cohort_size`` actual positives, FPR as many actual negatives, precision as many
labelled predicted positives, selection_rate as many predictions (labelled or not), and
prevalence, accuracy, ece, brier and calibration_in_the_large as many labelled rows. A
cohort with 1,859 labelled rows but 82 predicted positives has a sufficient accuracy and
an insufficient precision. The cohort-level ``sufficient`` column of the wide frame
(``n_labelled >= min_cohort_size``) remains for readers that rank whole cohorts; the long
format's ``sufficient`` is the per-metric flag.

``brier``'s interval is ``mean_interval`` (``core.intervals``) on ``brier_sum`` and
``brier_sq_sum`` = ``sum((score - label)^4)``: ``brier +/- z * s / sqrt(n)``, clipped to
[0, 1]. Statistics without ``brier_sq_sum`` (written before it existed), or merged with
such, give NaN bounds. ``ece``'s interval covers the population ECE on the same bins, not
the expectation of the (upward-biased) plug-in figure; see ``core.calibration_error``.

``calibration_in_the_large`` uses ``sum(score - label) = score_sum - label_pos`` and
``sum((score - label)^2) = brier_sum``: its sample variance is
``(brier_sum - n * mean^2) / (n - 1)`` and the interval is ``mean +/- z * sqrt(var / n)``
(needs ``n_labelled >= 2``). It is what ``compute_disparities`` compares across groups.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from monitoring_pipeline.core.calibration_error import ece_interval
from monitoring_pipeline.core.intervals import mean_interval, normal_quantile, wilson_interval
from monitoring_pipeline.core.sufficient_stats import (
    CONFUSION_COUNT_COLUMNS,
    key_columns,
)

__all__ = [
    "COUNT_COLUMNS",
    "INTERVAL_METRICS",
    "METRICS",
    "RATE_METRICS",
    "derive_cohort_metrics",
    "sufficient_column",
    "metric_columns",
    "to_long_format",
    "wide_key_columns",
]

# Numerator and denominator columns of each Wilson-interval rate.
RATE_METRICS: dict[str, tuple[str, str]] = {
    "selection_rate": ("pred_pos", "n"),
    "prevalence": ("positives", "n_labelled"),
    "tpr": ("tp", "__tp_fn"),
    "fpr": ("fp", "__fp_tn"),
    "fnr": ("fn", "__tp_fn"),
    "precision": ("tp", "__tp_fp"),
    "accuracy": ("__tp_tn", "n_labelled"),
}
METRICS: tuple[str, ...] = (*RATE_METRICS, "ece", "brier", "calibration_in_the_large")
# Metrics that come with a confidence interval: every one (brier's needs brier_sq_sum).
INTERVAL_METRICS: tuple[str, ...] = METRICS
# Counts kept in the wide frame: compute_disparities needs them for its intervals.
COUNT_COLUMNS: tuple[str, ...] = (
    "n",
    "n_labelled",
    "positives",
    "pred_pos",
    "pred_pos_labelled",
    "tp",
    "fp",
    "tn",
    "fn",
    "score_sum",
    "brier_sum",
)
_BIN_PATTERN = re.compile(r"^bin_(n|score_sum|label_sum)_(\d+)$")

ERROR_NOT_STATS = "stats lacks columns {columns}: pass compute_confusion_stats output"
ERROR_MIN_SIZE = "min_cohort_size must be >= 1, got {value}"


def metric_columns(metric: str) -> list[str]:
    """Wide-format columns of one metric: value, lower, upper, denominator."""
    return [metric, f"{metric}_lower", f"{metric}_upper", f"{metric}_n"]


def sufficient_column(metric: str) -> str:
    """Wide-format column flagging ``<metric>_n >= min_cohort_size``."""
    return f"{metric}_sufficient"


def _score_bins(stats: pd.DataFrame) -> int:
    indexes = {int(m.group(2)) for c in stats.columns if (m := _BIN_PATTERN.match(c))}
    return len(indexes)


def derive_cohort_metrics(
    stats: pd.DataFrame, *, min_cohort_size: int, confidence: float = 0.95
) -> pd.DataFrame:
    """Performance, fairness-relevant rates and calibration per cohort, with intervals.

    Parameters:
        stats: ``compute_confusion_stats`` output, possibly merged (``merge_stats``).
        min_cohort_size: the denominator each metric needs to be sufficient (labelled
            rows for the cohort-level ``sufficient``).
        confidence: two-sided confidence level of every interval.

    Returns:
        One row per key of ``stats`` (same key columns, same order) with the counts
        ``COUNT_COLUMNS`` (``positives`` = ``label_pos``; ``score_sum`` = sum of scores
        over labelled rows; ``brier_sq_sum`` is read when present, never required),
        ``sufficient`` (cohort level), and for each metric of
        ``METRICS`` the columns ``<metric>, <metric>_lower, <metric>_upper, <metric>_n,
        <metric>_sufficient``. Undefined values are NaN.

    Example:
        >>> from monitoring_pipeline.core.sufficient_stats import (
        ...     CohortSpec, compute_confusion_stats)
        >>> frame = pd.DataFrame({"model_version": ["v1"] * 4, "score": [0.9, 0.8, 0.3, 0.1],
        ...     "decision": [1, 1, 0, 0], "label": [1, 0, 0, 0], "sex": ["f", "f", "m", "m"]})
        >>> wide = derive_cohort_metrics(
        ...     compute_confusion_stats(frame, CohortSpec(["sex"])), min_cohort_size=2)
        >>> wide.set_index("cohort_value")["tpr"].to_dict()
        {'all': 1.0, 'f': 1.0, 'm': nan}
    """
    if min_cohort_size < 1:
        raise ValueError(ERROR_MIN_SIZE.format(value=min_cohort_size))
    missing = [c for c in CONFUSION_COUNT_COLUMNS if c not in stats.columns]
    if missing or "brier_sum" not in stats.columns:
        raise ValueError(ERROR_NOT_STATS.format(columns=[*missing, "brier_sum"]))
    keys = key_columns(stats)
    score_bins = _score_bins(stats)

    counts = {
        c: stats[c].to_numpy(dtype=np.int64) for c in CONFUSION_COUNT_COLUMNS if c != "label_pos"
    }
    counts["positives"] = stats["label_pos"].to_numpy(dtype=np.int64)
    bin_counts = stats[[f"bin_n_{b}" for b in range(score_bins)]].to_numpy(np.float64)
    bin_scores = stats[[f"bin_score_sum_{b}" for b in range(score_bins)]].to_numpy(np.float64)
    bin_labels = stats[[f"bin_label_sum_{b}" for b in range(score_bins)]].to_numpy(np.float64)
    score_sum = bin_scores.sum(axis=1)
    brier_sum = stats["brier_sum"].to_numpy(dtype=np.float64)
    brier_sq_sum = (
        stats["brier_sq_sum"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "brier_sq_sum" in stats.columns
        else np.full(len(stats), np.nan)
    )

    out: dict[str, object] = {k: stats[k].to_numpy() for k in keys}
    out.update({c: counts[c] for c in COUNT_COLUMNS if c in counts})
    out["score_sum"] = score_sum
    out["brier_sum"] = brier_sum
    n_labelled = counts["n_labelled"]
    out["sufficient"] = n_labelled >= min_cohort_size

    # Helper sums used as numerators / denominators of the rates.
    derived = {
        **counts,
        "__tp_fn": counts["tp"] + counts["fn"],
        "__fp_tn": counts["fp"] + counts["tn"],
        "__tp_fp": counts["tp"] + counts["fp"],
        "__tp_tn": counts["tp"] + counts["tn"],
    }
    for metric, (numerator, denominator) in RATE_METRICS.items():
        interval = wilson_interval(derived[numerator], derived[denominator], confidence)
        out[metric] = interval.estimate
        out[f"{metric}_lower"] = interval.lower
        out[f"{metric}_upper"] = interval.upper
        out[f"{metric}_n"] = derived[denominator]

    labelled = n_labelled.astype(np.float64)
    # ECE = sum_b (bin_n_b / N) * |score_sum_b / bin_n_b - label_sum_b / bin_n_b|, with
    # its interval from the same bins; Brier's from its sum and sum of squares.
    ece = ece_interval(bin_counts, bin_scores, bin_labels, confidence)
    brier = mean_interval(brier_sum, brier_sq_sum, labelled, confidence, bounds=(0.0, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        bias = (score_sum - counts["positives"]) / labelled
        variance = np.maximum(brier_sum - labelled * bias**2, 0.0) / (labelled - 1.0)
        half_width = normal_quantile(confidence) * np.sqrt(variance / labelled)
    no_labels = n_labelled == 0
    enough_for_variance = n_labelled >= 2
    for metric, interval in (("ece", ece), ("brier", brier)):
        out[metric] = np.where(no_labels, np.nan, interval.estimate)
        out[f"{metric}_lower"] = np.where(no_labels, np.nan, interval.lower)
        out[f"{metric}_upper"] = np.where(no_labels, np.nan, interval.upper)
        out[f"{metric}_n"] = n_labelled
    out["calibration_in_the_large"] = np.where(no_labels, np.nan, bias)
    out["calibration_in_the_large_lower"] = np.where(enough_for_variance, bias - half_width, np.nan)
    out["calibration_in_the_large_upper"] = np.where(enough_for_variance, bias + half_width, np.nan)
    out["calibration_in_the_large_n"] = n_labelled
    for metric in METRICS:
        out[sufficient_column(metric)] = np.asarray(out[f"{metric}_n"]) >= min_cohort_size

    wide = pd.DataFrame(out, index=stats.index).reset_index(drop=True)
    for key in keys:
        wide[key] = stats[key].reset_index(drop=True)  # keep the key dtypes exactly
    return wide


def wide_key_columns(wide: pd.DataFrame) -> list[str]:
    """Key columns of a ``derive_cohort_metrics`` frame (group keys and the cohort)."""
    known = {"sufficient", *COUNT_COLUMNS}
    for metric in METRICS:
        known.update(metric_columns(metric))
        known.add(sufficient_column(metric))
    return [c for c in wide.columns if c not in known]


def to_long_format(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per cohort x metric, as the database table stores them.

    Parameters:
        wide: ``derive_cohort_metrics`` output.

    Returns:
        Columns ``*keys, metric, value, lower, upper, denominator (int64), sufficient``
        (the metric's own flag: ``denominator >= min_cohort_size``), ordered by the wide
        rows then ``METRICS`` order.

    Example:
        >>> from monitoring_pipeline.core.sufficient_stats import (
        ...     CohortSpec, compute_confusion_stats)
        >>> frame = pd.DataFrame({"model_version": ["v1"] * 2, "score": [0.9, 0.2],
        ...     "decision": [1, 0], "label": [1, 0]})
        >>> wide = derive_cohort_metrics(
        ...     compute_confusion_stats(frame, CohortSpec()), min_cohort_size=1)
        >>> tpr = to_long_format(wide).set_index("metric").loc["tpr"]
        >>> float(tpr["value"]), int(tpr["denominator"])
        (1.0, 1)
    """
    keys = wide_key_columns(wide)
    n_rows, n_metrics = len(wide), len(METRICS)

    def stacked(suffix: str) -> np.ndarray:
        columns = [f"{m}{suffix}" for m in METRICS]
        # Row-major ravel: each wide row contributes its metrics consecutively.
        return wide[columns].to_numpy(dtype=np.float64).ravel()

    long = pd.DataFrame({k: wide[k].repeat(n_metrics).to_numpy() for k in keys})
    for key in keys:
        long[key] = long[key].astype(wide[key].dtype)
    long["metric"] = pd.array(np.tile(np.asarray(METRICS, dtype=object), n_rows), dtype="str")
    long["value"] = stacked("")
    long["lower"] = stacked("_lower")
    long["upper"] = stacked("_upper")
    long["denominator"] = stacked("_n").astype(np.int64)
    long["sufficient"] = wide[[sufficient_column(m) for m in METRICS]].to_numpy(dtype=bool).ravel()
    return long
