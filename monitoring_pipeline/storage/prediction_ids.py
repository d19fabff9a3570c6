"""Questions about a model's stored prediction ids across days: ids written on more than
one day, and label ids that match no written prediction.

They are asked of the *other* days of the model, on a connection of their own, before the
day's write transaction opens (:func:`ids_stored_on_other_days`,
:func:`label_ids_unmatched_on_other_days`, :func:`table_label_ids_unmatched_on_other_days`);
the day's own rows are matched in memory as they are written
(:class:`~monitoring_pipeline.core.labels.CrossDayTally`). The write transaction thus never
reads another day's rows: a re-run locks its own day's partition until it commits
(:mod:`~monitoring_pipeline.storage.day_partitions`), and two re-runs of two days of one
model, each reading the other's day while holding its own, would deadlock. The key of
each day's partition (model_name, prediction_id, partition_date) (sql/035, sql/038)
answers them per id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pandas as pd
import sqlalchemy as sa

from monitoring_pipeline.core.validation import day_bounds
from monitoring_pipeline.storage.sources import text_array_literal

__all__ = [
    "ids_stored_on_other_days",
    "label_ids_unmatched_on_other_days",
    "table_label_ids_unmatched_on_other_days",
]

_STORED = sa.table(
    "labeled_prediction_rows",
    sa.column("model_name"),
    sa.column("prediction_id"),
    sa.column("partition_date"),
    schema="monitoring",
)


def _on_other_days(model_name: str, day: date, prediction_id) -> sa.Exists:
    """Whether ``prediction_id`` is stored for ``model_name`` on a day other than ``day``."""
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(_STORED)
        .where(
            _STORED.c.model_name == model_name,
            _STORED.c.prediction_id == prediction_id,
            _STORED.c.partition_date != day,
        )
    )


# Ids sent per statement: a day's ids from a file go in pieces, so the text of the array
# (~40 bytes an id) stays a few MB however large the day.
IDS_PER_STATEMENT = 200_000


def _id_lists(ids: pd.Series) -> Iterator[sa.Subquery]:
    """The distinct non-null texts of ``ids`` as one-column subqueries ``id`` of at most
    ``IDS_PER_STATEMENT`` each."""
    distinct = pd.Series(ids.dropna().unique(), dtype="string")
    for start in range(0, len(distinct), IDS_PER_STATEMENT):
        literal = text_array_literal(distinct.iloc[start : start + IDS_PER_STATEMENT])
        unnested = sa.func.unnest(sa.cast(sa.literal(literal, sa.Text), sa.ARRAY(sa.Text)))
        yield sa.select(unnested.table_valued("id").render_derived().c.id).subquery("ids")


def _stored_elsewhere(conn: sa.Connection, model_name: str, day: date, ids: pd.Series) -> pd.Series:
    """The distinct texts of ``ids`` stored for ``model_name`` on another day than ``day``."""
    found: list[str] = []
    for id_list in _id_lists(ids):
        query = sa.select(id_list.c.id).where(_on_other_days(model_name, day, id_list.c.id))
        found.extend(conn.execute(query).scalars())
    return pd.Series(found, dtype="string")


def ids_stored_on_other_days(
    conn: sa.Connection, model_name: str, day: date, day_ids: pd.Series | sa.Select
) -> pd.Series:
    """The distinct ids among ``day_ids`` (the day's ids as validation leaves them: a
    series, or a one-column query of a source table in this database) that are stored for
    ``model_name`` on another day than ``day``."""
    if isinstance(day_ids, pd.Series):
        return _stored_elsewhere(conn, model_name, day, day_ids)
    ids = day_ids.subquery("day_ids")
    id_column = next(iter(ids.c))
    query = sa.select(id_column).distinct().where(_on_other_days(model_name, day, id_column))
    return pd.Series(conn.execute(query).scalars().all(), dtype="string")


def label_ids_unmatched_on_other_days(
    conn: sa.Connection, model_name: str, day: date, label_ids: pd.Series
) -> pd.Series:
    """``label_ids`` (one per label row, cleaned, <NA> where missing) less those stored
    for ``model_name`` on another day than ``day``: the rows whose prediction could only be
    among the day's own."""
    elsewhere = _stored_elsewhere(conn, model_name, day, label_ids)
    label_ids = label_ids.astype("string")
    return label_ids[~label_ids.isin(elsewhere)].reset_index(drop=True)


def table_label_ids_unmatched_on_other_days(
    conn: sa.Connection,
    model_name: str,
    day: date,
    table: str,
    id_column: str,
    time_column: str,
    whitespace: str,
) -> pd.Series:
    """The ids (one per label row, <NA> where missing) of the label rows of ``table``
    (``schema.name``) whose ``time_column`` falls on ``day`` (UTC) and whose id is stored
    for ``model_name`` on no other day: :func:`label_ids_unmatched_on_other_days` asked
    where the rows are (only the few unmatched ids leave the server). An id is cleaned as
    validation cleans it (trimmed of ``whitespace``, empty as missing)."""
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
    query = (
        sa.select(label_id)
        .select_from(labels)
        .where(
            labels.c[time_column] >= start.to_pydatetime(),
            labels.c[time_column] < end.to_pydatetime(),
            ~_on_other_days(model_name, day, label_id),
        )
    )
    return pd.Series(conn.execute(query).scalars().all(), dtype="string")
