"""Fairness disparities: every cohort group against a reference group of its attribute,
and against everyone else of its attribute.

Per (group keys such as ``model_version``, cohort attribute) each group is compared with
one reference group: the one named in ``reference`` for that attribute, else the group
with the largest ``n`` of the frame (ties broken by the smaller value). The pipeline
passes references fixed over the baseline window (:func:`choose_reference_groups`), so
that the reference does not flip between days. Intersection attributes
(``"sex&age_band"``) are attributes like any other; the ``"all"`` cohort is never
compared. The reference group gets no row of its own.

:func:`compute_disparities_against_rest` compares each group with the pooled
complement of its attribute (all other groups together) with the same metrics and
intervals: a change of the reference group itself (say a threshold moved for the
largest group) shows there as a gap of that group, where reference gaps only shrink.

Metrics (group minus / over reference) and their intervals:

=============================  =========================================  =================
metric                         value                                      interval
=============================  =========================================  =================
demographic_parity_difference  selection_rate_g - selection_rate_ref      Newcombe hybrid
disparate_impact_ratio         selection_rate_g / selection_rate_ref      Katz log
tpr_difference                 tpr_g - tpr_ref (equal opportunity)        Newcombe hybrid
fpr_difference                 fpr_g - fpr_ref                            Newcombe hybrid
equalized_odds_difference      max(|tpr diff|, |fpr diff|)                see below
calibration_gap                calibration-in-the-large_g - ..._ref       Welch normal
=============================  =========================================  =================

* ``passes_four_fifths`` (disparate_impact_ratio rows only): ratio >= 0.8, the EEOC
  four-fifths rule; NA when the ratio is undefined.
* equalized_odds_difference interval: each component interval ``[L, U]`` is mapped to an
  interval for its absolute value (``[0, max(|L|, |U|)]`` when it straddles 0, else
  ``[min(|L|, |U|), max(|L|, |U|)]``); the bounds of the maximum are the maxima of those
  bounds. It is a plug-in interval: simple and monotone, but its coverage is not exactly
  the nominal level (each component has 95% coverage on its own).
* calibration_gap compares calibration-in-the-large, ``mean(score - label)`` over
  labelled rows, rather than ECE: its variance is exact from the additive sums
  (``brier_sum`` is ``sum((score - label)^2)``), so the Welch normal interval
  ``diff +/- z * sqrt(var_g / n_g + var_ref / n_ref)`` costs nothing and needs no
  bootstrap, while a difference of ECEs is biased upward for small cohorts and has no
  cheap interval. Positive means the group is over-predicted relative to the reference.
* ``p_value``: two-sided test that the gap is zero. Rate gaps (selection, TPR, FPR) and
  the disparate impact ratio (the same hypothesis as the selection gap: equal selection
  rates): the pooled two-proportion z-test, Pearson's chi-square of the 2 x 2 table
  without continuity correction. Equalized odds (either gap non-zero): Bonferroni over
  its two components, ``min(1, 2 * min(p_tpr, p_fpr))``. Calibration gap: the Welch z of
  the interval. ``fairness_family`` adjusts them (Benjamini-Hochberg across every
  sufficient gap of a model's day) into ``p_value_adjusted`` and ``significant``.
* ``sufficient``: both groups have at least ``min_cohort_size`` in the denominators the
  metric is taken over (the ``<metric>_sufficient`` flags of ``derive_cohort_metrics``):
  predictions for demographic_parity_difference and disparate_impact_ratio, actual
  positives for tpr_difference, actual negatives for fpr_difference, both of those for
  equalized_odds_difference, labelled rows for calibration_gap. A configured reference
  missing from the data gives NaN figures and ``sufficient`` False rather than a silent
  switch to another reference.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from monitoring_pipeline.core.cohort_metrics import sufficient_column, wide_key_columns
from monitoring_pipeline.core.intervals import (
    katz_ratio_interval,
    newcombe_difference_interval,
    normal_quantile,
)
from monitoring_pipeline.core.multiple_testing import FDR_LEVEL, benjamini_hochberg
from monitoring_pipeline.core.sufficient_stats import ALL_COHORT

__all__ = [
    "DIFFERENCE_METRICS",
    "DISPARITY_METRICS",
    "FOUR_FIFTHS",
    "RATIO_METRICS",
    "SUFFICIENCY_METRICS",
    "calibration_moments",
    "choose_reference_groups",
    "compute_disparities",
    "compute_disparities_against_rest",
    "fairness_family",
    "pooled_two_proportion_p_value",
    "worst_disparities",
]

FOUR_FIFTHS = 0.8
DIFFERENCE_METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "tpr_difference",
    "fpr_difference",
    "equalized_odds_difference",
    "calibration_gap",
)
RATIO_METRICS: tuple[str, ...] = ("disparate_impact_ratio",)
DISPARITY_METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "tpr_difference",
    "fpr_difference",
    "equalized_odds_difference",
    "calibration_gap",
)
_NEEDED = ("n", "n_labelled", "positives", "pred_pos", "tp", "fp", "tn", "fn", "score_sum")
# The cohort metrics whose denominators each disparity is taken over: a comparison is
# sufficient when both groups' flags of every listed metric are.
SUFFICIENCY_METRICS: dict[str, tuple[str, ...]] = {
    "demographic_parity_difference": ("selection_rate",),
    "disparate_impact_ratio": ("selection_rate",),
    "tpr_difference": ("tpr",),
    "fpr_difference": ("fpr",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "calibration_gap": ("calibration_in_the_large",),
}
_SUFFICIENT = tuple(
    sufficient_column(m) for m in ("selection_rate", "tpr", "fpr", "calibration_in_the_large")
)
_NEEDED_ALL = (*_NEEDED, "brier_sum", *_SUFFICIENT, "cohort_attribute", "cohort_value")

# Per-row figures, never part of a comparison's identity.
_FIGURE_COLUMNS = (
    "value", "lower", "upper", "sufficient", "passes_four_fifths", "p_value",
    "p_value_adjusted", "significant", "is_worst", "reference_value",
)  # fmt: skip

ERROR_NOT_METRICS = "metrics_wide lacks columns {columns}: pass derive_cohort_metrics output"


def _group_keys(metrics_wide: pd.DataFrame) -> list[str]:
    return [
        c for c in wide_key_columns(metrics_wide) if c not in ("cohort_attribute", "cohort_value")
    ]


def _reference_table(
    groups: pd.DataFrame, keys: list[str], reference: Mapping[str, str]
) -> pd.DataFrame:
    """One reference_value per (group keys, attribute)."""
    by = [*keys, "cohort_attribute"]
    # Largest n first, ties by the smaller value: drop_duplicates keeps that row.
    ordered = groups.sort_values(
        [*by, "n", "cohort_value"],
        ascending=[True] * len(by) + [False, True],
        na_position="last",
        kind="stable",
    )
    table = ordered.drop_duplicates(by, keep="first")[[*by, "cohort_value"]]
    table = table.rename(columns={"cohort_value": "reference_value"}).reset_index(drop=True)
    # One row per (group keys, attribute): a comprehension over this small table is fine.
    configured = dict(reference)
    table["reference_value"] = pd.array(
        [
            configured.get(attribute, largest)
            for attribute, largest in zip(
                table["cohort_attribute"], table["reference_value"], strict=True
            )
        ],
        dtype="str",
    )
    return table


def _abs_interval(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval for |d| given an interval [lower, upper] for d."""
    high = np.maximum(np.abs(lower), np.abs(upper))
    straddles = (lower <= 0) & (upper >= 0)
    low = np.where(straddles, 0.0, np.minimum(np.abs(lower), np.abs(upper)))
    nan = np.isnan(lower) | np.isnan(upper)
    return np.where(nan, np.nan, low), np.where(nan, np.nan, high)


def calibration_moments(
    frame: pd.DataFrame, suffix: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample variance of (score - label) over labelled rows, and the count, from
    the columns ``n_labelled, score_sum, positives, brier_sum`` (each + ``suffix``)."""
    n = frame[f"n_labelled{suffix}"].to_numpy(dtype=np.float64)
    total = frame[f"score_sum{suffix}"].to_numpy(np.float64) - frame[f"positives{suffix}"].to_numpy(
        np.float64
    )
    squares = frame[f"brier_sum{suffix}"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        variance = np.maximum(squares - n * mean**2, 0.0) / (n - 1.0)
    return mean, np.where(n >= 2, variance, np.nan), n


def compute_disparities(
    metrics_wide: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Differences and ratios of each cohort group against its attribute's reference.

    Parameters:
        metrics_wide: ``derive_cohort_metrics`` output (needs its count columns).
        reference: attribute (or intersection attribute such as ``"sex&race"``) ->
            reference group value; attributes not listed use their largest-n group.
        confidence: two-sided confidence level of the intervals.

    Returns:
        Long frame, one row per (group keys, cohort_attribute, cohort_value, metric) with
        ``reference_value, value, lower, upper, sufficient`` and ``passes_four_fifths``
        (nullable boolean, set on disparate_impact_ratio rows only), sorted by keys and
        ``DISPARITY_METRICS`` order.

    Example:
        >>> wide = pd.DataFrame({"cohort_attribute": ["sex", "sex"],
        ...     "cohort_value": ["f", "m"], "n": [100, 200], "n_labelled": [100, 200],
        ...     "positives": [50, 100], "pred_pos": [30, 80], "tp": [25, 60], "fp": [5, 20],
        ...     "tn": [45, 80], "fn": [25, 40], "score_sum": [50.0, 100.0],
        ...     "brier_sum": [20.0, 40.0], "selection_rate_sufficient": [True, True],
        ...     "tpr_sufficient": [True, True], "fpr_sufficient": [True, True],
        ...     "calibration_in_the_large_sufficient": [True, True]})
        >>> d = compute_disparities(wide).set_index("metric")
        >>> round(float(d.loc["disparate_impact_ratio", "value"]), 2)
        0.75
        >>> bool(d.loc["disparate_impact_ratio", "passes_four_fifths"])
        False
    """
    missing = [c for c in _NEEDED_ALL if c not in metrics_wide.columns]
    if missing:
        raise ValueError(ERROR_NOT_METRICS.format(columns=missing))
    keys = _group_keys(metrics_wide)
    groups = metrics_wide[metrics_wide["cohort_attribute"] != ALL_COHORT].reset_index(drop=True)
    by = [*keys, "cohort_attribute"]
    if groups.empty:
        return _empty_result(metrics_wide, keys)

    references = _reference_table(groups, keys, reference or {})
    comparisons = groups.merge(references, on=by, how="left")
    comparisons = comparisons[comparisons["cohort_value"] != comparisons["reference_value"]]
    reference_rows = groups[[*by, "cohort_value", *_NEEDED, "brier_sum", *_SUFFICIENT]].rename(
        columns={"cohort_value": "reference_value"}
    )
    comparisons = comparisons.merge(
        reference_rows, on=[*by, "reference_value"], how="left", suffixes=("", "_ref")
    ).reset_index(drop=True)
    if comparisons.empty:
        return _empty_result(metrics_wide, keys)
    return _compare(comparisons, by, "reference_value", confidence)


def pooled_two_proportion_p_value(
    successes1: np.ndarray, n1: np.ndarray, successes2: np.ndarray, n2: np.ndarray
) -> np.ndarray:
    """Two-sided p-value of equal proportions, the pooled z-test (Pearson's chi-square
    of the 2 x 2 table without continuity correction); NaN where a side is empty, 1 where
    the pooled proportion is 0 or 1 (no variation, no evidence).

    Example:
        >>> p = pooled_two_proportion_p_value(np.array([30.0]), np.array([100.0]),
        ...     np.array([80.0]), np.array([200.0]))
        >>> round(float(p[0]), 4)
        0.0902
    """
    x1, m1, x2, m2 = (np.asarray(a, dtype=np.float64) for a in (successes1, n1, successes2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (m1 + m2)
        variance = pooled * (1.0 - pooled) * (1.0 / m1 + 1.0 / m2)
        z = (x1 / m1 - x2 / m2) / np.sqrt(variance)
        p_value = np.where(variance > 0, 2.0 * sps.norm.sf(np.abs(z)), 1.0)
    return np.where((m1 > 0) & (m2 > 0), p_value, np.nan)


def fairness_family(
    *frames: pd.DataFrame, fdr_level: float = FDR_LEVEL
) -> tuple[pd.DataFrame, ...]:
    """Adjust the gaps of ``frames`` (:func:`compute_disparities` and
    :func:`compute_disparities_against_rest` outputs of one model's day) as one
    Benjamini-Hochberg family; return copies with ``p_value_adjusted`` and
    ``significant`` (sufficient and adjusted p-value < ``fdr_level``; NA when not
    sufficient or untestable).

    The family's hypotheses are every sufficient row with a p-value but those that repeat
    another: a disparate impact ratio shares its selection gap's (its adjusted p-value
    is that one's), and equalized odds is either of its TPR and FPR gaps (its adjusted
    p-value is the smaller of theirs).

    Example:
        >>> gaps = pd.DataFrame({"cohort_attribute": ["sex"] * 3,
        ...     "cohort_value": ["f"] * 3, "metric": ["demographic_parity_difference",
        ...     "disparate_impact_ratio", "tpr_difference"], "sufficient": True,
        ...     "p_value": [0.01, 0.01, 0.04]})
        >>> (adjusted,) = fairness_family(gaps)
        >>> adjusted["p_value_adjusted"].tolist(), adjusted["significant"].tolist()
        ([0.02, 0.02, 0.04], [True, True, True])
    """
    tagged = [f.assign(__frame=i, __row=np.arange(len(f))) for i, f in enumerate(frames)]
    rows = pd.concat(tagged, ignore_index=True) if tagged else pd.DataFrame()
    if rows.empty:
        return tuple(_with_family_columns(f, np.array([])) for f in frames)
    identity = [
        c
        for c in rows.columns
        if c not in _FIGURE_COLUMNS and c not in ("metric", "__row") and not c.startswith("__")
    ]
    identity = [*identity, "__frame", "__row"]
    metric = rows["metric"].to_numpy()
    testable = rows["sufficient"].to_numpy(dtype=bool) & rows["p_value"].notna().to_numpy()
    own = testable & ~np.isin(metric, ["disparate_impact_ratio", "equalized_odds_difference"])
    adjusted = np.full(len(rows), np.nan)
    adjusted[own] = benjamini_hochberg(rows.loc[own, "p_value"].to_numpy(dtype=np.float64))
    rows["p_value_adjusted"] = adjusted
    # One comparison (group, against) per __frame and __row across its metrics.
    comparison = [c for c in identity if c != "__row"] + ["cohort_value"]
    comparison = [*dict.fromkeys(c for c in comparison if c in rows.columns)]
    per_metric = rows.pivot_table(
        index=comparison, columns="metric", values="p_value_adjusted", aggfunc="first"
    )
    lookup = rows[comparison].merge(
        per_metric.reindex(
            columns=["demographic_parity_difference", "tpr_difference", "fpr_difference"]
        ).reset_index(),
        on=comparison,
        how="left",
    )
    shares = testable & (metric == "disparate_impact_ratio")
    rows.loc[shares, "p_value_adjusted"] = lookup.loc[
        shares, "demographic_parity_difference"
    ].to_numpy()
    either = testable & (metric == "equalized_odds_difference")
    rows.loc[either, "p_value_adjusted"] = (
        lookup.loc[either, ["tpr_difference", "fpr_difference"]].min(axis=1).to_numpy()
    )
    out = []
    for i, frame in enumerate(frames):
        mine = rows[rows["__frame"] == i].sort_values("__row")
        out.append(_with_family_columns(frame, mine["p_value_adjusted"].to_numpy(), fdr_level))
    return tuple(out)


def _with_family_columns(
    frame: pd.DataFrame, adjusted: np.ndarray, fdr_level: float = FDR_LEVEL
) -> pd.DataFrame:
    frame = frame.copy()
    frame["p_value_adjusted"] = adjusted if len(frame) else np.array([], dtype=np.float64)
    significant = pd.array(frame["p_value_adjusted"] < fdr_level, dtype="boolean")
    undefined = ~frame["sufficient"].to_numpy(dtype=bool) | frame["p_value_adjusted"].isna()
    significant[np.asarray(undefined, dtype=bool)] = pd.NA
    frame["significant"] = significant
    return frame


def _compare(
    comparisons: pd.DataFrame, by: list[str], against: str, confidence: float
) -> pd.DataFrame:
    """Every disparity metric of each row's group (plain columns) against its comparison
    group (the same columns suffixed ``_ref``); ``against`` names the comparison column
    kept in the result (``reference_value``), or is empty when there is none."""

    def col(name: str) -> np.ndarray:
        return comparisons[name].to_numpy(dtype=np.float64)

    results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    selection_p = pooled_two_proportion_p_value(
        col("pred_pos"), col("n"), col("pred_pos_ref"), col("n_ref")
    )
    tpr_p = pooled_two_proportion_p_value(
        col("tp"), col("tp") + col("fn"), col("tp_ref"), col("tp_ref") + col("fn_ref")
    )
    fpr_p = pooled_two_proportion_p_value(
        col("fp"), col("fp") + col("tn"), col("fp_ref"), col("fp_ref") + col("tn_ref")
    )
    selection = newcombe_difference_interval(
        col("pred_pos"), col("n"), col("pred_pos_ref"), col("n_ref"), confidence
    )
    results["demographic_parity_difference"] = (
        selection.estimate,
        selection.lower,
        selection.upper,
    )
    impact = katz_ratio_interval(
        col("pred_pos"), col("n"), col("pred_pos_ref"), col("n_ref"), confidence
    )
    results["disparate_impact_ratio"] = (impact.estimate, impact.lower, impact.upper)
    tpr = newcombe_difference_interval(
        col("tp"),
        col("tp") + col("fn"),
        col("tp_ref"),
        col("tp_ref") + col("fn_ref"),
        confidence,
    )
    results["tpr_difference"] = (tpr.estimate, tpr.lower, tpr.upper)
    fpr = newcombe_difference_interval(
        col("fp"),
        col("fp") + col("tn"),
        col("fp_ref"),
        col("fp_ref") + col("tn_ref"),
        confidence,
    )
    results["fpr_difference"] = (fpr.estimate, fpr.lower, fpr.upper)

    tpr_low, tpr_high = _abs_interval(tpr.lower, tpr.upper)
    fpr_low, fpr_high = _abs_interval(fpr.lower, fpr.upper)
    # np.maximum propagates NaN: without TPR (no positives) there is no equalized odds.
    results["equalized_odds_difference"] = (
        np.maximum(np.abs(tpr.estimate), np.abs(fpr.estimate)),
        np.maximum(tpr_low, fpr_low),
        np.maximum(tpr_high, fpr_high),
    )

    mean_g, var_g, n_g = calibration_moments(comparisons, "")
    mean_r, var_r, n_r = calibration_moments(comparisons, "_ref")
    gap = mean_g - mean_r
    with np.errstate(divide="ignore", invalid="ignore"):
        standard_error = np.sqrt(var_g / n_g + var_r / n_r)
        half = normal_quantile(confidence) * standard_error
        calibration_p = np.where(
            standard_error > 0, 2.0 * sps.norm.sf(np.abs(gap / standard_error)), np.nan
        )
    results["calibration_gap"] = (gap, gap - half, gap + half)
    p_values = {
        "demographic_parity_difference": selection_p,
        "disparate_impact_ratio": selection_p,
        "tpr_difference": tpr_p,
        "fpr_difference": fpr_p,
        "equalized_odds_difference": np.minimum(1.0, 2.0 * np.fmin(tpr_p, fpr_p)),
        "calibration_gap": np.where(np.isnan(gap), np.nan, calibration_p),
    }

    def both_sufficient(metric: str) -> np.ndarray:
        flags = np.ones(len(comparisons), dtype=bool)
        for rate in SUFFICIENCY_METRICS[metric]:
            column = sufficient_column(rate)
            flags &= comparisons[column].to_numpy(dtype=bool)
            # A missing reference merges as NaN: never sufficient.
            flags &= comparisons[f"{column}_ref"].fillna(False).to_numpy(dtype=bool)
        return flags

    base = comparisons[[*by, "cohort_value", *([against] if against else [])]]
    pieces = []
    for order, metric in enumerate(DISPARITY_METRICS):
        value, lower, upper = results[metric]
        piece = base.copy()
        piece["metric"] = metric
        piece["value"] = value
        piece["lower"] = lower
        piece["upper"] = upper
        piece["sufficient"] = both_sufficient(metric)
        if metric == "disparate_impact_ratio":
            four_fifths = pd.array(value >= FOUR_FIFTHS, dtype="boolean")
            four_fifths[np.isnan(value)] = pd.NA
        else:
            four_fifths = pd.array([pd.NA] * len(piece), dtype="boolean")
        piece["passes_four_fifths"] = four_fifths
        piece["p_value"] = p_values[metric]
        piece["__order"] = order
        pieces.append(piece)
    result = pd.concat(pieces, ignore_index=True)
    result["metric"] = result["metric"].astype("str")
    result = result.sort_values([*by, "cohort_value", "__order"], na_position="last", kind="stable")
    return result.drop(columns="__order").reset_index(drop=True)


def compute_disparities_against_rest(
    metrics_wide: pd.DataFrame, *, min_cohort_size: int, confidence: float = 0.95
) -> pd.DataFrame:
    """Each cohort group against everyone else of its attribute (the pooled complement).

    The complement of group ``g`` of attribute ``A`` sums the counts of every other group
    of ``A`` under the same group keys (``__missing__`` included), so each row of the day
    is in exactly one of the two. The metrics, their intervals and ``passes_four_fifths``
    are those of :func:`compute_disparities`, with the complement in the reference's
    place; ``sufficient`` asks the same of the complement's denominators (computed here
    against ``min_cohort_size``, since the complement has no row of its own). Unlike a
    reference group, which is never compared with itself, every group gets rows; a group
    alone in its attribute has an empty complement and NaN figures.

    Parameters:
        metrics_wide: ``derive_cohort_metrics`` output (needs its count columns).
        min_cohort_size: the denominator the complement needs for each metric.
        confidence: two-sided confidence level of the intervals.

    Returns:
        Long frame, one row per (group keys, cohort_attribute, cohort_value, metric) with
        ``value, lower, upper, sufficient, passes_four_fifths``: the columns of
        :func:`compute_disparities` without ``reference_value``.

    Example:
        >>> wide = pd.DataFrame({"cohort_attribute": ["sex"] * 3,
        ...     "cohort_value": ["f", "m", "x"], "n": [100, 150, 50],
        ...     "n_labelled": [100, 150, 50], "positives": [50, 75, 25],
        ...     "pred_pos": [30, 60, 20], "tp": [25, 45, 15], "fp": [5, 15, 5],
        ...     "tn": [45, 60, 20], "fn": [25, 30, 10], "score_sum": [50.0, 75.0, 25.0],
        ...     "brier_sum": [20.0, 30.0, 10.0], "selection_rate_sufficient": [True] * 3,
        ...     "tpr_sufficient": [True] * 3, "fpr_sufficient": [True] * 3,
        ...     "calibration_in_the_large_sufficient": [True] * 3})
        >>> d = compute_disparities_against_rest(wide, min_cohort_size=10)
        >>> f = d[(d.cohort_value == "f") & (d.metric == "demographic_parity_difference")]
        >>> round(float(f["value"].iloc[0]), 2)  # 30/100 - (60 + 20)/(150 + 50)
        -0.1
    """
    if min_cohort_size < 1:
        raise ValueError(f"min_cohort_size must be >= 1, got {min_cohort_size}")
    missing = [c for c in _NEEDED_ALL if c not in metrics_wide.columns]
    if missing:
        raise ValueError(ERROR_NOT_METRICS.format(columns=missing))
    keys = _group_keys(metrics_wide)
    groups = metrics_wide[metrics_wide["cohort_attribute"] != ALL_COHORT].reset_index(drop=True)
    by = [*keys, "cohort_attribute"]
    if groups.empty:
        return _empty_result(metrics_wide, keys, against="")
    counts = [*_NEEDED, "brier_sum"]
    totals = groups.groupby(by, sort=False, dropna=False, observed=True)[counts].transform("sum")
    rest = pd.DataFrame(
        {f"{c}_ref": totals[c].to_numpy() - groups[c].to_numpy() for c in counts},
        index=groups.index,
    )
    denominators = {
        "selection_rate": rest["n_ref"],
        "tpr": rest["tp_ref"] + rest["fn_ref"],
        "fpr": rest["fp_ref"] + rest["tn_ref"],
        "calibration_in_the_large": rest["n_labelled_ref"],
    }
    for metric, denominator in denominators.items():
        rest[f"{sufficient_column(metric)}_ref"] = denominator.to_numpy() >= min_cohort_size
    comparisons = pd.concat([groups, rest], axis=1)
    return _compare(comparisons, by, "", confidence)


def choose_reference_groups(
    group_sizes: pd.DataFrame, configured: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The reference group of each attribute: configured, else the largest group.

    Meant for sizes summed over a fixed window (the baseline), so that the reference
    does not move from day to day with the day's traffic.

    Parameters:
        group_sizes: columns ``cohort_attribute, cohort_value, n``, one row per group
            (rows of the ``"all"`` cohort are ignored).
        configured: attribute -> reference value; these win over the sizes.

    Returns:
        attribute -> reference value, for every attribute of ``group_sizes`` and of
        ``configured``; among equally large groups the smaller value wins.

    Example:
        >>> sizes = pd.DataFrame({"cohort_attribute": ["sex", "sex", "race", "race"],
        ...     "cohort_value": ["f", "m", "a", "b"], "n": [300, 500, 40, 40]})
        >>> choose_reference_groups(sizes, {"sex": "f"})
        {'race': 'a', 'sex': 'f'}
    """
    groups = group_sizes[group_sizes["cohort_attribute"] != ALL_COHORT]
    ordered = groups.sort_values(
        ["cohort_attribute", "n", "cohort_value"], ascending=[True, False, True], kind="stable"
    )
    largest = ordered.drop_duplicates("cohort_attribute", keep="first")
    chosen = dict(zip(largest["cohort_attribute"], largest["cohort_value"], strict=True))
    chosen.update(configured or {})
    return {attribute: str(value) for attribute, value in sorted(chosen.items())}


def _empty_result(
    metrics_wide: pd.DataFrame, keys: list[str], against: str = "reference_value"
) -> pd.DataFrame:
    frame = metrics_wide[[*keys, "cohort_attribute", "cohort_value"]].iloc[0:0].copy()
    if against:
        frame[against] = pd.Series(dtype="str")
    frame["metric"] = pd.Series(dtype="str")
    for column in ("value", "lower", "upper"):
        frame[column] = pd.Series(dtype="float64")
    frame["sufficient"] = pd.Series(dtype="bool")
    frame["passes_four_fifths"] = pd.Series(dtype="boolean")
    frame["p_value"] = pd.Series(dtype="float64")
    return frame.reset_index(drop=True)


def worst_disparities(disparities: pd.DataFrame, *, sufficient_only: bool = True) -> pd.DataFrame:
    """The worst group per (group keys, attribute, metric).

    Worst is the largest absolute value for difference metrics and the smallest ratio
    for ``disparate_impact_ratio``; ties go to the smaller cohort value. Undefined (NaN)
    values are never worst.

    Parameters:
        disparities: ``compute_disparities`` output.
        sufficient_only: consider only sufficient comparisons (default), so that a tiny
            cohort's noise does not mask a real, well-measured disparity.

    Returns:
        The chosen rows of ``disparities`` (all columns, interval included), sorted by
        keys and metric order; a (attribute, metric) with no candidate has no row.

    Example:
        >>> d = pd.DataFrame({"cohort_attribute": ["sex"] * 2, "cohort_value": ["f", "x"],
        ...     "reference_value": ["m"] * 2, "metric": ["tpr_difference"] * 2,
        ...     "value": [-0.2, 0.1], "lower": [-0.3, 0.0], "upper": [-0.1, 0.2],
        ...     "sufficient": [True, True], "passes_four_fifths": [pd.NA, pd.NA]})
        >>> worst_disparities(d)["cohort_value"].tolist()
        ['f']
    """
    candidates = disparities
    if sufficient_only:
        candidates = candidates[candidates["sufficient"].to_numpy(dtype=bool)]
    candidates = candidates[candidates["value"].notna()].copy()
    keys = [
        c
        for c in disparities.columns
        if c
        not in (
            "cohort_value",
            "reference_value",
            "metric",
            "value",
            "lower",
            "upper",
            *_FIGURE_COLUMNS,
        )
    ]
    is_ratio = candidates["metric"].isin(RATIO_METRICS).to_numpy()
    value = candidates["value"].to_numpy(dtype=np.float64)
    candidates["__severity"] = np.where(is_ratio, -value, np.abs(value))
    order = {m: i for i, m in enumerate(DISPARITY_METRICS)}
    candidates["__order"] = candidates["metric"].map(order).fillna(len(order))
    ordered = candidates.sort_values(
        [*keys, "__order", "__severity", "cohort_value"],
        ascending=[True] * len(keys) + [True, False, True],
        na_position="last",
        kind="stable",
    )
    worst = ordered.drop_duplicates([*keys, "metric"], keep="first")
    return worst.drop(columns=["__severity", "__order"]).reset_index(drop=True)
