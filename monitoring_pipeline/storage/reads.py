"""Read a written partition back in bounded chunks, streamed out of Postgres by COPY."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

CHUNK_ROWS = 250_000
# Bytes of CSV parsed at a time; chunks are assembled from such blocks.
COPY_BLOCK_BYTES = 8 << 20


def iter_copy_query(
    engine: Engine,
    query: sa.TextClause,
    params: Mapping[str, object],
    column_types: Mapping[str, pa.DataType],
    *,
    chunk_rows: int = CHUNK_ROWS,
    numeric_text: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """Stream ``query`` out of Postgres with ``COPY ... TO STDOUT`` and yield DataFrames of
    about ``chunk_rows`` rows, so a large result never sits in memory at once.

    COPY is several times faster than fetching rows through the driver. The server writes
    into a pipe from a background thread while Arrow parses what has arrived: the two
    processes work in parallel. ``column_types`` gives every selected column's Arrow type
    (nothing is inferred: a column that is null in the first block must not change type
    later). ``numeric_text`` columns, read as text, become float64 through
    :func:`numbers_from_text`. COPY writes NULL as an unquoted empty field and the empty
    string as a quoted one; both survive.
    """
    read_end, write_end = os.pipe()
    failure: list[BaseException] = []
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        compiled = query.bindparams(**params).compile(dialect=conn.dialect)
        sql = cursor.mogrify(str(compiled), compiled.params).decode()
        statement = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"

        def produce() -> None:
            sink = os.fdopen(write_end, "wb", buffering=1 << 20)
            try:
                cursor.copy_expert(statement, sink)
                sink.flush()
            except BaseException as exc:  # re-raised by the consumer
                failure.append(exc)
            finally:
                # OSError: the consumer stopped reading, nothing is left to deliver.
                with contextlib.suppress(OSError):
                    sink.close()

        producer = threading.Thread(target=produce, name="copy-out", daemon=True)
        producer.start()
        source = os.fdopen(read_end, "rb", buffering=1 << 20)
        finished = False
        try:
            yield from _chunks(source, column_types, chunk_rows, numeric_text)
            finished = True
        finally:
            source.close()  # a consumer that stops early breaks the pipe: the COPY ends
            producer.join()
            cursor.close()
            if not finished:
                conn.invalidate()  # never reuse a connection whose COPY was cut off
        if failure:
            raise failure[0]


def _chunks(
    source: io.BufferedReader,
    column_types: Mapping[str, pa.DataType],
    chunk_rows: int,
    numeric_text: Sequence[str],
) -> Iterator[pd.DataFrame]:
    if not source.peek(1):
        return  # the producer failed before the header, or the query has no columns
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(block_size=COPY_BLOCK_BYTES),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict(column_types),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t", "true"],
                false_values=["f", "false"],
            ),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return
        raise
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= chunk_rows:
            yield _frame(pa.Table.from_batches(pending), numeric_text)
            pending, rows = [], 0
    if rows:
        yield _frame(pa.Table.from_batches(pending), numeric_text)


def _frame(table: pa.Table, numeric_text: Sequence[str]) -> pd.DataFrame:
    for name in numeric_text:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, numbers_from_text(table.column(index)))
    return table.to_pandas()


# A number's text: what :func:`numbers_from_text` accepts (after trimming blanks).
_NUMBER = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"


def numbers_from_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text to float64: numbers (surrounding blanks allowed) parse, anything else (a
    stray string in a numeric feature) is null: it counts as missing, never fails a read."""
    trimmed = pc.utf8_trim_whitespace(column)
    is_number = pc.match_substring_regex(trimmed, _NUMBER)
    return pc.cast(pc.if_else(is_number, trimmed, pa.scalar(None, pa.string())), pa.float64())


def iter_labeled_predictions(
    engine: Engine,
    model_name: str,
    day: date,
    *,
    cohort_attributes: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The day's rows with ``model_version, score, decision, label`` (label float, NaN
    while unlabelled) and one text column per cohort attribute, ``chunk_rows`` at a time."""
    columns = ["model_version", "score", "decision", "label"]
    types: dict[str, pa.DataType] = {
        "model_version": pa.string(),
        "score": pa.float64(),
        "decision": pa.int64(),
        "label": pa.float64(),
    }
    params: dict[str, object] = {"model": model_name, "day": day}
    _select_json_values(engine, columns, params, types, (), (), cohort_attributes)
    query = sa.text(
        f"SELECT {', '.join(columns)} FROM monitoring.labeled_predictions "
        "WHERE model_name = :model AND partition_date = :day"
    )
    yield from iter_copy_query(engine, query, params, types, chunk_rows=chunk_rows)


def iter_feature_values(
    engine: Engine,
    model_name: str,
    day: date,
    *,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    cohort_attributes: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The day's ``score``, one float column per numeric feature (missing or non-numeric
    values null), one text column per categorical feature and one per cohort attribute,
    ``chunk_rows`` rows at a time, so a large day never sits in memory.

    Feature and cohort names must be distinct and must not be ``score``.
    """
    yield from iter_window_feature_values(
        engine,
        model_name,
        (day, day),
        numeric_features=numeric_features,
        categorical_features=categorical_features,
        cohort_attributes=cohort_attributes,
        chunk_rows=chunk_rows,
    )


def iter_window_feature_values(
    engine: Engine,
    model_name: str,
    window: tuple[date, date],
    *,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str] = (),
    cohort_attributes: Sequence[str] = (),
    sample_every: int = 1,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Like :func:`iter_feature_values` over the days ``window`` (inclusive). With
    ``sample_every`` k > 1, only the rows whose prediction-id hash is divisible by k: a
    deterministic ~1/k sample (the same rows on every read of unchanged partitions)."""
    names = [*numeric_features, *categorical_features, *cohort_attributes]
    if len(set(names)) != len(names) or "score" in names:
        raise ValueError(f"feature and cohort names must be distinct and not 'score': {names}")
    columns = ["score"]
    types: dict[str, pa.DataType] = {"score": pa.float64()}
    params: dict[str, object] = {"model": model_name, "first": window[0], "last": window[1]}
    _select_json_values(
        engine, columns, params, types, numeric_features, categorical_features, cohort_attributes
    )
    sample = ""
    if sample_every > 1:
        sample = " AND (hashtext(prediction_id) & 2147483647) % :every = 0"
        params["every"] = sample_every
    query = sa.text(
        f"SELECT {', '.join(columns)} FROM monitoring.labeled_predictions "
        f"WHERE model_name = :model AND partition_date BETWEEN :first AND :last{sample}"
    )
    yield from iter_copy_query(
        engine, query, params, types, chunk_rows=chunk_rows, numeric_text=numeric_features
    )


def _select_json_values(
    engine: Engine,
    columns: list[str],
    params: dict[str, object],
    types: dict[str, pa.DataType],
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    cohort_attributes: Sequence[str],
) -> None:
    """Add one selected column per feature and cohort attribute (with its bound name and
    Arrow type). Values leave the database as their JSON text, which is cheap; numbers
    are parsed by Arrow (``numeric_text``)."""
    quote = _quoter(engine)
    for kind, source, names in (
        ("feature", "features", [*numeric_features, *categorical_features]),
        ("cohort", "cohorts", cohort_attributes),
    ):
        for i, name in enumerate(names):
            columns.append(f"{source} ->> :{kind}_{i} AS {quote(name)}")
            params[f"{kind}_{i}"] = name
            types[name] = pa.string()


def _quoter(engine: Engine):
    return engine.dialect.identifier_preparer.quote


def copy_query_to_frame(
    conn: sa.Connection, query: sa.Select | sa.TextClause, text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Run ``query`` through ``COPY (...) TO STDOUT`` and parse the CSV with Arrow.

    Several times faster than fetching rows one by one. Bound parameters are inlined with
    psycopg2's own quoting (``mogrify``). ``text_columns`` stay strings whatever they look
    like (an id "0042" or a cohort value "1" must not become a number). COPY writes NULL as
    an unquoted empty field and the empty string as a quoted one; both survive.
    """
    compiled = query.compile(dialect=conn.dialect)
    cursor = conn.connection.driver_connection.cursor()
    try:
        sql = cursor.mogrify(str(compiled), compiled.params).decode()
        buffer = io.BytesIO()
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    finally:
        cursor.close()
    header, _, body = buffer.getvalue().partition(b"\n")
    if not body.strip():
        names = next(csv.reader([header.decode()])) if header.strip() else []
        return pd.DataFrame(columns=names)
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in text_columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t", "true"],
            false_values=["f", "false"],
        ),
    )
    return table.to_pandas()


def read_labelled_rows(
    engine: Engine,
    model_name: str,
    start: date,
    end: date,
    *,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    cohort_attributes: Sequence[str],
) -> pd.DataFrame:
    """Labelled rows of ``start..end`` in one frame (for training a model):
    ``partition_date, model_version, score, label``, one float column per numeric feature
    (missing or non-numeric values null), one text column per categorical feature and per
    cohort attribute."""
    names = [*numeric_features, *categorical_features, *cohort_attributes]
    reserved = {"partition_date", "model_version", "score", "label"}
    if len(set(names)) != len(names) or reserved & set(names):
        raise ValueError(f"feature and cohort names must be distinct and not {sorted(reserved)}")
    columns = ["partition_date", "model_version", "score", "label"]
    types: dict[str, pa.DataType] = {
        "partition_date": pa.date32(),
        "model_version": pa.string(),
        "score": pa.float64(),
        "label": pa.int64(),
    }
    params: dict[str, object] = {"model": model_name, "first": start, "last": end}
    _select_json_values(
        engine, columns, params, types, numeric_features, categorical_features, cohort_attributes
    )
    query = sa.text(
        f"SELECT {', '.join(columns)} FROM monitoring.labeled_predictions "
        "WHERE model_name = :model AND partition_date BETWEEN :first AND :last "
        "AND label IS NOT NULL ORDER BY partition_date, prediction_id"
    )
    chunks = list(iter_copy_query(engine, query, params, types, numeric_text=numeric_features))
    if not chunks:
        return pd.DataFrame(columns=list(types))
    return pd.concat(chunks, ignore_index=True)
