"""Label rows of a chunk's ids from a Postgres table source: exact text matching, one
indexed query per chunk."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from monitoring_pipeline.config.models import PostgresTableSource
from monitoring_pipeline.storage.sources import TableIdReader, text_array_literal

COLUMNS = ["prediction_id", "label", "labelled_at"]
# Ids that an array literal or a careless comparison would get wrong.
TRICKY = ["a", "b,c", 'quote"d', "back\\slash", " padded ", "NULL", "{brace}", "ünï", ""]


def label_table(engine, id_type: str, ids: list) -> PostgresTableSource:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE public.labels_src (prediction_id {id_type}, label int, "
                "labelled_at timestamptz, CHECK (label IN (0, 1)))"
            )
        )
        conn.execute(sa.text("CREATE INDEX ON public.labels_src (prediction_id)"))
        conn.execute(
            sa.text("INSERT INTO public.labels_src VALUES (:id, :label, '2026-11-02T00:00:00Z')"),
            [{"id": value, "label": i % 2} for i, value in enumerate(ids)],
        )
    return PostgresTableSource(kind="postgres_table", table="public.labels_src")


def test_ids_are_matched_on_their_exact_text(engine):
    # Revisions of "a", a trimmed twin of " padded ", a row without id, ids not asked for.
    source = label_table(engine, "text", [*TRICKY, "a", "padded", None, "x", "b"])
    reader = TableIdReader(engine, source, COLUMNS, "prediction_id")
    asked = pd.Series([*TRICKY, "never labelled", None], dtype="string")

    rows = reader.read(asked)

    assert sorted(rows["prediction_id"]) == sorted([*TRICKY, "a"])
    assert rows.columns.tolist() == COLUMNS
    assert reader.read(pd.Series([], dtype="string")).columns.tolist() == COLUMNS


def test_non_text_ids_are_compared_as_their_text(engine):
    source = label_table(engine, "bigint", [42, 7, 420])
    reader = TableIdReader(engine, source, COLUMNS, "prediction_id")

    rows = reader.read(pd.Series(["42", "0042", "7 "], dtype="string"))

    assert rows["prediction_id"].tolist() == [42]


def test_the_lookup_uses_the_id_index(engine):
    source = label_table(engine, "varchar(40)", [f"p{i}" for i in range(2000)])
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE public.labels_src"))
    reader = TableIdReader(engine, source, COLUMNS, "prediction_id")
    query = reader._query.params(ids=text_array_literal(pd.Series(["p1", "p7"])))
    compiled = query.compile(dialect=engine.dialect)
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("EXPLAIN " + cursor.mogrify(str(compiled), compiled.params).decode())
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "labels_src_prediction_id_idx" in plan, plan
