"""Label rows of a chunk's ids from a Postgres table source: exact text matching, one
indexed query per chunk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
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


def test_validation_strips_exactly_the_characters_ids_are_trimmed_of_in_sql():
    # Labels of a table day are joined in SQL to btrim(id, WHITESPACE): that is the id
    # validation keeps only if its stripping is exactly this set, for every character.
    from monitoring_pipeline.core.validation import clean_text
    from monitoring_pipeline.storage.streaming import WHITESPACE

    characters = [chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000]
    padded = pd.Series([f"{c}a{c}" for c in characters])
    stripped = (clean_text(padded) == "a").to_numpy()
    assert {c for c, s in zip(characters, stripped, strict=True) if s} == set(WHITESPACE)


@pytest.mark.parametrize("id_type", ["text", "bigint"])
@pytest.mark.parametrize("batches", ["one batch", "batches of 2 rows, text past its limit"])
def test_a_table_days_labels_read_once_are_the_rows_each_chunk_would_look_up(
    engine, id_type, batches, monkeypatch
):
    from datetime import date

    from monitoring_pipeline.config.models import ModelConfig
    from monitoring_pipeline.demo.publish import demo_config
    from monitoring_pipeline.storage import streaming

    day = date(2026, 10, 1)
    if id_type == "text":
        day_ids = [*TRICKY[:-1], "\u00a0nbsp", "x"]  # each once as validation keeps it
        label_ids = [*TRICKY, "a", "a", "padded", "nbsp", " nbsp", "x", "other day"]
    else:
        day_ids = ["42", " 7", "1000000000001"]
        label_ids = ["42", "7", "7", "420", "1000000000001"]
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA src"))
        conn.execute(sa.text("CREATE TABLE src.p (id text, t timestamptz)"))
        conn.execute(
            sa.text("INSERT INTO src.p VALUES (:id, :t)"),
            [{"id": i, "t": f"{day}T{n % 24:02d}:00:00Z"} for n, i in enumerate(day_ids)]
            + [{"id": "other day", "t": "2026-10-02T01:00:00Z"}],
        )
        conn.execute(sa.text(f"CREATE TABLE src.l (id {id_type}, label int, at timestamptz)"))
        conn.execute(sa.text("CREATE INDEX ON src.l (id)"))
        conn.execute(
            sa.text("INSERT INTO src.l VALUES (CAST(:id AS " + id_type + "), :label, :at)"),
            [
                {"id": i, "label": n % 2, "at": f"2026-10-{2 + n % 5:02d}T00:00:00Z"}
                for n, i in enumerate(label_ids)
                if id_type == "text" or i.strip().isdigit()
            ],
        )
    raw = demo_config(day, Path("/nonexistent"))["models"]["loan_approval"]
    raw = raw | {
        "predictions": {"kind": "postgres_table", "table": "src.p"},
        "labels": {"kind": "postgres_table", "table": "src.l"},
        "columns": raw.get("columns", {}) | {
            "prediction_id": "id", "scored_at": "t", "label_prediction_id": "id",
            "label": "label", "labelled_at": "at",
        },
    }  # fmt: skip
    model = ModelConfig.model_validate(raw)
    if batches != "one batch":  # joined into one chunk, the ids as large_string
        monkeypatch.setattr(streaming, "HELD_BATCH_ROWS", 2)
        monkeypatch.setattr(streaming, "STRING_BYTES_LIMIT", 16)
    scan = streaming._scan_table_ids(
        engine, model.predictions, "id", (sa.column("t") >= f"{day}", sa.column("t") < "2026-10-02")
    )
    labels = streaming.open_day_labels(engine, model, day, scan)
    assert labels._held is not None  # read once
    # The ids as validation leaves them, and one no label has.
    asked = pd.Series(list(dict.fromkeys([i.strip() for i in day_ids] + ["never"])), dtype="string")

    held = labels.for_ids(asked)
    each = labels._table_rows(labels._table, asked)  # one indexed query, as per chunk

    def rows(frame):
        return sorted(
            zip(frame["prediction_id"].astype(str), frame["label"].astype(int),
                pd.to_datetime(frame["labelled_at"], utc=True), strict=True)
        )  # fmt: skip

    assert len(held) > len(day_ids) and rows(held) == rows(each)
    assert held.columns.tolist() == ["prediction_id", "label", "labelled_at"]
    held_table = labels._held._table
    assert {held_table.column(name).num_chunks for name in held_table.column_names} == {1}
    text_type = pa.large_string() if batches != "one batch" else pa.string()
    assert held_table.column("prediction_id" if id_type == "text" else "__id_text").type == (
        text_type
    )
    # Only the day's ids were read: a label of another day's prediction is not held.
    assert "other day" not in set(labels._held._table.column("prediction_id").to_pylist())
    # Once the day's last chunk is joined, the held labels go; asking again is a bug.
    labels.release()
    assert labels._held is None
    with pytest.raises(RuntimeError, match="released"):
        labels.for_ids(asked)


def test_memory_freed_in_pieces_is_handed_back_to_the_system():
    # In a fresh interpreter: ~300 MiB allocated in 4 KiB pieces (below glibc's mmap
    # threshold, so on its heap), all freed but the last (which pins the heap's top, as a
    # day's held labels do): free() alone keeps the pages, return_freed_memory hands them back.
    script = """
import psutil
from monitoring_pipeline.storage.streaming import return_freed_memory
rss = lambda: psutil.Process().memory_info().rss / 2**20
pieces = [bytearray(4096) for _ in range(75_000)]
last = pieces[-1]
del pieces
freed = rss()
return_freed_memory()
print(freed, rss())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    freed, trimmed = map(float, done.stdout.split())
    assert freed - trimmed > 200, (freed, trimmed)
