"""Which published fairness gaps are clearly bad, and in which order to show them.

A gap is judged like an SLO day (:func:`monitoring_pipeline.core.slo.classify_days`):
clearly beyond its objective only when its whole confidence interval lies beyond it, and
never when its comparison is insufficient. Difference metrics are judged on their
absolute value (a gap of -0.3 is as bad as +0.3), ratios as they are. No new statistic:
the values and intervals are those of ``fairness_disparities``.

The objective of a metric comes from the model's SLOs when one is set on that metric (an
SLO on the same attribute first), else from a documented rule: the EEOC four-fifths rule
for ``disparate_impact_ratio`` (``>= 0.8``). Metrics with neither are shown, never judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from monitoring_pipeline.core.disparities import FOUR_FIFTHS, RATIO_METRICS
from monitoring_pipeline.core.slo import classify_days

__all__ = [
    "DOCUMENTED_OBJECTIVES",
    "GapObjective",
    "absolute_intervals",
    "judge_gaps",
]


@dataclass(frozen=True)
class GapObjective:
    """What a gap must satisfy: ``value op threshold`` (``op`` as ``classify_days`` takes
    it), and where that objective comes from (an SLO's name, or a documented rule)."""

    op: Literal["<=", ">="]
    threshold: float
    source: str


DOCUMENTED_OBJECTIVES: dict[str, GapObjective] = {
    "disparate_impact_ratio": GapObjective(">=", FOUR_FIFTHS, "four-fifths rule"),
}


def absolute_intervals(
    values: np.ndarray, lowers: np.ndarray, uppers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``|value|`` and an interval for it: ``[0, max(|L|, |U|)]`` when ``[L, U]`` straddles
    0, else ``[min(|L|, |U|), max(|L|, |U|)]``; NaN bounds stay NaN.

    Example:
        >>> [a.tolist() for a in absolute_intervals(np.array([-0.3, 0.05]),
        ...     np.array([-0.4, -0.1]), np.array([-0.2, 0.2]))]
        [[0.3, 0.05], [0.2, 0.0], [0.4, 0.2]]
    """
    lowers, uppers = np.asarray(lowers, dtype=float), np.asarray(uppers, dtype=float)
    straddles = (lowers <= 0) & (uppers >= 0)
    low = np.where(straddles, 0.0, np.minimum(np.abs(lowers), np.abs(uppers)))
    high = np.maximum(np.abs(lowers), np.abs(uppers))
    return np.abs(np.asarray(values, dtype=float)), low, high


def judge_gaps(
    disparities: pd.DataFrame,
    objectives: Mapping[tuple[str | None, str], GapObjective],
) -> pd.DataFrame:
    """Judge each sufficient gap against its metric's objective and rank them, worst first.

    Parameters:
        disparities: rows of ``fairness_disparities`` (``cohort_attribute``,
            ``cohort_value``, ``reference_value``, ``metric``, ``value``, ``lower``,
            ``upper``, ``sufficient``). Insufficient and undefined rows are dropped.
        objectives: ``(attribute, metric) -> GapObjective`` for an objective on one
            attribute, ``(None, metric) -> ...`` for every attribute; the attribute's own
            entry wins, then the metric's, then :data:`DOCUMENTED_OBJECTIVES`.

    Returns:
        The sufficient rows with ``judged_value``, ``judged_lower``, ``judged_upper`` (the
        absolute gap and its interval for differences, the ratio for ratios),
        ``objective_op``, ``objective_value``, ``objective_source`` (NaN / None without an
        objective), ``beyond_by`` (how far the interval lies beyond the objective: the
        lower bound minus the threshold for ``<=``, the threshold minus the upper bound
        for ``>=``; NaN without an objective) and ``clearly_beyond`` (the whole interval
        lies beyond) and ``slo_subject`` (an attribute-specific objective covers the row:
        an SLO is about it). Ordered: clearly beyond first, then the other judged rows,
        then the unjudged ones; within each, the rows an SLO is about first, then by
        ``beyond_by`` and by how far the point value lies from "no gap" (``|gap|``,
        ``1 - ratio``).

    Example:
        >>> rows = pd.DataFrame({"cohort_attribute": ["region"] * 2,
        ...     "cohort_value": ["west", "east"], "reference_value": ["north"] * 2,
        ...     "metric": ["tpr_difference"] * 2, "value": [-0.3, 0.05],
        ...     "lower": [-0.4, -0.02], "upper": [-0.2, 0.12], "sufficient": [True, True]})
        >>> judged = judge_gaps(rows, {(None, "tpr_difference"): GapObjective("<=", 0.1, "slo")})
        >>> judged[["cohort_value", "clearly_beyond"]].values.tolist()
        [['west', True], ['east', False]]
    """
    rows = disparities[
        disparities["sufficient"].astype(bool).to_numpy() & disparities["value"].notna().to_numpy()
    ].copy()
    if rows.empty:
        return rows.assign(
            judged_value=[], judged_lower=[], judged_upper=[], objective_op=[],
            objective_value=[], objective_source=[], beyond_by=[], clearly_beyond=[],
            slo_subject=[],
        )  # fmt: skip
    values, lowers, uppers = (rows[c].to_numpy(dtype=float) for c in ("value", "lower", "upper"))
    is_ratio = rows["metric"].isin(RATIO_METRICS).to_numpy()
    abs_values, abs_lowers, abs_uppers = absolute_intervals(values, lowers, uppers)
    rows["judged_value"] = np.where(is_ratio, values, abs_values)
    rows["judged_lower"] = np.where(is_ratio, lowers, abs_lowers)
    rows["judged_upper"] = np.where(is_ratio, uppers, abs_uppers)

    chosen = [
        objectives.get((attribute, metric))
        or objectives.get((None, metric))
        or DOCUMENTED_OBJECTIVES.get(metric)
        for attribute, metric in zip(rows["cohort_attribute"], rows["metric"], strict=True)
    ]
    rows["objective_op"] = [o.op if o else None for o in chosen]
    rows["objective_value"] = [o.threshold if o else np.nan for o in chosen]
    rows["objective_source"] = [o.source if o else None for o in chosen]
    beyond = np.zeros(len(rows), dtype=bool)
    beyond_by = np.full(len(rows), np.nan)
    for op in ("<=", ">="):
        mine = (rows["objective_op"] == op).to_numpy()
        if not mine.any():
            continue
        judged = rows[mine]
        beyond[mine] = (
            classify_days(
                judged.judged_value, judged.judged_lower, judged.judged_upper, op,
                judged.objective_value.to_numpy(), np.ones(len(judged), dtype=bool),
            ) == "bad"
        )  # fmt: skip
        # Without an interval (NaN bounds) the point value is the evidence, as classify_days
        # judges it.
        low = judged.judged_lower.fillna(judged.judged_value).to_numpy()
        high = judged.judged_upper.fillna(judged.judged_value).to_numpy()
        beyond_by[mine] = (
            low - judged.objective_value.to_numpy()
            if op == "<="
            else judged.objective_value.to_numpy() - high
        )
    rows["beyond_by"] = beyond_by
    rows["clearly_beyond"] = beyond
    slo_subject = np.array(
        [
            (attribute, metric) in objectives
            for attribute, metric in zip(rows["cohort_attribute"], rows["metric"], strict=True)
        ],
        dtype=bool,
    )
    rows["slo_subject"] = slo_subject
    distance_from_fair = np.where(is_ratio, np.abs(1.0 - values), abs_values)
    order = np.lexsort(
        (
            -distance_from_fair,
            -np.where(np.isnan(beyond_by), -np.inf, beyond_by),
            ~slo_subject,
            np.isnan(beyond_by),
            ~beyond,
        )
    )
    return rows.iloc[order].reset_index(drop=True)
