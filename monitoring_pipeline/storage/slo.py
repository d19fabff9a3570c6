"""Reads of the SLO tables (``sql/006``): ``slo_evaluations`` and ``error_budgets``, and
of the published rows an SLI is read from. Bound parameters only."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = [
    "budget_row",
    "day_rows",
    "paging_retrain_slos",
    "slo_evaluations",
    "slo_statuses_after",
]


def budget_row(engine: Engine, model_name: str, slo_name: str, day: date) -> pd.DataFrame:
    """The SLO's ``error_budgets`` row as of ``day`` (every column), empty when none."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.error_budgets "
        "WHERE model_name = :model AND slo_name = :slo AND partition_date = :day",
        {"model": model_name, "slo": slo_name, "day": day},
    )


def slo_evaluations(
    engine: Engine, model_name: str, slo_name: str, start: date, end: date
) -> pd.DataFrame:
    """``partition_date, status, sli_subject, value, lower, upper, reason, bad_members,
    members, objective_value`` (the objective the day was judged against) of one SLO's
    evaluations from ``start`` to ``end`` (inclusive), in date order."""
    return read_frame(
        engine,
        "SELECT partition_date, status, sli_subject, value, lower, upper, reason, bad_members, "
        "members, objective_value "
        "FROM monitoring.slo_evaluations WHERE model_name = :model AND slo_name = :slo "
        "AND partition_date BETWEEN :start AND :end ORDER BY partition_date",
        {"model": model_name, "slo": slo_name, "start": start, "end": end},
    )


def slo_statuses_after(engine: Engine, model_name: str, start: date, day: date) -> pd.DataFrame:
    """``partition_date, slo_name, status`` of every SLO of the model after ``start`` up to
    ``day`` (inclusive)."""
    return read_frame(
        engine,
        "SELECT partition_date, slo_name, status FROM monitoring.slo_evaluations "
        "WHERE model_name = :model AND partition_date > :start AND partition_date <= :day",
        {"model": model_name, "start": start, "day": day},
    )


def day_rows(engine: Engine, table: str, model_name: str, day: date) -> pd.DataFrame:
    """Every row of published table ``monitoring.<table>`` for (model, day), the table an
    SLI reads; an empty frame when the table does not exist (yet)."""
    if not sa.inspect(engine).has_table(table, schema="monitoring"):
        return pd.DataFrame()
    with engine.connect() as conn:
        quoted = conn.dialect.identifier_preparer.quote(table)
        return pd.read_sql_query(
            sa.text(
                f"SELECT * FROM monitoring.{quoted} "
                "WHERE model_name = :model AND partition_date = :day"
            ),
            conn,
            params={"model": model_name, "day": day},
        )


def paging_retrain_slos(engine: Engine, day: date) -> list[tuple[str, str]]:
    """(model, SLO) pairs whose error budget pages on ``day`` and asks for retraining."""
    frame = read_frame(
        engine,
        "SELECT model_name, slo_name FROM monitoring.error_budgets WHERE partition_date = :day "
        "AND status = 'page' AND retrain_on_page ORDER BY model_name, slo_name",
        {"day": day},
    )
    return list(zip(frame.model_name, frame.slo_name, strict=True))
