"""Reads of the pipeline-health tables (``sql/009``): ``health_checks``, and which days of
each published table were written (the presence the health checks judge). Bound
parameters only."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = ["PresenceTable", "check_episode", "check_finding", "written_days"]

PresenceTable = Literal["ingestion_stats", "label_status", "drift", "error_budgets"]
_PRESENCE_TABLES: frozenset[str] = frozenset(PresenceTable.__args__)


def written_days(
    engine: Engine, table: PresenceTable, model_name: str, first: date, last: date
) -> frozenset[date]:
    """Days from ``first`` to ``last`` with at least one row of the model in ``table``."""
    if table not in _PRESENCE_TABLES:  # the name is spliced into the query: constants only
        raise ValueError(f"not a table whose days are checked: {table!r}")
    frame = read_frame(
        engine,
        f"SELECT partition_date FROM monitoring.{table} "
        "WHERE model_name = :model AND partition_date BETWEEN :first AND :last "
        "GROUP BY partition_date",
        {"model": model_name, "first": first, "last": last},
    )
    return frozenset(frame.partition_date)


def check_finding(engine: Engine, model_name: str, check_name: str, day: date) -> pd.DataFrame:
    """The ``health_checks`` row of one check on ``day`` (``status, severity, observed,
    threshold, message, details, produced_at``), empty when the check did not run."""
    return read_frame(
        engine,
        "SELECT status, severity, observed, threshold, message, details, produced_at "
        "FROM monitoring.health_checks "
        "WHERE model_name = :model AND check_name = :check AND partition_date = :day",
        {"model": model_name, "check": check_name, "day": day},
    )


def check_episode(
    engine: Engine, model_name: str, check_name: str, first: date, last: date
) -> pd.DataFrame:
    """``partition_date, status, observed, message`` of one check from ``first`` to
    ``last``, in date order."""
    return read_frame(
        engine,
        "SELECT partition_date, status, observed, message FROM monitoring.health_checks "
        "WHERE model_name = :model AND check_name = :check "
        "AND partition_date BETWEEN :first AND :last ORDER BY partition_date",
        {"model": model_name, "check": check_name, "first": first, "last": last},
    )
