"""Reads of ``complaint_metrics`` and of a complaints table joined to the written predictions."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = ["complaint_counts_used", "complaint_figures", "complaint_pairs_in_table"]


def complaint_figures(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """``cohort_attribute, cohort_value, value, lower, upper, n_labelled, sufficient`` of
    every cohort's complaint rate on ``day`` (``n_labelled`` is the predictions), shaped like
    ``storage.cohorts.cohort_metric_figures`` so one ranking serves both."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, value, lower, upper, n AS n_labelled, sufficient "
        "FROM monitoring.complaint_metrics WHERE model_name = :model AND partition_date = :day "
        "AND model_version = 'all' AND metric = 'complaint_rate' "
        "ORDER BY cohort_attribute, cohort_value",
        {"model": model_name, "day": day},
    )


def complaint_counts_used(engine: Engine, model_name: str, since: date) -> pd.DataFrame:
    """Per day since ``since`` with complaint rates: ``partition_date, complaints`` (the
    predictions complained about, cohort all) and ``window_complete`` as last counted."""
    return read_frame(
        engine,
        "SELECT partition_date, complaints, window_complete FROM monitoring.complaint_metrics "
        "WHERE model_name = :model AND partition_date >= :since AND model_version = 'all' "
        "AND cohort_attribute = 'all' AND metric = 'complaint_rate'",
        {"model": model_name, "since": since},
    )


def complaint_pairs_in_table(
    engine: Engine,
    model_name: str,
    since: date,
    *,
    complaint_table: str,
    prediction_id_column: str,
    complained_at_column: str,
) -> pd.DataFrame:
    """``partition_date, prediction_id, complained_at``: every row of the complaints table
    ``complaint_table`` (``schema.table``) about a prediction written since ``since``."""
    schema, table = complaint_table.split(".")
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        query = (
            "SELECT lp.partition_date, lp.prediction_id, "
            f"c.{quote(complained_at_column)} AS complained_at "
            f"FROM monitoring.labeled_prediction_rows AS lp JOIN {quote(schema)}.{quote(table)} AS c "
            f"ON c.{quote(prediction_id_column)}::text = lp.prediction_id "
            "WHERE lp.model_name = :model AND lp.partition_date >= :since"
        )
        return pd.read_sql_query(sa.text(query), conn, params={"model": model_name, "since": since})
