"""Read a written partition back in bounded chunks (server-side cursor)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

CHUNK_ROWS = 250_000


def iter_labeled_predictions(
    engine: Engine,
    model_name: str,
    day: date,
    *,
    cohort_attributes: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The day's rows with ``model_version, score, decision, label`` and one column per
    cohort attribute, ``chunk_rows`` at a time, so a large day never sits in memory."""
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        cohorts = "".join(
            f", cohorts ->> :cohort_{i} AS {quote(name)}"
            for i, name in enumerate(cohort_attributes)
        )
        query = sa.text(
            "SELECT model_version, score, decision, label"
            f"{cohorts} FROM monitoring.labeled_predictions "
            "WHERE model_name = :model AND partition_date = :day"
        )
        params = {"model": model_name, "day": day}
        params |= {f"cohort_{i}": name for i, name in enumerate(cohort_attributes)}
        streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        yield from pd.read_sql_query(query, streaming, params=params, chunksize=chunk_rows)


# A JSON number's text, or a string holding one (CSV sources may deliver numbers as text).
NUMERIC_TEXT = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


def numeric_feature_sql(parameter: str) -> str:
    """SQL of ``features ->> :parameter`` as double precision, NULL when missing or not a
    number (bind ``numeric_text`` to :data:`NUMERIC_TEXT`): a stray string never fails a
    query, it counts as missing."""
    value = f"(features ->> :{parameter})"
    return f"CASE WHEN {value} ~ :numeric_text THEN {value}::double precision END"


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
    names = [*numeric_features, *categorical_features, *cohort_attributes]
    if len(set(names)) != len(names) or "score" in names:
        raise ValueError(f"feature and cohort names must be distinct and not 'score': {names}")
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        columns = ["score"]
        params: dict[str, object] = {"model": model_name, "day": day, "numeric_text": NUMERIC_TEXT}
        for i, name in enumerate(numeric_features):
            columns.append(f"{numeric_feature_sql(f'numeric_{i}')} AS {quote(name)}")
            params[f"numeric_{i}"] = name
        for i, name in enumerate(categorical_features):
            columns.append(f"features ->> :categorical_{i} AS {quote(name)}")
            params[f"categorical_{i}"] = name
        for i, name in enumerate(cohort_attributes):
            columns.append(f"cohorts ->> :cohort_{i} AS {quote(name)}")
            params[f"cohort_{i}"] = name
        query = sa.text(
            f"SELECT {', '.join(columns)} FROM monitoring.labeled_predictions "
            "WHERE model_name = :model AND partition_date = :day"
        )
        streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        yield from pd.read_sql_query(query, streaming, params=params, chunksize=chunk_rows)


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
