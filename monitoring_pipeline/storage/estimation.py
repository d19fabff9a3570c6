"""Reads of the estimation tables (``sql/024``): ``estimation_stats`` of a day or a window.

``estimation_stats`` is additive, so a reference window is its days' rows; these reads
never touch raw predictions. Bound parameters only.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.core.sufficient_stats import ALL_VERSIONS, ESTIMATION_KINDS
from monitoring_pipeline.storage.reads import read_frame

__all__ = [
    "ESTIMATION_STATS_TABLE",
    "estimated_disparity_figures",
    "estimation_figures",
    "estimation_stats_between",
    "estimation_stats_to_rows",
    "rows_to_estimation_stats",
]

ESTIMATION_STATS_TABLE = "estimation_stats"
_KEYS = ["model_version", "cohort_attribute", "cohort_value", "decision"]
_INTEGRAL = ("n", "labelled_n", "label_sum")


def estimation_stats_to_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """``compute_estimation_stats`` columns as ``estimation_stats`` stores them: one
    Postgres array per kind, indexed by score bin."""
    if stats.empty:
        return pd.DataFrame()
    out = stats[_KEYS].copy()
    for kind in ESTIMATION_KINDS:
        columns = [c for c in stats.columns if c.startswith(f"est_{kind}_")]
        columns.sort(key=lambda c: int(c.rsplit("_", 1)[1]))
        fmt = "d" if kind in _INTEGRAL else ".17g"
        values = stats[columns].to_numpy()
        out[kind] = ["{" + ",".join(format(v, fmt) for v in row) + "}" for row in values]
    return out


def rows_to_estimation_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Inverse of :func:`estimation_stats_to_rows` (keeps ``partition_date`` if present)."""
    keys = [c for c in ("partition_date", *_KEYS) if c in rows.columns]
    parts = [rows[keys].reset_index(drop=True)]
    for kind in ESTIMATION_KINDS:
        matrix = np.array(rows[kind].tolist(), dtype=np.int64 if kind in _INTEGRAL else float)
        if len(rows):
            columns = [f"est_{kind}_{b}" for b in range(matrix.shape[1])]
            parts.append(pd.DataFrame(matrix, columns=columns))
    return pd.concat(parts, axis=1)


def estimation_stats_between(
    engine: Engine, model_name: str, start: date, end: date, *, model_version: str = ALL_VERSIONS
) -> pd.DataFrame:
    """The ``estimation_stats`` rows of one model version over ``start..end`` (inclusive),
    in day and key order."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.estimation_stats WHERE model_name = :model "
        "AND model_version = :version AND partition_date BETWEEN :start AND :end "
        "ORDER BY partition_date, cohort_attribute, cohort_value, decision",
        {"model": model_name, "version": model_version, "start": start, "end": end},
    )


def estimated_disparity_figures(
    engine: Engine, model_name: str, day: date, *, attribute: str, metric: str
) -> pd.DataFrame:
    """As ``storage.cohorts.fairness_figures``, from ``estimated_disparities``: every group
    of ``attribute`` (every attribute for ``*``) on ``day`` for ``metric``, with
    ``realised_value`` (the same gap on the labels so far)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, reference_value, value, lower, upper, sufficient, "
        "realised_value FROM monitoring.estimated_disparities WHERE model_name = :model "
        "AND partition_date = :day AND model_version = 'all' "
        "AND (cohort_attribute = :attribute OR :attribute = '*') AND metric = :metric "
        "ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day, "attribute": attribute, "metric": metric},
    )


def estimation_figures(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """The ``performance_estimates`` rows of (model, day)."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.performance_estimates WHERE model_name = :model "
        "AND partition_date = :day ORDER BY cohort_attribute, cohort_value, metric",
        {"model": model_name, "day": day},
    )
