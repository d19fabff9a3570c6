"""Questions about a model's stored prediction ids across days: ids written on more than
one day, and label ids that match no written prediction.

Both run inside a day's write transaction (after its rows are COPYed), so the day's own
rows count as stored; the table's key ``labeled_prediction_rows_key``, ordered
(model_name, prediction_id, partition_date) (sql/035), answers them per id, whatever the
number of days stored.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from monitoring_pipeline.core.validation import day_bounds
from monitoring_pipeline.storage.sources import text_array_literal

__all__ = [
    "count_ids_on_other_days",
    "count_labels_without_prediction",
    "count_table_labels_without_prediction",
]

_IDS_ON_OTHER_DAYS = sa.text(
    """
    SELECT count(*)
    FROM monitoring.labeled_prediction_rows AS day_row
    WHERE day_row.model_name = :model_name
      AND day_row.partition_date = :partition_date
      AND EXISTS (
          SELECT 1
          FROM monitoring.labeled_prediction_rows AS other
          WHERE other.model_name = :model_name
            AND other.prediction_id = day_row.prediction_id
            AND other.partition_date <> :partition_date
      )
    """
)

_LABELS_WITHOUT_PREDICTION = sa.text(
    """
    SELECT count(*)
    FROM unnest(CAST(:ids AS text[])) AS label(prediction_id)
    WHERE NOT EXISTS (
        SELECT 1
        FROM monitoring.labeled_prediction_rows AS stored
        WHERE stored.model_name = :model_name
          AND stored.prediction_id = label.prediction_id
    )
    """
)


def count_ids_on_other_days(conn: sa.Connection, model_name: str, partition_date: date) -> int:
    """Prediction ids stored for ``partition_date`` that are also stored on another day
    (each id once: the day holds at most one row per id)."""
    params = {"model_name": model_name, "partition_date": partition_date}
    return int(conn.execute(_IDS_ON_OTHER_DAYS, params).scalar_one())


def count_labels_without_prediction(
    conn: sa.Connection, model_name: str, label_ids: pd.Series
) -> int:
    """Label rows (one per element of ``label_ids``, cleaned ids) whose id matches no
    stored prediction of the model on any day; a missing id counts as matching none."""
    missing = int(label_ids.isna().sum())
    ids = label_ids.dropna()
    if ids.empty:
        return missing
    params = {"model_name": model_name, "ids": text_array_literal(ids)}
    return missing + int(conn.execute(_LABELS_WITHOUT_PREDICTION, params).scalar_one())


_STORED = sa.table(
    "labeled_prediction_rows",
    sa.column("model_name"),
    sa.column("prediction_id"),
    schema="monitoring",
)


def count_table_labels_without_prediction(
    conn: sa.Connection,
    model_name: str,
    table: str,
    id_column: str,
    time_column: str,
    day: date,
    whitespace: str,
) -> int:
    """:func:`count_labels_without_prediction` of the label rows of ``table``
    (``schema.name``) whose ``time_column`` falls on ``day`` (UTC), in one statement: the
    ids never leave the server (fetching a 10M-row day's ids and sending them back cost
    seconds). An id is cleaned as validation cleans it (trimmed of ``whitespace``, empty
    as missing); a missing one matches no prediction."""
    schema, name = table.split(".")
    labels = sa.table(name, sa.column(id_column), sa.column(time_column), schema=schema)
    start, end = day_bounds(day)
    label_id = sa.func.nullif(
        sa.func.btrim(
            sa.cast(labels.c[id_column], sa.Text),
            sa.bindparam("whitespace", whitespace, type_=sa.Text),
        ),
        "",
    )
    stored = (
        sa.select(sa.literal(1))
        .select_from(_STORED)
        .where(_STORED.c.model_name == model_name, _STORED.c.prediction_id == label_id)
    )
    query = (
        sa.select(sa.func.count())
        .select_from(labels)
        .where(
            labels.c[time_column] >= start.to_pydatetime(),
            labels.c[time_column] < end.to_pydatetime(),
            ~sa.exists(stored),
        )
    )
    return int(conn.execute(query).scalar_one())
