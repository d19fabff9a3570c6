"""Canary comparison: candidate minus incumbent model version, per cohort and metric.

From additive confusion counts (``cohort_stats``: one row per version and cohort), each
proportion metric of the candidate is compared with the incumbent's on the same day and
cohort: ``difference = candidate - incumbent`` with Newcombe's hybrid score interval
(independent samples: each prediction is scored by one version).

Which version is the candidate: the one first seen most recently (``first_seen``: the
earliest day it appears in the model's statistics), ties broken by the larger name.
Every other version serving that day is an incumbent compared with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from monitoring_pipeline.core.intervals import newcombe_difference_interval

__all__ = [
    "COMPARED_METRICS",
    "canary_harm",
    "release_action",
    "compare_versions",
    "pick_candidate",
]

# metric -> (numerator, denominator as a sum of count columns, which direction is better)
COMPARED_METRICS: Mapping[str, tuple[str, tuple[str, ...], str | None]] = {
    "selection_rate": ("pred_pos", ("n",), None),
    "tpr": ("tp", ("tp", "fn"), "higher"),
    "fpr": ("fp", ("fp", "tn"), "lower"),
    "fnr": ("fn", ("tp", "fn"), "lower"),
    "precision": ("tp", ("tp", "fp"), "higher"),
    "accuracy": ("correct", ("n_labelled",), "higher"),
}
KEYS = ["cohort_attribute", "cohort_value"]
COUNTS = ["n", "n_labelled", "pred_pos", "tp", "fp", "tn", "fn"]
OUTPUT_COLUMNS = [
    "candidate_version", "incumbent_version", "cohort_attribute", "cohort_value", "metric",
    "candidate_value", "incumbent_value", "difference", "lower", "upper",
    "candidate_denominator", "incumbent_denominator", "candidate_n_labelled",
    "incumbent_n_labelled", "sufficient", "verdict",
]  # fmt: skip
ERROR_COLUMNS = "stats lacks columns {columns}"


def pick_candidate(versions: list[str], first_seen: Mapping[str, date]) -> str:
    """The version first seen most recently (ties: the larger name).

    Example:
        >>> pick_candidate(["v1", "v2"], {"v1": date(2026, 1, 1), "v2": date(2026, 2, 1)})
        'v2'
    """
    if not versions:
        raise ValueError("no version to pick from")
    return max(versions, key=lambda v: (first_seen.get(v, date.min), v))


def compare_versions(
    stats: pd.DataFrame, first_seen: Mapping[str, date], *, min_cohort_size: int
) -> pd.DataFrame:
    """Candidate - incumbent per cohort and metric for one day's per-version statistics.

    Parameters:
        stats: one row per (model_version, cohort_attribute, cohort_value) with the counts
            ``n, n_labelled, pred_pos, tp, fp, tn, fn`` (a version ``all`` is ignored).
        first_seen: version -> first day it served (decides the candidate).
        min_cohort_size: labelled rows each side needs for a verdict.

    Returns:
        Long frame with :data:`OUTPUT_COLUMNS`; empty when fewer than two versions served.
        ``verdict``: ``insufficient`` (a side below the minimum or the metric undefined);
        else, when the 95% interval excludes 0, ``better``/``worse`` (or ``higher``/
        ``lower`` for selection_rate, which has no good direction); else
        ``no_clear_difference``.
    """
    missing = [c for c in ["model_version", *KEYS, *COUNTS] if c not in stats.columns]
    if missing:
        raise ValueError(ERROR_COLUMNS.format(columns=missing))
    stats = stats[stats.model_version != "all"]
    served = stats[stats.n > 0].model_version.unique().tolist()
    if len(served) < 2:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    candidate = pick_candidate(served, first_seen)
    pieces = []
    for incumbent in sorted(v for v in served if v != candidate):
        pieces.append(_compare_pair(stats, candidate, incumbent, min_cohort_size))
    return pd.concat(pieces, ignore_index=True)[OUTPUT_COLUMNS]


def _side(stats: pd.DataFrame, version: str) -> pd.DataFrame:
    side = stats[stats.model_version == version][[*KEYS, *COUNTS]].set_index(KEYS)
    return side.assign(correct=side.tp + side.tn)


def _compare_pair(
    stats: pd.DataFrame, candidate: str, incumbent: str, min_cohort_size: int
) -> pd.DataFrame:
    # A cohort one version never scored is all zeros on that side (additive statistics).
    both = _side(stats, candidate).join(
        _side(stats, incumbent), how="outer", lsuffix="_c", rsuffix="_i"
    )
    both = both.fillna(0).astype(np.int64).sort_index()
    sufficient = (both.n_labelled_c >= min_cohort_size) & (both.n_labelled_i >= min_cohort_size)
    pieces = []
    for metric, (numerator, denominator, better) in COMPARED_METRICS.items():
        k_c, k_i = both[f"{numerator}_c"].to_numpy(), both[f"{numerator}_i"].to_numpy()
        n_c = sum(both[f"{c}_c"] for c in denominator).to_numpy()
        n_i = sum(both[f"{c}_i"] for c in denominator).to_numpy()
        ci = newcombe_difference_interval(k_c, n_c, k_i, n_i)
        with np.errstate(divide="ignore", invalid="ignore"):
            value_c = np.where(n_c > 0, k_c / n_c, np.nan)
            value_i = np.where(n_i > 0, k_i / n_i, np.nan)
        ok = sufficient.to_numpy() & np.isfinite(ci.estimate)
        verdict = np.full(len(both), "no_clear_difference", dtype=object)
        up, down = ci.lower > 0, ci.upper < 0
        if better == "higher":
            verdict[up], verdict[down] = "better", "worse"
        elif better == "lower":
            verdict[up], verdict[down] = "worse", "better"
        else:
            verdict[up], verdict[down] = "higher", "lower"
        verdict[~ok] = "insufficient"
        pieces.append(
            pd.DataFrame(
                {
                    "candidate_version": candidate,
                    "incumbent_version": incumbent,
                    "cohort_attribute": both.index.get_level_values(0),
                    "cohort_value": both.index.get_level_values(1),
                    "metric": metric,
                    "candidate_value": value_c,
                    "incumbent_value": value_i,
                    "difference": ci.estimate,
                    "lower": ci.lower,
                    "upper": ci.upper,
                    "candidate_denominator": n_c,
                    "incumbent_denominator": n_i,
                    "candidate_n_labelled": both.n_labelled_c.to_numpy(),
                    "incumbent_n_labelled": both.n_labelled_i.to_numpy(),
                    "sufficient": sufficient.to_numpy(),
                    "verdict": verdict.astype(str),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


def canary_harm(rows: pd.DataFrame) -> pd.DataFrame:
    """How much worse the candidate does, from ``compare_versions`` rows: per cohort and
    metric with a good direction, ``value`` = incumbent - candidate for higher-is-better
    metrics (TPR, precision, accuracy) and candidate - incumbent for lower-is-better ones
    (FPR, FNR), its interval turned alike, so positive is always worse. With several
    incumbents, the pair whose harm is clearest (largest lower bound) stands for the cohort.
    ``n_labelled`` is the smaller side's labelled rows.

    Example: the candidate's TPR is 0.10 lower [-0.15, -0.05]:

    >>> rows = pd.DataFrame({"candidate_version": ["v2"], "incumbent_version": ["v1"],
    ...     "cohort_attribute": ["all"], "cohort_value": ["all"], "metric": ["tpr"],
    ...     "difference": [-0.10], "lower": [-0.15], "upper": [-0.05], "sufficient": [True],
    ...     "candidate_n_labelled": [400], "incumbent_n_labelled": [900]})
    >>> canary_harm(rows)[["value", "lower", "upper", "n_labelled"]].to_numpy().tolist()
    [[0.1, 0.05, 0.15, 400.0]]
    """
    columns = ["candidate_version", "incumbent_version", "cohort_attribute", "cohort_value",
               "metric", "value", "lower", "upper", "sufficient", "n_labelled"]  # fmt: skip
    if rows.empty:
        return pd.DataFrame(columns=columns)
    direction = rows.metric.map(lambda m: COMPARED_METRICS.get(m, (None, (), None))[2])
    rows = rows[direction.isin(["higher", "lower"])]
    direction = direction[rows.index]
    flip = (direction == "higher").to_numpy()
    difference = rows.difference.to_numpy(dtype=float)
    lower = rows.lower.to_numpy(dtype=float)
    upper = rows.upper.to_numpy(dtype=float)
    out = rows[columns[:5]].assign(
        value=np.where(flip, -difference, difference),
        lower=np.where(flip, -upper, lower),
        upper=np.where(flip, -lower, upper),
        sufficient=rows.sufficient.astype(bool).to_numpy(),
        n_labelled=np.minimum(rows.candidate_n_labelled, rows.incumbent_n_labelled).astype(float),
    )
    out = out.sort_values("lower", ascending=False, na_position="last", kind="stable")
    out = out.drop_duplicates(["cohort_attribute", "cohort_value", "metric"])
    return out.sort_values(["cohort_attribute", "cohort_value", "metric"]).reset_index(drop=True)


# A candidate serving at least this share of the day's predictions has taken over: the
# recommendation is to roll back, not merely to hold its rollout.
ROLLBACK_SHARE = 0.5


def release_action(candidate_share: float | None) -> str:
    """``hold`` the rollout of a worse candidate still in canary, ``rollback`` once it
    serves at least ``ROLLBACK_SHARE`` of the predictions.

    >>> release_action(0.1), release_action(0.8)
    ('hold', 'rollback')
    """
    if candidate_share is not None and candidate_share >= ROLLBACK_SHARE:
        return "rollback"
    return "hold"
