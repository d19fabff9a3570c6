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


def test_csv_ids_keep_their_leading_zeros_and_match_their_labels(engine, tmp_path):
    from datetime import UTC, date, datetime

    import yaml

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.demo.generator import generate_traffic
    from monitoring_pipeline.demo.publish import demo_config
    from monitoring_pipeline.storage import streaming

    day = date(2026, 10, 1)
    traffic = generate_traffic(
        "job_screening", day, day, now=datetime(2026, 10, 20, tzinfo=UTC), daily_volume=40
    )
    predictions = traffic.predictions[traffic.predictions.scored_at.dt.date == day].copy()
    # Ids a number parser would merge: "00007" -> 7, and "01" / "001" -> 1.
    text_ids = [f"{i:05d}" for i in range(len(predictions) - 2)] + ["01", "001"]
    renamed = dict(zip(predictions.prediction_id, text_ids, strict=True))
    predictions["prediction_id"] = text_ids
    labels = traffic.labels[traffic.labels.prediction_id.isin(renamed)].copy()
    labels["prediction_id"] = labels.prediction_id.map(renamed)
    folder = tmp_path / "data" / "job_screening"
    for kind, frame in (("predictions", predictions), ("labels", labels)):
        (folder / kind).mkdir(parents=True)
        frame.to_csv(folder / kind / f"{day}.csv", index=False)
    raw = demo_config(day, tmp_path / "data")
    for kind in ("predictions", "labels"):
        raw["models"]["job_screening"][kind]["path"] = str(folder / kind / "{date}.csv")
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    model = load_config(tmp_path / "models.yaml").models["job_screening"]

    opened = streaming.open_prediction_day(engine, model, day, chunk_rows=1000)
    read_ids = pd.concat([chunk.mapped["prediction_id"] for chunk in opened.chunks()])
    found = streaming.open_day_labels(engine, model, day, opened.scan).for_ids(
        read_ids.astype("string")
    )

    assert sorted(read_ids.astype(str)) == sorted(text_ids)
    assert opened.scan.duplicated_id_rows == 0  # "01" and "001" are two ids
    assert len(labels) > 0
    assert sorted(found["prediction_id"].astype(str)) == sorted(labels.prediction_id)
