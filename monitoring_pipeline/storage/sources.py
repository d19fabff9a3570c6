"""Read a model's prediction and label logs from where its config says they are.

Sources: a Postgres table (``schema.table``) in the monitoring database, or one Parquet /
CSV file per day. Columns are renamed to the standard names here; values keep the types
the source gave them, so data-quality checks see the source as it is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import (
    ComplaintsConfig,
    FileSource,
    ModelConfig,
    PostgresTableSource,
)
from monitoring_pipeline.core.validation import SchemaError, day_bounds
from monitoring_pipeline.storage.reads import copy_query_to_frame


class SourceUnavailableError(RuntimeError):
    """A day's source file is missing or unreadable; the message names the path."""


@dataclass(frozen=True)
class RawDay:
    """The day's predictions as read (``raw``, source names) and renamed (``mapped``).

    Both share one index, so a quarantined mapped row points back at its raw row.
    ``rows_without_time``: for a table source, its rows with no scoring time at all, which
    no day's query can select (None for file sources, whose day comes from the file).
    ``read_problems``: for rows the reader had to repair, why they are malformed.
    """

    raw: pd.DataFrame
    mapped: pd.DataFrame
    rows_without_time: int | None = None
    #: Reasons found while reading (a value that was not UTF-8), indexed like ``raw``.
    read_problems: pd.Series | None = None


def prediction_columns(model: ModelConfig) -> dict[str, str]:
    """Source column -> standard column for the predictions log."""
    cols = model.columns
    mapping = {
        cols.prediction_id: "prediction_id",
        cols.scored_at: "scored_at",
        cols.model_version: "model_version",
        cols.score: "score",
    }
    if cols.decision is not None:
        mapping[cols.decision] = "decision"
    for name in [*model.cohorts.attributes, *model.features.all, *model.attribution_columns]:
        mapping[name] = name
    if cols.latency_ms is not None:
        mapping[cols.latency_ms] = cols.latency_ms
    return mapping


def label_columns(model: ModelConfig) -> dict[str, str]:
    cols = model.columns
    return {
        cols.label_prediction_id: "prediction_id",
        cols.label: "label",
        cols.labelled_at: "labelled_at",
    }


def read_predictions(engine: Engine, model: ModelConfig, day: date) -> RawDay:
    """The predictions scored on ``day`` (UTC). Missing required columns raise SchemaError."""
    mapping = prediction_columns(model)
    source = model.predictions
    rows_without_time = None
    if isinstance(source, PostgresTableSource):
        raw = _read_table_day(engine, source, list(mapping), model.columns.scored_at, day)
        rows_without_time = _count_without_time(engine, source, model.columns.scored_at)
    else:
        raw = _read_file(
            _day_path(source, day),
            source,
            required=True,
            text_columns=[model.columns.prediction_id],
        )
    missing = [column for column in mapping if column not in raw.columns]
    if missing:
        raise SchemaError(
            missing_columns_message("predictions", source, missing, raw.columns, mapping)
        )
    mapped = raw[list(mapping)].rename(columns=mapping)
    if model.columns.decision is None:
        mapped["decision"] = pd.NA
    return RawDay(raw=raw, mapped=mapped, rows_without_time=rows_without_time)


def missing_columns_message(
    kind: str, source: PostgresTableSource | FileSource, missing: list[str], present, mapped=()
) -> str:
    """What a source lacks, and which of its columns nothing maps (a renamed column shows
    up there: map it under ``columns:`` in the config)."""
    message = f"{kind} source {_describe(source)} lacks column(s) {missing}"
    unmapped = [c for c in present if c not in set(mapped)]
    if unmapped:
        shown = unmapped[:10] + (["..."] if len(unmapped) > 10 else [])
        message += f"; unmapped column(s) {shown} (a renamed column? map it under columns:)"
    return message


def _describe(source: PostgresTableSource | FileSource) -> str:
    return source.table if isinstance(source, PostgresTableSource) else source.path


def _table(source: PostgresTableSource) -> sa.TableClause:
    schema, name = source.table.split(".")
    return sa.table(name, schema=schema)


def _existing_columns(engine: Engine, source: PostgresTableSource) -> dict[str, bool]:
    """Column name -> whether it holds text (so that reading keeps it a string)."""
    schema, name = source.table.split(".")
    inspector = sa.inspect(engine)
    if not inspector.has_table(name, schema=schema):
        raise SourceUnavailableError(f"source table {source.table} does not exist")
    return {
        column["name"]: not isinstance(column["type"], NON_TEXT_TYPES)
        for column in inspector.get_columns(name, schema=schema)
    }


# Everything else (text, varchar, enum, json, uuid...) is read as a string.
NON_TEXT_TYPES = (sa.Integer, sa.Numeric, sa.Float, sa.Boolean, sa.DateTime, sa.Date, sa.Interval)


def _read_table_day(
    engine: Engine, source: PostgresTableSource, columns: list[str], time_column: str, day: date
) -> pd.DataFrame:
    existing = _existing_columns(engine, source)
    if time_column not in existing:
        raise SchemaError(f"predictions source {source.table} lacks column(s) ['{time_column}']")
    selected = [c for c in columns if c in existing]
    start, end = day_bounds(day)
    query = (
        sa.select(*[sa.column(c) for c in selected])
        .select_from(_table(source))
        .where(
            sa.column(time_column) >= start.to_pydatetime(),
            sa.column(time_column) < end.to_pydatetime(),
        )
    )
    with engine.connect() as conn:
        return copy_query_to_frame(conn, query, [c for c in selected if existing[c]])


def _count_without_time(engine: Engine, source: PostgresTableSource, time_column: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(_table(source))
        .where(sa.column(time_column).is_(None))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


class TableIdReader:
    """Reads the rows of given ids from a table source, chunk after chunk: the catalog is
    read once, then each call is one indexed query.

    Ids are matched on the id column's text, exactly (no trimming, case as is). They go to
    the server as one text-array literal in ``= ANY(...)``: for a text or varchar id column
    the comparison needs no cast, so PostgreSQL probes the column's index for the chunk's
    ids instead of scanning the table (which a join to a temporary table of the ids did for
    every chunk: 0.5 s per 100,000 ids on a 1M-row table, growing with the table).
    """

    def __init__(
        self, engine: Engine, source: PostgresTableSource, columns: list[str], id_column: str
    ) -> None:
        existing = _existing_columns(engine, source)
        self._engine = engine
        #: ``columns`` that the table has, in the given order.
        self.columns = [c for c in columns if c in existing]
        self._text_columns = [c for c in self.columns if existing[c]]
        #: Whether ids are read as strings: then every row read has exactly an asked id.
        self.ids_as_text = existing.get(id_column, False)
        self._query: sa.Select | None = None
        if id_column in existing:
            as_text = sa.cast(sa.column(id_column), sa.Text)  # a no-op on text columns
            wanted = sa.any_(sa.cast(sa.bindparam("ids", type_=sa.Text), ARRAY(sa.Text)))
            self._query = (
                sa.select(*[sa.column(c) for c in self.columns])
                .select_from(_table(source))
                .where(as_text == wanted)
            )

    def read(self, ids: pd.Series) -> pd.DataFrame:
        """Every row whose id, as text, is one of ``ids`` (nulls in ``ids`` match nothing);
        text columns stay strings."""
        ids = ids.dropna()
        if self._query is None or ids.empty:
            return pd.DataFrame(columns=self.columns)
        query = self._query.params(ids=text_array_literal(ids))
        with self._engine.connect() as conn:
            return copy_query_to_frame(conn, query, self._text_columns)


def text_array_literal(values: pd.Series) -> str:
    """A PostgreSQL ``text[]`` literal of ``values`` (no nulls).

    Every element is double-quoted with backslashes and double quotes escaped, so blanks,
    commas, braces and the word NULL stay the text they are. One bound string: the server
    parses it as a constant, much faster than an ``ARRAY[...]`` of 100,000 parameters.

    >>> text_array_literal(pd.Series(["a", "b,c", " NULL"]))
    '{"a","b,c"," NULL"}'
    """
    if values.empty:
        return "{}"
    escaped = (
        values.astype("string")
        .str.replace("\\", "\\\\", regex=False)
        .str.replace('"', '\\"', regex=False)
    )
    # Joined from an object array: iterating Arrow-backed strings one by one is 6x slower.
    return '{"' + '","'.join(escaped.to_numpy(dtype=object)) + '"}'


def _day_path(source: FileSource, day: date) -> Path:
    return Path(source.path.replace("{date}", day.isoformat()))


def _read_file(
    path: Path,
    source: FileSource,
    *,
    required: bool,
    columns: Sequence[str] | None = None,
    text_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """One source file; ``text_columns`` of a CSV are read as text, never as numbers (ids:
    "00042" stays "00042")."""
    if not path.is_file():
        if required:
            raise SourceUnavailableError(f"no file for this day: {path}")
        return pd.DataFrame()
    try:
        if source.file_format == "parquet":
            if columns is None:
                return pd.read_parquet(path)
            present = set(pq.read_schema(path).names)
            return pd.read_parquet(path, columns=[c for c in columns if c in present])
        as_text = dict.fromkeys(text_columns, str)
        if columns is None:
            return pd.read_csv(path, dtype=as_text)
        return pd.read_csv(path, usecols=lambda name: name in columns, dtype=as_text)
    except Exception as exc:  # pyarrow and the CSV parser raise many types; say which file
        raise SourceUnavailableError(f"cannot read {path}: {exc}") from None


def _read_label_files(source: FileSource, day: date, id_column: str) -> pd.DataFrame:
    """Labels arrive after scoring: read the files of ``day`` and every later day present."""
    frames = [frame for _, frame in _iter_label_files(source, day, id_column=id_column)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _iter_label_files(
    source: FileSource,
    day: date,
    columns: Sequence[str] | None = None,
    *,
    id_column: str,
    until: date | None = None,
) -> Iterator[tuple[date, pd.DataFrame]]:
    """(file date, frame) per label file dated ``day`` or later (and ``until`` at the
    latest, when given); only ``columns`` (those of them a file has) when given."""
    pattern = re.escape(Path(source.path).name).replace(re.escape("{date}"), r"(\d{4}-\d{2}-\d{2})")
    directory = Path(source.path.replace("{date}", "0000-00-00")).parent
    if "{date}" in str(Path(source.path).parent):
        raise SourceUnavailableError(f"{source.path}: put {{date}} in the file name, not a folder")
    for path in sorted(directory.glob("*")):
        match = re.fullmatch(pattern, path.name)
        file_day = date.fromisoformat(match.group(1)) if match else None
        if file_day is not None and file_day >= day and (until is None or file_day <= until):
            frame = _read_file(
                path, source, required=True, columns=columns, text_columns=[id_column]
            )
            yield file_day, frame


def read_label_rows(model: ModelConfig, since: date) -> pd.DataFrame:
    """Every label row delivered in files dated ``since`` or later (standard column names)."""
    assert isinstance(model.labels, FileSource)
    raw = _read_label_files(model.labels, since, model.columns.label_prediction_id)
    mapping = label_columns(model)
    if raw.empty:
        return pd.DataFrame(columns=list(mapping.values()))
    return raw[list(mapping)].rename(columns=mapping)


def _complaint_mapping(complaints: ComplaintsConfig) -> dict[str, str]:
    return {complaints.prediction_id: "prediction_id", complaints.complained_at: "complained_at"}


def _mapped_complaints(
    complaints: ComplaintsConfig, raw: pd.DataFrame, source: PostgresTableSource | FileSource
) -> pd.DataFrame:
    """``raw`` with standard names and text ids; a SchemaError names missing columns."""
    mapping = _complaint_mapping(complaints)
    missing = [c for c in mapping if c not in set(raw.columns)]
    if missing:
        raise SchemaError(missing_columns_message("complaints", source, missing, raw.columns))
    frame = raw[list(mapping)].rename(columns=mapping)
    return frame.assign(prediction_id=frame["prediction_id"].astype("string"))


def read_complaint_rows(
    complaints: ComplaintsConfig, since: date, until: date | None = None
) -> pd.DataFrame:
    """Every complaint row of the files dated ``since`` or later (``until`` at the latest,
    when given): ``prediction_id`` (text), ``complained_at`` (as the files give it). A file
    without those columns raises SchemaError naming it."""
    source = complaints.source
    assert isinstance(source, FileSource)
    frames = [
        _mapped_complaints(complaints, frame, source)
        for _, frame in _iter_label_files(
            source,
            since,
            columns=list(_complaint_mapping(complaints)),
            id_column=complaints.prediction_id,
            until=until,
        )
    ]
    if not frames:
        return pd.DataFrame({"prediction_id": pd.Series(dtype="string"), "complained_at": []})
    return pd.concat(frames, ignore_index=True)


class ComplaintReader:
    """The complaint rows (``prediction_id`` as text, ``complained_at`` as the source gives
    it) about given predictions of ``day``: from a complaints table, one indexed query per
    chunk of ids (as labels are read); from files, those dated ``day`` to the day the
    window closes, read once (a file is dated by the day its complaints were recorded, so a
    later one holds none the window counts: a day's cost stays bounded however old it is).
    A complaint whose id is missing matches no prediction."""

    def __init__(self, engine: Engine, complaints: ComplaintsConfig, day: date) -> None:
        self._complaints = complaints
        self._table: TableIdReader | None = None
        self._frame: pd.DataFrame | None = None
        source = complaints.source
        if isinstance(source, PostgresTableSource):
            columns = list(_complaint_mapping(complaints))
            self._table = TableIdReader(engine, source, columns, complaints.prediction_id)
            _mapped_complaints(complaints, pd.DataFrame(columns=self._table.columns), source)
            return
        last = day + timedelta(days=complaints.window_days + 1)
        self._frame = read_complaint_rows(complaints, day, last)

    def read(self, ids: pd.Series) -> pd.DataFrame:
        """The complaint rows whose prediction id, as text, is one of ``ids``."""
        if self._table is not None:
            raw = self._table.read(ids)
            return _mapped_complaints(self._complaints, raw, self._complaints.source)
        assert self._frame is not None
        return self._frame[self._frame["prediction_id"].isin(ids.dropna().astype("string"))]


# --------------------------------------------------------------------------------------------
# Writing source tables (the demo's and the benchmark's simulated logs)
# --------------------------------------------------------------------------------------------


def copy_into_source_table(
    engine: Engine, schema: str, table: str, frame: pd.DataFrame, *, create: bool
) -> None:
    """COPY ``frame`` into ``schema.table`` in one transaction. ``create``: first (re)create
    the schema if missing and the table from ``frame``'s dtypes, replacing one that exists;
    otherwise the rows are appended."""
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        if create:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"))
            frame.head(0).to_sql(table, conn, schema=schema, if_exists="replace", index=False)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep=r"\N")
        buffer.seek(0)
        cursor = conn.connection.driver_connection.cursor()
        columns = ", ".join(quote(c) for c in frame.columns)
        cursor.copy_expert(
            f"COPY {quote(schema)}.{quote(table)} ({columns}) FROM STDIN "
            "WITH (FORMAT csv, NULL '\\N')",
            buffer,
        )
        cursor.close()


def index_source_table(engine: Engine, schema: str, table: str, column: str) -> None:
    """Index ``schema.table`` on ``column`` and settle it (:func:`settle_table`), as a
    production log table is indexed on its scoring time or its id and was written long
    before it is read."""
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(sa.text(f"CREATE INDEX ON {quote(schema)}.{quote(table)} ({quote(column)})"))
    settle_table(engine, schema, table)


def settle_table(engine: Engine, schema: str, table: str) -> None:
    """Bring freshly written ``schema.table`` to the state of a table written long ago:
    vacuumed (its rows' hint bits set, so the first reader does not write each page again:
    with checksums a full-page image in the WAL each, ~4x the read's time) and analyzed."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(sa.text(f"VACUUM (FREEZE, ANALYZE) {quote(schema)}.{quote(table)}"))
