"""Reads of the published figures that asset metadata and asset checks show: the newest
day with sufficient evidence, a day's cohort metrics, disparities and cohort statistics
(model version ``all``), an SLO's evaluations over a window. Bound parameters only; no Dagster."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

EvidenceTable = Literal["cohort_metrics", "fairness_disparities"]

# A day has evidence when some group (not the whole population) was large enough to judge:
# the 'all' cohort alone is sufficient on days whose groups are all too small.
_NEWEST_SUFFICIENT_DAY = {
    "cohort_metrics": (
        "SELECT max(partition_date) FROM monitoring.cohort_metrics "
        "WHERE model_name = :model AND partition_date <= :day AND model_version = 'all' "
        "AND sufficient AND cohort_attribute <> 'all'"
    ),
    "fairness_disparities": (
        "SELECT max(partition_date) FROM monitoring.fairness_disparities "
        "WHERE model_name = :model AND partition_date <= :day AND model_version = 'all' "
        "AND sufficient"
    ),
}


def newest_sufficient_day(
    engine: Engine, table: EvidenceTable, model_name: str, day: date
) -> date | None:
    """The newest day up to ``day`` on which ``table`` has a sufficient group (model version
    ``all``), or None when no day has one."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(_NEWEST_SUFFICIENT_DAY[table]), {"model": model_name, "day": day}
        ).scalar()


def day_cohort_metrics(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """``cohort_metrics`` rows of one day over all model versions (version ``all``)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, metric, value, lower, upper, n, n_labelled, "
        "sufficient FROM monitoring.cohort_metrics WHERE model_name = :model "
        "AND partition_date = :day AND model_version = 'all'",
        {"model": model_name, "day": day},
    )


def day_disparities(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """``fairness_disparities`` rows of one day over all model versions (version ``all``)."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, reference_value, metric, value, lower, upper, "
        "sufficient, passes_four_fifths, p_value_adjusted FROM monitoring.fairness_disparities "
        "WHERE model_name = :model AND partition_date = :day AND model_version = 'all'",
        {"model": model_name, "day": day},
    )


def day_cohort_stats(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """``cohort_stats`` rows of one day over all model versions (version ``all``): the
    additive counts every interval of ``cohort_metrics`` and ``fairness_disparities``
    derives from."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.cohort_stats WHERE model_name = :model "
        "AND partition_date = :day AND model_version = 'all'",
        {"model": model_name, "day": day},
    )


def slo_evaluations_between(
    engine: Engine, model_name: str, start: date, end: date
) -> pd.DataFrame:
    """Every SLO evaluation of the model from ``start`` to ``end`` (inclusive), with the
    ``objective_value`` each day was judged against."""
    return read_frame(
        engine,
        "SELECT partition_date, slo_name, status, sli_subject, value, lower, upper, reason, "
        "bad_members, objective_value FROM monitoring.slo_evaluations WHERE model_name = :model "
        "AND partition_date BETWEEN :start AND :end ORDER BY partition_date",
        {"model": model_name, "start": start, "end": end},
    )
