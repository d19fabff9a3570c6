"""The one ranking of worst cohorts: alerts, asset checks, retraining requests and the
report all name the worst cohorts of an SLO through these two functions, so they agree.

No Dagster, no SQL: DataFrames in, DataFrames out.

The rule, in two steps:

1. **Which cohorts compete** (:func:`sli_cohort_figures`), from the stored rows of the SLI's
   figure on one day (model version ``all``): for a fairness SLI, every group of the SLI's
   attribute compared with its reference (only the SLI's ``group`` when it names one; a
   row of the reference against itself is no finding); for a cohort-metric or drift SLI,
   every cohort stored: each group, each intersection and everyone (``all``), so the
   SLO's own cohort is always among them; likewise for a change from baseline
   (``cohort_changes``, the figure its ``difference``).
2. **How they rank** (:func:`rank_worst_cohorts`): sufficient cohorts first (an
   insufficient one can never raise an alert), then by how far the figure the objective
   judges lies beyond the objective, taking the interval's most favourable bound (for an
   upper objective ``<``/``<=`` its lower bound, for a lower one its upper bound; the value
   itself when there is no interval); ties by the point value's distance, then by name;
   undefined figures last. A signed fairness difference is judged by its size (the
   absolute value and its interval, :func:`~monitoring_pipeline.core.verdicts.absolute_intervals`)
   but shown with its sign as stored; so is a change from baseline.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from monitoring_pipeline.core.verdicts import absolute_intervals

__all__ = ["FIGURE_COLUMNS", "SLISource", "rank_worst_cohorts", "sli_cohort_figures"]

SLISource = Literal[
    "fairness_disparities",
    "estimated_disparities",
    "version_comparison",
    "cohort_metrics",
    "cohort_changes",
    "drift",
    "operational_metrics",
    "complaint_metrics",
]

# What every candidate row carries (besides the stored columns it came with).
FIGURE_COLUMNS = ["cohort", "value", "lower", "upper", "sufficient"]


def sli_cohort_figures(
    rows: pd.DataFrame,
    *,
    source: SLISource,
    signed: bool = False,
    group: str | None = None,
    name_features: bool = False,
) -> pd.DataFrame:
    """The cohorts that compete for "worst" (step 1 of the module's rule), one row each.

    Parameters:
        rows: stored rows of the SLI's figure on one day (one metric, feature and method;
            model version ``all``) with ``cohort_attribute, cohort_value, value, lower,
            upper, sufficient`` (and ``reference_value`` for fairness rows); other columns
            are kept.
        source: the table the rows come from.
        signed: a signed difference the objective judges by its size (adds
            ``judged_value, judged_lower, judged_upper``, the absolute value and interval).
        group: a fairness SLI's named group (None: every group of the attribute).
        name_features: the rows span several drift features (a set SLO over ``*``): each
            cohort is named ``feature @ cohort``.

    Returns:
        ``rows`` filtered, with ``cohort`` (``region=west vs north``, ``region=west``,
        ``all``) and ``sufficient`` as booleans.

    Example:
        >>> stored = pd.DataFrame({"cohort_attribute": ["all", "region"],
        ...     "cohort_value": ["all", "west"], "value": [0.8, 0.7],
        ...     "lower": [0.78, 0.6], "upper": [0.82, 0.8], "sufficient": [True, True]})
        >>> sli_cohort_figures(stored, source="cohort_metrics").cohort.tolist()
        ['all', 'region=west']
    """
    attribute = rows["cohort_attribute"].astype(str)
    value = rows["cohort_value"].astype(str)
    if source in ("fairness_disparities", "estimated_disparities"):
        reference = rows["reference_value"].astype(str)
        keep = value != reference
        if group is not None:
            keep &= value == group
        cohort = attribute + "=" + value + " vs " + reference
    else:
        keep = pd.Series(True, index=rows.index)
        cohort = (attribute + "=" + value).where(attribute != "all", "all")
        if name_features:
            cohort = rows["feature"].astype(str) + " @ " + cohort
    out = rows.assign(cohort=cohort, sufficient=rows["sufficient"].fillna(False).astype(bool)).loc[
        keep
    ]
    out = out.reset_index(drop=True)
    if signed:
        judged = absolute_intervals(
            out["value"].to_numpy(dtype=float),
            out["lower"].to_numpy(dtype=float),
            out["upper"].to_numpy(dtype=float),
        )
        out = out.assign(judged_value=judged[0], judged_lower=judged[1], judged_upper=judged[2])
    return out


def rank_worst_cohorts(
    rows: pd.DataFrame, objective_op: str, objective_value: float, limit: int | None = None
) -> pd.DataFrame:
    """``rows`` (as :func:`sli_cohort_figures` gives them) worst first (step 2 of the
    module's rule), at most ``limit`` of them, with ``beyond_objective``: sufficient and
    the whole judged interval beyond the objective.

    Example:
        >>> rows = pd.DataFrame({"cohort": ["a", "b", "c"], "value": [0.3, 0.5, 0.9],
        ...     "lower": [0.25, 0.05, None], "upper": [0.35, 0.95, None],
        ...     "sufficient": [True, True, False]})
        >>> ranked = rank_worst_cohorts(rows, "<=", 0.2)
        >>> ranked.cohort.tolist(), ranked.beyond_objective.tolist()
        (['a', 'b', 'c'], [True, False, False])
    """
    if rows.empty:
        return rows.assign(beyond_objective=pd.Series(dtype=bool))
    upper_objective = objective_op in ("<", "<=")
    judged = "judged_" if "judged_value" in rows.columns else ""
    value = rows[f"{judged}value"].to_numpy(dtype=float, na_value=np.nan)
    lower = rows[f"{judged}lower"].to_numpy(dtype=float, na_value=np.nan)
    upper = rows[f"{judged}upper"].to_numpy(dtype=float, na_value=np.nan)
    favourable = lower if upper_objective else upper
    bound = np.where(np.isnan(favourable), value, favourable)
    badness = bound - objective_value if upper_objective else objective_value - bound
    point = value - objective_value if upper_objective else objective_value - value
    sufficient = rows["sufficient"].fillna(False).to_numpy(dtype=bool)
    badness = np.where(np.isnan(badness), -np.inf, badness)
    point = np.where(np.isnan(point), -np.inf, point)  # ties: the worse point value
    order = np.lexsort((rows["cohort"].astype(str).to_numpy(), -point, -badness, ~sufficient))
    ranked = rows.iloc[order].assign(
        sufficient=sufficient[order], beyond_objective=(sufficient & (badness > 0))[order]
    )
    return (ranked if limit is None else ranked.head(limit)).reset_index(drop=True)
