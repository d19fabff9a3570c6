"""Reads of the cohort tables (``sql/004``): ``cohort_stats``, ``cohort_metrics`` and
``fairness_disparities``. Bound parameters only; column names come from the package's
own constants, never from input."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = [
    "INGESTED_COHORT_STATS_TABLE",
    "INGESTED_ESTIMATION_STATS_TABLE",
    "cohort_change_figures",
    "cohort_metric_figures",
    "day_cohort_stats",
    "fairness_figures",
    "ingested_day_statistics",
    "version_cohort_counts",
    "version_comparison_rows",
    "version_shares",
    "version_cohort_counts_between",
    "version_first_days",
]


def day_cohort_stats(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """Every ``cohort_stats`` row of (model, day), all columns."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.cohort_stats WHERE model_name = :model AND partition_date = :day",
        {"model": model_name, "day": day},
    )


# cohort_stats and estimation_stats of a day as labeled_predictions counted them (sql/036).
INGESTED_COHORT_STATS_TABLE = "ingested_cohort_stats"
INGESTED_ESTIMATION_STATS_TABLE = "ingested_estimation_stats"


def ingested_day_statistics(
    engine: Engine, model_name: str, day: date, spec_checksum: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's ``ingested_cohort_stats`` and ``ingested_estimation_stats`` rows counted
    by ``spec_checksum`` (the columns of ``cohort_stats`` and ``estimation_stats``); empty
    frames when the day was counted by another one, or not at all."""
    params = {"model": model_name, "day": day, "checksum": spec_checksum}
    where = "WHERE model_name = :model AND partition_date = :day AND spec_checksum = :checksum"
    return (
        read_frame(
            engine, f"SELECT * FROM monitoring.{INGESTED_COHORT_STATS_TABLE} {where}", params
        ),
        read_frame(
            engine, f"SELECT * FROM monitoring.{INGESTED_ESTIMATION_STATS_TABLE} {where}", params
        ),
    )


def _columns(counts: Sequence[str]) -> None:
    for name in counts:
        if not name.isidentifier():  # spliced into the query: plain column names only
            raise ValueError(f"not a cohort_stats column: {name!r}")


def version_cohort_counts(
    engine: Engine, model_name: str, day: date, counts: Sequence[str]
) -> pd.DataFrame:
    """``model_version, cohort_attribute, cohort_value`` and the ``counts`` columns of each
    version (not ``all``) on ``day``."""
    _columns(counts)
    return read_frame(
        engine,
        f"SELECT model_version, cohort_attribute, cohort_value, {', '.join(counts)} "
        "FROM monitoring.cohort_stats WHERE model_name = :model AND partition_date = :day "
        "AND model_version <> 'all'",
        {"model": model_name, "day": day},
    )


def version_cohort_counts_between(
    engine: Engine, model_name: str, start: date, end: date, counts: Sequence[str]
) -> pd.DataFrame:
    """As :func:`version_cohort_counts`, the ``counts`` summed over ``start`` to ``end``."""
    _columns(counts)
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in counts)
    return read_frame(
        engine,
        f"SELECT model_version, cohort_attribute, cohort_value, {sums} FROM monitoring.cohort_stats "
        "WHERE model_name = :model AND partition_date BETWEEN :start AND :end "
        "AND model_version <> 'all' GROUP BY 1, 2, 3",
        {"model": model_name, "start": start, "end": end},
    )


def version_first_days(
    engine: Engine, model_name: str, up_to: date | None = None
) -> dict[str, date]:
    """The first day each model version (not ``all``) served predictions, up to ``up_to``
    (every stored day when None)."""
    frame = read_frame(
        engine,
        "SELECT model_version, min(partition_date) AS first_day FROM monitoring.cohort_stats "
        "WHERE model_name = :model AND model_version <> 'all' AND n > 0 "
        "AND (CAST(:day AS date) IS NULL OR partition_date <= :day) GROUP BY model_version",
        {"model": model_name, "day": up_to},
    )
    return dict(zip(frame.model_version, frame.first_day, strict=True))


def version_comparison_rows(
    engine: Engine, model_name: str, day: date, *, metric: str | None = None
) -> pd.DataFrame:
    """Every ``version_comparison`` row of (model, day), of one ``metric`` if given."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.version_comparison WHERE model_name = :model "
        "AND partition_date = :day AND (metric = :metric OR CAST(:metric AS text) IS NULL) "
        "ORDER BY cohort_attribute, cohort_value, metric, incumbent_version",
        {"model": model_name, "day": day, "metric": metric},
    )


def version_shares(engine: Engine, model_name: str, day: date) -> pd.Series:
    """Each model version's share of the day's predictions (cohort ``all``)."""
    rows = read_frame(
        engine,
        "SELECT model_version, n FROM monitoring.cohort_stats WHERE model_name = :model "
        "AND partition_date = :day AND cohort_attribute = 'all' AND model_version <> 'all'",
        {"model": model_name, "day": day},
    )
    total = rows.n.sum()
    return (rows.set_index("model_version").n / total) if total else pd.Series(dtype=float)


def fairness_figures(
    engine: Engine, model_name: str, day: date, *, attribute: str, metric: str
) -> pd.DataFrame:
    """``cohort_attribute, cohort_value, reference_value, value, lower, upper, sufficient``
    of every group of ``attribute`` (every attribute when it is ``*``) on ``day`` for
    disparity ``metric`` (model version ``all``)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, reference_value, value, lower, upper, sufficient "
        "FROM monitoring.fairness_disparities WHERE model_name = :model AND partition_date = :day "
        "AND model_version = 'all' AND (cohort_attribute = :attribute OR :attribute = '*') "
        "AND metric = :metric ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day, "attribute": attribute, "metric": metric},
    )


def cohort_change_figures(
    engine: Engine, model_name: str, day: date, *, metric: str
) -> pd.DataFrame:
    """``cohort_attribute, cohort_value, value, lower, upper, sufficient, baseline_value,
    denominator`` of every cohort's change from baseline of ``metric`` on ``day`` (model
    version ``all``; ``value`` is the stored ``difference``, day minus baseline)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, difference AS value, lower, upper, sufficient, "
        "baseline_value, denominator FROM monitoring.cohort_changes WHERE model_name = :model "
        "AND partition_date = :day AND model_version = 'all' AND metric = :metric "
        "ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day, "metric": metric},
    )


def cohort_metric_figures(
    engine: Engine, model_name: str, day: date, *, metric: str
) -> pd.DataFrame:
    """``cohort_attribute, cohort_value, value, lower, upper, n_labelled, sufficient`` of
    every cohort on ``day`` for ``metric`` (model version ``all``)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, value, lower, upper, n_labelled, sufficient "
        "FROM monitoring.cohort_metrics WHERE model_name = :model AND partition_date = :day "
        "AND model_version = 'all' AND metric = :metric ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day, "metric": metric},
    )
