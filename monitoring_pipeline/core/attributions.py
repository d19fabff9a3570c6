"""Feature attributions: how much each feature moves the model's output, per cohort and day.

A model may log, for every prediction, each feature's attribution (e.g. a SHAP value
computed at serving: the feature's contribution to the output relative to a reference).
What a day says about them, per cohort (``all`` and each group of each attribute):

* ``mean_abs`` = mean |attribution|: the feature's importance that day. Its 95% interval
  is the normal one, ``mean_abs +/- z * sd(|a|) / sqrt(n)`` (sample sd, ``n - 1``), from
  the additive sums ``n``, ``abs_sum``, ``sq_sum`` (``|a|^2 = a^2``), so any window's
  figure is the sum of its days' rows.
* ``mean`` = mean attribution (signed): which way the feature pushes on average.
* ``share`` = ``mean_abs`` over the sum of the cohort's ``mean_abs`` of every feature: the
  feature's part of what moves the model for that cohort (shown without an interval).

The *distribution* of each attribution is watched for drift like a numeric feature (same
bins, tests and false discovery rate family, ``pipeline/drift.py``): a change in how a
feature is used often shows there before accuracy drops, and it needs no labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from monitoring_pipeline.core.intervals import normal_quantile
from monitoring_pipeline.core.sufficient_stats import cohort_groupings

__all__ = [
    "ATTRIBUTION_KEYS",
    "attribution_sums",
    "merge_attribution_sums",
    "summarize_attributions",
]

ATTRIBUTION_KEYS = ["cohort_attribute", "cohort_value", "feature", "attribution_column"]
SUM_COLUMNS = ["n", "abs_sum", "signed_sum", "sq_sum"]


def attribution_sums(
    rows: pd.DataFrame, attributions: Mapping[str, str], cohort_attributes: Sequence[str]
) -> pd.DataFrame:
    """Additive sums of each attribution column of ``rows`` per cohort.

    Parameters:
        rows: one row per prediction: the attribution columns (numbers, NaN when missing)
            and one text column per cohort attribute.
        attributions: feature -> its attribution column.
        cohort_attributes: the attributes whose groups get rows (besides ``all``).

    Returns:
        ``ATTRIBUTION_KEYS`` + ``n`` (rows with an attribution), ``abs_sum``, ``signed_sum`` and
        ``sq_sum``: sum these over chunks or days, then :func:`summarize_attributions`.

    Example:
        >>> rows = pd.DataFrame({"shap_x": [0.5, -1.5, np.nan], "g": ["a", "a", "b"]})
        >>> s = attribution_sums(rows, {"x": "shap_x"}, ["g"])
        >>> s[["cohort_value", "n", "abs_sum", "signed_sum"]].values.tolist()
        [['all', 2, 2.0, -1.0], ['a', 2, 2.0, -1.0], ['b', 0, 0.0, 0.0]]
    """
    features, columns = list(attributions), list(attributions.values())
    values = rows[columns].to_numpy(dtype=np.float64) if columns else np.empty((len(rows), 0))
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    per_row = {
        "n": present.astype(np.int64),
        "abs_sum": np.abs(filled),
        "signed_sum": filled,
        "sq_sum": filled**2,
    }
    pieces = []
    groupings = cohort_groupings(rows, cohort_attributes)
    for attribute, codes, uniques in groupings:
        groups = len(uniques)
        sums = {
            name: np.stack(
                [
                    np.bincount(codes, weights=matrix[:, j], minlength=groups)
                    for j in range(len(columns))
                ],
                axis=1,
            ).reshape(groups, len(columns))
            for name, matrix in per_row.items()
        }
        piece = pd.DataFrame(
            {
                "cohort_attribute": attribute,
                "cohort_value": np.repeat(uniques.astype(str), len(columns)),
                "feature": np.tile(features, groups),
                "attribution_column": np.tile(columns, groups),
                **{name: total.ravel() for name, total in sums.items()},
            }
        )
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
    out["n"] = out["n"].round().astype(np.int64)
    return out[[*ATTRIBUTION_KEYS, *SUM_COLUMNS]]


def merge_attribution_sums(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The sum of several :func:`attribution_sums` results (chunks of a day, days of a
    window), keys in first-seen order."""
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(ATTRIBUTION_KEYS, sort=False, as_index=False)[SUM_COLUMNS].sum()


def summarize_attributions(
    sums: pd.DataFrame, *, min_count: int = 1, confidence: float = 0.95
) -> pd.DataFrame:
    """``sums`` with ``mean_abs`` and its interval (``lower``, ``upper``), ``mean`` and
    ``share``; ``sufficient`` when ``n >= min_count``. Figures are NaN without rows.

    Example:
        >>> sums = pd.DataFrame({"cohort_attribute": "all", "cohort_value": "all",
        ...     "feature": ["x", "y"], "attribution_column": ["sx", "sy"], "n": [4, 4],
        ...     "abs_sum": [4.0, 12.0], "signed_sum": [0.0, 12.0], "sq_sum": [4.0, 36.0]})
        >>> out = summarize_attributions(sums)
        >>> out[["mean_abs", "share", "mean"]].values.tolist()
        [[1.0, 0.25, 0.0], [3.0, 0.75, 3.0]]
    """
    out = sums.copy()
    n = out["n"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_abs = out["abs_sum"].to_numpy(dtype=np.float64) / n
        mean = out["signed_sum"].to_numpy(dtype=np.float64) / n
        # Sample variance of |a| from the sums: (sum a^2 - n * mean_abs^2) / (n - 1).
        variance = np.maximum(out["sq_sum"].to_numpy(dtype=np.float64) - n * mean_abs**2, 0.0)
        half = normal_quantile(confidence) * np.sqrt(variance / (n - 1.0) / n)
    half = np.where(n > 1, half, np.nan)
    out["mean_abs"] = np.where(n > 0, mean_abs, np.nan)
    out["lower"] = np.maximum(out["mean_abs"] - half, 0.0)
    out["upper"] = out["mean_abs"] + half
    out["mean"] = np.where(n > 0, mean, np.nan)
    totals = out.groupby(["cohort_attribute", "cohort_value"], sort=False)["mean_abs"].transform(
        lambda m: m.sum(min_count=1)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(totals > 0, out["mean_abs"] / totals, np.nan)
    out["sufficient"] = out["n"] >= min_count
    return out
