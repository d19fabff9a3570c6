"""Read one day of a model's prediction log in bounded chunks (a large day never sits in
memory at once), with a cheap pre-pass over the ids that finds the duplicated ones.

- Postgres table sources: ``COPY (SELECT ... WHERE <day>) TO STDOUT`` is streamed through
  a pipe fed by a thread and parsed incrementally by Arrow; column types come from the
  catalog, so every chunk has the same types whatever its values.
- Parquet: ``ParquetFile.iter_batches`` (the file's own types).
- CSV: Arrow's streaming reader; a first pass over the file decides each column's type
  the way ``pandas.read_csv`` infers it from the whole file (int, float, bool or text).

Duplicated ids matter because validation quarantines every copy of an id whose copies
disagree and all but the first of exact copies: rows of ids that occur more than once in
the day are found before streaming (``DayScan.held_back_keys``) so that the caller can
hold them back from their chunk and resolve them together at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import FileSource, ModelConfig, PostgresTableSource
from monitoring_pipeline.core.labels import is_in
from monitoring_pipeline.core.validation import SchemaError, clean_text, day_bounds
from monitoring_pipeline.storage.prediction_ids import (
    label_ids_unmatched_on_other_days,
    table_label_ids_unmatched_on_other_days,
)
from monitoring_pipeline.storage.sources import (
    RawDay,
    SourceUnavailableError,
    TableIdReader,
    _count_without_time,
    _day_path,
    _describe,
    _iter_label_files,
    _table,
    label_columns,
    missing_columns_message,
    prediction_columns,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DayLabels",
    "DayScan",
    "PredictionDay",
    "match_key",
    "open_day_labels",
    "open_prediction_day",
    "return_freed_memory",
]

DEFAULT_CHUNK_ROWS = 100_000

# Every character Python's str.isspace() accepts: ids are compared after stripping these
# (a superset of what validation strips), so ids equal after validation's stripping always
# share a key, and the held-back set can only be too large, never too small.
WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())

# pandas.read_csv's default missing-value markers, so a CSV day reads as pandas reads it.
PANDAS_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
PANDAS_TRUE = ["True", "TRUE", "true"]
PANDAS_FALSE = ["False", "FALSE", "false"]


def match_key(ids: pd.Series) -> pd.Series:
    """The text of each raw id with surrounding whitespace removed (the pre-pass's key)."""
    return ids.astype("string").str.strip(WHITESPACE)


@dataclass(frozen=True)
class DayScan:
    """What the pre-pass over the day's ids found.

    ``held_back_keys``: :func:`match_key` values shared by more than one row.
    ``duplicated_id_rows``: rows whose raw, non-null id occurs more than once (what the
    uniqueness expectation counts as unexpected).
    ``day_ids``: for file sources, every distinct key of the day (labels are filtered to
    them when the label files are read); None for table sources.
    ``id_keys``: for table sources, a query of the day's ids as validation leaves them
    (their text trimmed of :data:`WHITESPACE`): a label table in the same database is read
    once, joined to it in SQL.
    """

    held_back_keys: pd.Series
    duplicated_id_rows: int
    day_ids: pd.Series | None = None
    id_keys: sa.Select | None = None


class PredictionDay:
    """One day of predictions, opened: schema checked, ids pre-scanned; iterate
    :meth:`chunks` for the rows. Each chunk is a :class:`RawDay` whose index continues
    where the previous chunk's ended, so row positions are unique within the day."""

    def __init__(
        self,
        model: ModelConfig,
        mapping: dict[str, str],
        columns: list[str],
        scan: DayScan,
        batches,
        rows_without_time: int | None,
        float_columns: Sequence[str] = (),
        empty_as_object: bool = False,
        bytes_columns: Sequence[str] = (),
        unparsable_rows: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.model = model
        self.mapping = mapping
        self.columns = columns
        self.scan = scan
        self.rows_without_time = rows_without_time
        self._batches = batches
        self._float_columns = list(float_columns)
        self._empty_as_object = empty_as_object
        self._bytes_columns = list(bytes_columns)
        #: (text, reason) of each source row that could not be split into the header's
        #: fields (CSV): never in a chunk, quarantined as they are.
        self.unparsable_rows = list(unparsable_rows)

    @property
    def mapped_columns(self) -> list[str]:
        names = list(self.mapping.values())
        return names if "decision" in names else [*names, "decision"]

    def chunks(self) -> Iterator[RawDay]:
        """The day's rows, at most ``chunk_rows`` per chunk; at least one (maybe empty) chunk."""
        offset = 0
        for table in self._batches():
            if table.num_rows == 0 and offset:
                continue
            problems = []
            for name in self._bytes_columns:
                text, invalid = _decoded(table.column(name).combine_chunks())
                table = table.set_column(table.schema.get_field_index(name), name, text)
                if invalid is not None:
                    rows = np.flatnonzero(invalid) + offset
                    problems.append(pd.Series(f"{name} holds bytes that are not UTF-8", rows))
            raw = table.to_pandas().reset_index(drop=True)
            for column in self._float_columns:
                # An integer column that has nulls somewhere in the day is float in every
                # chunk, as it is when the whole day is read at once.
                if raw[column].dtype.kind in "iu":
                    raw[column] = raw[column].astype("float64")
            if table.num_rows == 0 and self._empty_as_object:
                raw = pd.DataFrame(columns=list(raw.columns))
            raw.index = pd.RangeIndex(offset, offset + len(raw))
            offset += len(raw)
            read_problems = (
                pd.concat(problems).groupby(level=0).agg("; ".join) if problems else None
            )
            yield RawDay(
                raw=raw,
                mapped=self._mapped(raw),
                rows_without_time=None,
                read_problems=read_problems,
            )

    def _mapped(self, raw: pd.DataFrame) -> pd.DataFrame:
        mapped = raw[list(self.mapping)].rename(columns=self.mapping)
        if self.model.columns.decision is None:
            mapped["decision"] = pd.NA
        return mapped


def open_prediction_day(
    engine: Engine, model: ModelConfig, day: date, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> PredictionDay:
    """Open the predictions scored on ``day`` (UTC) for chunked reading.

    Missing required columns raise SchemaError, a missing day file SourceUnavailableError.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    source = model.predictions
    if isinstance(source, PostgresTableSource):
        return _open_table_day(engine, model, source, day, chunk_rows)
    path = _day_path(source, day)
    if not path.is_file():
        raise SourceUnavailableError(f"no file for this day: {path}")
    try:
        if source.file_format == "parquet":
            return _open_parquet_day(model, source, path, chunk_rows)
        return _open_csv_day(model, source, path, chunk_rows)
    except (SchemaError, SourceUnavailableError):
        raise
    except Exception as exc:  # pyarrow raises many types; say which file
        raise SourceUnavailableError(f"cannot read {path}: {exc}") from None


def _check_columns(model: ModelConfig, source, columns: Sequence[str]) -> dict[str, str]:
    mapping = prediction_columns(model)
    missing = [column for column in mapping if column not in columns]
    if missing:
        raise SchemaError(missing_columns_message("predictions", source, missing, columns, mapping))
    return mapping


def rebatch(batches, chunk_rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Regroup a stream of record batches into tables of exactly ``chunk_rows`` rows (the
    last one shorter); yields at least one table (an empty one when the stream is empty)."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    produced = False
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - pending_rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            pending_rows += take
            batch = batch.slice(take)
            if pending_rows == chunk_rows:
                yield pa.Table.from_batches(pending, schema=schema)
                produced = True
                pending, pending_rows = [], 0
    if pending_rows or not produced:
        yield pa.Table.from_batches(pending, schema=schema)


# --- Postgres tables -------------------------------------------------------------------


def _arrow_type(column_type: sa.types.TypeEngine) -> pa.DataType:
    """The Arrow type a source column is parsed as: fixed by the catalog, not by values."""
    if isinstance(column_type, sa.Boolean):
        return pa.bool_()
    if isinstance(column_type, sa.Integer):
        return pa.int64()
    if isinstance(column_type, sa.Numeric | sa.Float):  # SQLAlchemy 2.1: Float isn't Numeric
        return pa.float64()
    if isinstance(column_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if column_type.timezone else None)
    if isinstance(column_type, sa.Date):
        return pa.date32()
    return pa.string()  # text, varchar, enum, json, uuid, interval...


def _catalog(engine: Engine, source: PostgresTableSource) -> dict[str, sa.types.TypeEngine]:
    schema, name = source.table.split(".")
    inspector = sa.inspect(engine)
    if not inspector.has_table(name, schema=schema):
        raise SourceUnavailableError(f"source table {source.table} does not exist")
    return {c["name"]: c["type"] for c in inspector.get_columns(name, schema=schema)}


def _open_table_day(
    engine: Engine, model: ModelConfig, source: PostgresTableSource, day: date, chunk_rows: int
) -> PredictionDay:
    time_column = model.columns.scored_at
    catalog = _catalog(engine, source)
    types = {name: _arrow_type(column_type) for name, column_type in catalog.items()}
    mapping = _check_columns(model, source, list(types))  # the time column among them
    selected = [c for c in prediction_columns(model) if c in types]
    start, end = day_bounds(day)
    in_day = (
        sa.column(time_column) >= start.to_pydatetime(),
        sa.column(time_column) < end.to_pydatetime(),
    )
    query = sa.select(*[sa.column(c) for c in selected]).select_from(_table(source)).where(*in_day)
    # Three questions about the whole day, each answered by the server alone: asked at
    # once, on connections of their own (one after the other they cost ~2 s of a
    # 1.1M-row day, mostly waiting).
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="day-questions") as asking:
        day_types = asking.submit(
            _day_types, engine, source, {c: types[c] for c in selected}, catalog, in_day
        )
        day_scan = asking.submit(
            _scan_table_ids, engine, source, model.columns.prediction_id, in_day
        )
        without_time = asking.submit(_count_without_time, engine, source, time_column)
        types, float_columns = day_types.result()
        scan = day_scan.result()
        rows_without_time = without_time.result()
    convert = _copy_csv_types({c: types[c] for c in selected})
    return PredictionDay(
        model,
        mapping,
        selected,
        scan,
        lambda: _stream_copy(engine, query, convert, chunk_rows),
        rows_without_time=rows_without_time,
        float_columns=float_columns,
        empty_as_object=True,
    )


def _day_types(
    engine: Engine,
    source: PostgresTableSource,
    types: dict[str, pa.DataType],
    catalog: dict[str, sa.types.TypeEngine],
    in_day,
) -> tuple[dict[str, pa.DataType], list[str]]:
    """Arrow types that make every chunk read as the whole day once read: a number column
    whose values in the day are all whole reads as integers (Arrow infers that from the
    text COPY writes, and JSON then shows 85300, not 85300.0), an all-null column as nulls.

    Returns the types and the integer columns with a null somewhere in the day (pandas
    makes those float in every chunk, as it does for the whole day).
    """
    numbers = [c for c in types if pa.types.is_integer(types[c]) or pa.types.is_floating(types[c])]
    if not numbers:
        return types, []
    aggregates = [sa.func.count()]
    for name in numbers:
        column = sa.column(name)
        aggregates.append(sa.func.count(column))
        if isinstance(catalog[name], sa.Float):
            # What PostgreSQL prints without a decimal point or an exponent.
            whole = sa.and_(column == sa.func.trunc(column), sa.func.abs(column) < 1e15)
        elif isinstance(catalog[name], sa.Numeric):
            whole = sa.and_(sa.func.scale(column) == 0, sa.func.abs(column) < 1e18)
        else:
            whole = sa.true()
        aggregates.append(sa.func.coalesce(sa.func.bool_and(whole), sa.true()))
    query = sa.select(*aggregates).select_from(_table(source)).where(*in_day)
    with engine.connect() as conn:
        total, *figures = conn.execute(query).one()
    day_types = dict(types)
    float_columns = []
    for i, name in enumerate(numbers):
        present, whole = figures[2 * i], figures[2 * i + 1]
        if present == 0 and total > 0:
            day_types[name] = pa.null()
        elif whole:
            day_types[name] = pa.int64()
            if present < total:
                float_columns.append(name)
        else:
            day_types[name] = pa.float64()
    return day_types, float_columns


def _scan_table_ids(engine, source, id_column: str, in_day) -> DayScan:
    """One pass in SQL: keys shared by several rows, and rows of repeated raw ids."""
    raw = sa.cast(sa.column(id_column), sa.Text).label("raw")
    day_ids = sa.select(raw).select_from(_table(source)).where(*in_day).subquery("day_ids")
    keyed = (
        sa.select(
            day_ids.c.raw,
            sa.func.btrim(day_ids.c.raw, sa.bindparam("whitespace", WHITESPACE)).label("key"),
        )
        .where(day_ids.c.raw.is_not(None))
        .subquery("keyed")
    )
    query = (
        sa.select(sa.func.grouping(keyed.c.raw).label("by_key"), keyed.c.key, sa.func.count())
        .group_by(sa.func.grouping_sets(sa.tuple_(keyed.c.key), sa.tuple_(keyed.c.raw)))
        .having(sa.func.count() > 1)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    keys = [key for by_key, key, _ in rows if by_key]
    duplicated = sum(n for by_key, _, n in rows if not by_key)
    # Validation strips exactly these characters (a test holds it), so a valid id is its
    # raw text so trimmed.
    trimmed = sa.func.btrim(raw, sa.bindparam("whitespace", WHITESPACE, type_=sa.Text))
    id_keys = sa.select(trimmed.label("key")).select_from(_table(source)).where(*in_day)
    return DayScan(
        held_back_keys=pd.Series(keys, dtype="string"),
        duplicated_id_rows=int(duplicated),
        id_keys=id_keys,
    )


def _copy_csv_types(types: dict[str, pa.DataType]) -> pa_csv.ConvertOptions:
    """How Arrow parses the CSV of ``COPY ... TO STDOUT`` into ``types``."""
    return pa_csv.ConvertOptions(
        column_types=types,
        null_values=[""],  # COPY writes NULL as an unquoted empty field, nothing else
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )


def _stream_copy(
    engine: Engine,
    query: sa.Select,
    convert: pa_csv.ConvertOptions,
    chunk_rows: int,
    memory_pool: pa.MemoryPool | None = None,
) -> Iterator[pa.Table]:
    """Stream ``COPY (query) TO STDOUT`` through a pipe fed by a thread; Arrow parses the
    CSV block by block, so memory holds a chunk, not the day."""
    connection = engine.raw_connection()
    sql = None
    cursor = connection.cursor()
    try:
        compiled = query.compile(dialect=engine.dialect)
        sql = cursor.mogrify(str(compiled), compiled.params).decode()
    finally:
        cursor.close()
    read_fd, write_fd = os.pipe()
    reader_file = os.fdopen(read_fd, "rb")
    writer_file = os.fdopen(write_fd, "wb", buffering=1 << 20)
    failures: list[BaseException] = []

    def produce() -> None:
        copy_cursor = connection.cursor()
        try:
            copy_cursor.copy_expert(
                f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", writer_file
            )
        except BaseException as exc:  # reported by the consuming thread
            failures.append(exc)
        finally:
            copy_cursor.close()
            with contextlib.suppress(OSError):  # the reader went away first (broken pipe)
                writer_file.close()

    producer = threading.Thread(target=produce, name="copy-to-stdout", daemon=True)
    producer.start()
    finished = False
    try:
        try:
            reader = pa_csv.open_csv(
                reader_file,
                read_options=pa_csv.ReadOptions(block_size=1 << 20),
                convert_options=convert,
                memory_pool=memory_pool,
            )
            yield from rebatch(reader, chunk_rows, reader.schema)
            finished = True
        except Exception:
            producer.join()
            if failures:  # the database's error explains a truncated stream best
                raise failures[0] from None
            raise
    finally:
        reader_file.close()  # a producer blocked on a full pipe now fails and returns
        producer.join()
        if finished and not failures:
            connection.close()
        else:
            connection.invalidate()  # possibly still inside COPY: never reuse it
    if failures:
        raise failures[0]


# --- files ------------------------------------------------------------------------------


def _file_scan(raw_ids: pd.Series) -> DayScan:
    keys = match_key(raw_ids).dropna()
    counts = keys.value_counts()
    return DayScan(
        held_back_keys=pd.Series(counts.index[counts > 1], dtype="string"),
        duplicated_id_rows=int(raw_ids.dropna().duplicated(keep=False).sum()),
        # Exactly the ids validation will keep (its own cleaning), to select label rows.
        day_ids=pd.Series(clean_text(raw_ids).dropna().unique(), dtype="string"),
    )


def _open_parquet_day(
    model: ModelConfig, source: FileSource, path: Path, chunk_rows: int
) -> PredictionDay:
    schema = pq.read_schema(path)
    columns = list(schema.empty_table().to_pandas().columns)
    mapping = _check_columns(model, source, columns)
    id_column = model.columns.prediction_id
    ids = pq.read_table(path, columns=[id_column]).to_pandas()[id_column]
    float_columns = [
        name
        for name in columns
        if name in schema.names
        and pa.types.is_integer(schema.field(name).type)
        and _parquet_has_nulls(path, name)
    ]

    def batches() -> Iterator[pa.Table]:
        parquet = pq.ParquetFile(path)
        stream = parquet.iter_batches(batch_size=min(chunk_rows, 1 << 16))
        yield from rebatch(stream, chunk_rows, parquet.schema_arrow)

    return PredictionDay(
        model,
        mapping,
        columns,
        _file_scan(ids),
        batches,
        rows_without_time=None,
        float_columns=float_columns,
    )


def _parquet_has_nulls(path: Path, column: str) -> bool:
    metadata = pq.ParquetFile(path).metadata
    index = metadata.schema.names.index(column) if column in metadata.schema.names else None
    if index is not None:
        stats = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if all(s is not None and s.has_null_count for s in stats):
            return any(s.null_count > 0 for s in stats)
    return pq.read_table(path, columns=[column]).column(column).null_count > 0


@dataclass
class _CsvColumn:
    can_int: bool = True
    can_float: bool = True
    can_bool: bool = True
    has_null: bool = False
    seen: bool = False

    def decide(self) -> pa.DataType:
        if not self.seen:
            return pa.float64()  # pandas reads an all-missing column as float NaN
        if self.can_int:
            return pa.float64() if self.has_null else pa.int64()
        if self.can_float:
            return pa.float64()
        if self.can_bool and not self.has_null:
            return pa.bool_()
        return pa.string()


def _csv_header(path: Path) -> list[str]:
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=1 << 20),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip"),
    )
    return list(reader.schema.names)


def _open_csv_day(
    model: ModelConfig, source: FileSource, path: Path, chunk_rows: int
) -> PredictionDay:
    header = _csv_header(path)
    mapping = _check_columns(model, source, header)
    id_column = model.columns.prediction_id
    # Read as bytes first: a value that is not UTF-8 is then one bad row, not a failed day.
    as_bytes = pa_csv.ConvertOptions(
        column_types={name: pa.binary() for name in header},
        null_values=PANDAS_NA_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # Rows whose field count differs from the header's (a file cut mid-line, a stray
    # separator) are set aside with their text and quarantined; the others read on.
    unparsable: list[str] = []

    def set_aside(row) -> str:
        fields = f"CSV row with {row.actual_columns} field(s) where the header has"
        unparsable.append((row.text, f"{fields} {row.expected_columns} (cut short?)"))
        return "skip"

    # First pass: each column's type over the whole file, and the raw ids.
    kinds = {name: _CsvColumn() for name in header}
    not_utf8: set[str] = set()
    id_parts = []
    parse = pa_csv.ParseOptions(invalid_row_handler=set_aside)
    for batch in pa_csv.open_csv(path, convert_options=as_bytes, parse_options=parse):
        for name in header:
            values, invalid = _decoded(batch.column(name))
            if invalid is not None:
                not_utf8.add(name)
            kind = kinds[name]
            kind.has_null |= values.null_count > 0
            present = values.drop_null()
            if name == id_column:
                id_parts.append(values)
            if not len(present):
                continue
            kind.seen = True
            if kind.can_int:
                kind.can_int = _casts(present, pa.int64())
            if kind.can_float:
                kind.can_float = _casts(present, pa.float64())
            if kind.can_bool:
                kind.can_bool = bool(
                    pc.all(pc.is_in(present, pa.array(PANDAS_TRUE + PANDAS_FALSE))).as_py()
                )
    types = {name: kind.decide() for name, kind in kinds.items()}
    # An id is a name, not a number: "00042" must stay "00042" (read as a number it would
    # become 42, no longer match upstream, and collide with "042").
    types[id_column] = pa.string()
    ids = (
        pa.chunked_array(id_parts, type=pa.string())
        if id_parts
        else pa.chunked_array([], pa.string())
    )
    raw_ids = pd.Series(ids.to_pandas())
    for name in not_utf8:  # text with escapes (\xff), decoded chunk by chunk
        types[name] = pa.binary()
    convert = pa_csv.ConvertOptions(
        column_types=types,
        null_values=PANDAS_NA_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=PANDAS_TRUE,
        false_values=PANDAS_FALSE,
    )
    skip = pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip")  # counted above

    def batches() -> Iterator[pa.Table]:
        reader = pa_csv.open_csv(path, convert_options=convert, parse_options=skip)
        yield from rebatch(reader, chunk_rows, reader.schema)

    return PredictionDay(
        model,
        mapping,
        header,
        _file_scan(raw_ids),
        batches,
        rows_without_time=None,
        empty_as_object=True,
        bytes_columns=sorted(not_utf8),
        unparsable_rows=unparsable,
    )


def _decoded(values: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Bytes as text; values that are not UTF-8 keep their other characters and show each
    bad byte as ``\\xNN``. Returns the text and which values were not UTF-8 (None: all were)."""
    try:
        return values.cast(pa.string()), None
    except pa.ArrowInvalid:
        pass
    raw = values.to_pylist()
    invalid = np.array([value is not None and not _is_utf8(value) for value in raw])
    text = [None if v is None else v.decode("utf-8", "backslashreplace") for v in raw]
    return pa.array(text, type=pa.string()), invalid


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _casts(values: pa.Array, to: pa.DataType) -> bool:
    try:
        pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


# --- labels -----------------------------------------------------------------------------


class DayLabels:
    """Label rows (all revisions, standard column names) for a day's predictions, handed out
    chunk by chunk: :meth:`for_ids` returns the rows of the given valid prediction ids.

    File sources are read once (only the day's ids). A table source is read once too when
    the predictions come from a table (same database): the server joins the label table to
    the day's ids (:class:`_HeldLabels`, ~65 bytes a label row held), instead of probing the
    id index once per id, chunk after chunk, which re-read most of the label table's pages
    for every chunk (~440 of 566 s at 10M rows a day). With predictions from files, each
    chunk's ids are looked up through the index
    (:class:`~monitoring_pipeline.storage.sources.TableIdReader`).
    """

    def __init__(self, engine: Engine, model: ModelConfig, day: date, scan: DayScan) -> None:
        self._mapping = label_columns(model)
        self._source = model.labels
        self._file_rows: pd.DataFrame | None = None
        self._table: TableIdReader | None = None
        self._held: _HeldLabels | None = None
        self._released = False
        #: Ids of the label rows delivered on the day (file sources: the file dated that
        #: day), cleaned (see :meth:`unmatched_label_ids`).
        self._delivered: pd.Series | None = None
        self._engine, self._model, self._day = engine, model, day
        if isinstance(self._source, FileSource):
            self._file_rows = self._read_files(model, day, scan.day_ids)
            ids = self._file_rows["prediction_id"].astype("string")
            self._codes, uniques = pd.factorize(ids)
            self._uniques = pd.Index(uniques)
        else:
            self._table = TableIdReader(
                engine, self._source, list(self._mapping), model.columns.label_prediction_id
            )
            # Checked before the first chunk: a wrong config fails before any work.
            missing = [c for c in self._mapping if c not in self._table.columns]
            if missing:
                raise SchemaError(
                    f"labels source {_describe(self._source)} lacks column(s) {missing}"
                )
            self._catalog = _catalog(engine, self._source)
            if scan.id_keys is not None:
                self._held = _HeldLabels.read(
                    engine, self._source, self._catalog, self._mapping,
                    model.columns.label_prediction_id, scan.id_keys,
                )  # fmt: skip
        # The read, batch by batch, freed about as much as it keeps: carried through every
        # chunk of the day unless handed back now.
        return_freed_memory()

    def unmatched_label_ids(self, conn: sa.Connection, model_name: str) -> pd.Series | None:
        """The ids (one per row, cleaned, <NA> where missing) of the label rows delivered on
        the day that match no prediction stored for the model on another day, asked on
        ``conn`` before the day's write (the day's own rows are matched as they are
        written: :class:`~monitoring_pipeline.core.labels.CrossDayTally`); None when the
        source cannot tell the delivery day.

        A file source's delivery is its file dated that day; a table source's, the rows
        whose ``labelled_at`` falls on that UTC day (None if that column is not a
        timestamp), matched in SQL where the rows are.
        """
        if self._table is None:
            if self._delivered is None:
                return None
            return label_ids_unmatched_on_other_days(conn, model_name, self._day, self._delivered)
        assert isinstance(self._source, PostgresTableSource)
        columns = self._model.columns
        if not isinstance(self._catalog.get(columns.labelled_at), sa.DateTime):
            return None
        return table_label_ids_unmatched_on_other_days(
            conn, model_name, self._day, self._source.table, columns.label_prediction_id,
            columns.labelled_at, WHITESPACE,
        )  # fmt: skip

    def release(self) -> None:
        """Let go of the labels read for the day's chunks (~65 bytes a label row, ~0.7 GiB
        on a 10M-row day) once its last chunk is joined: what the day still asks of its
        labels (:meth:`unmatched_label_ids`) was asked before the write."""
        self._released = True
        self._held = None
        self._file_rows = self._codes = self._uniques = None

    def for_ids(self, prediction_ids: pd.Series) -> pd.DataFrame:
        """Every label row of ``prediction_ids`` (valid, unique ids of one chunk)."""
        if self._released:
            raise RuntimeError("the day's labels were released: its last chunk is done")
        if self._held is not None:
            ids = prediction_ids.astype("string")
            return self._keep_asked(self._held.rows(ids), ids)
        if self._table is not None:
            return self._table_rows(self._table, prediction_ids)
        assert self._file_rows is not None
        found = self._uniques.get_indexer(prediction_ids.astype("string").dropna())
        wanted = np.zeros(len(self._uniques) + 1, dtype=bool)
        wanted[found[found >= 0]] = True
        # factorize codes nulls as -1, which indexes the always-False last slot.
        return self._file_rows.loc[wanted[self._codes]].reset_index(drop=True)

    def _table_rows(self, table: TableIdReader, prediction_ids: pd.Series) -> pd.DataFrame:
        ids = prediction_ids.astype("string")
        raw = table.read(ids)
        labels = raw[list(self._mapping)].rename(columns=self._mapping)
        return self._keep_asked(labels, ids)

    def _keep_asked(self, labels: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
        """``labels`` matched on the text of their id in the table; a number id (text
        PostgreSQL prints for it) is kept only if its id as read here is one of ``ids``."""
        assert self._table is not None
        if self._table.ids_as_text:
            return labels  # the server's text is exactly this text
        wanted = is_in(labels["prediction_id"].astype("string"), ids)
        return labels.loc[wanted].reset_index(drop=True)

    def _read_files(self, model: ModelConfig, day: date, day_ids: pd.Series | None) -> pd.DataFrame:
        """The label files of ``day`` and later, read once: only the three label columns,
        only the rows of the day's ids (all revisions of each)."""
        source = self._source
        assert isinstance(source, FileSource)
        needed = list(self._mapping)
        id_column = model.columns.label_prediction_id
        frames = []
        self._delivered = pd.Series([], dtype="string")
        for file_day, frame in _iter_label_files(source, day, columns=needed, id_column=id_column):
            if file_day == day and id_column in frame.columns:
                self._delivered = clean_text(frame[id_column])
            if id_column in frame.columns and day_ids is not None:
                frame = frame.loc[is_in(frame[id_column].astype("string"), day_ids)]
            frames.append(frame)
        if not frames:  # no label delivered yet: an ordinary state, not a schema problem
            return pd.DataFrame(
                {name: pd.Series([], dtype=object) for name in self._mapping.values()}
            )
        raw = pd.concat(frames, ignore_index=True)
        missing = [column for column in needed if column not in raw.columns]
        if missing:
            raise SchemaError(f"labels source {_describe(source)} lacks column(s) {missing}")
        return raw[needed].rename(columns=self._mapping).reset_index(drop=True)


def open_day_labels(engine: Engine, model: ModelConfig, day: date, scan: DayScan) -> DayLabels:
    """Labels for the day's predictions: read once here (file sources; a table source
    joined in SQL to a table source's day), else queried per chunk (:class:`DayLabels`)."""
    return DayLabels(engine, model, day, scan)


# Label rows parsed per batch while a day's labels are read (then joined into one chunk).
HELD_BATCH_ROWS = 1 << 20
# Text a string array holds at most (32-bit offsets); beyond, large_string.
STRING_BYTES_LIMIT = 2**31 - 1

# The column a held label row is found by when the table's id column is not text.
_ID_TEXT = "__id_text"


class _HeldLabels:
    """A label table's rows for one day's ids, read once, found by the text of their id.

    Held as Arrow (a label row costs its id's bytes plus ~40: label, time, hash, position);
    rows are found through a sorted 64-bit hash of the id text, every candidate then
    checked on the text itself, so a hash collision never matches a wrong id.
    """

    def __init__(self, table: pa.Table, key: str, hashes: np.ndarray) -> None:
        self._table = table  # as streamed: a sorted copy doubled the peak (+0.5 GB at 10M)
        # Row positions by hash (an id's rows stay in table order: stable), and the hashes
        # sorted in place: 12 bytes a row kept, 20 at the peak.
        self._order = np.argsort(hashes, kind="stable").astype(np.int32)
        hashes.sort()
        self._hashes = hashes
        self._key = key
        self.columns = [name for name in table.column_names if name != _ID_TEXT]

    @classmethod
    def read(
        cls,
        engine: Engine,
        source: PostgresTableSource,
        catalog: dict[str, sa.types.TypeEngine],
        mapping: dict[str, str],
        id_column: str,
        id_keys: sa.Select,
    ) -> _HeldLabels:
        """The rows of ``source`` whose id, as text, is one of ``id_keys``' texts: one
        query, streamed and parsed batch by batch with the ``catalog``'s column types."""
        types = {name: _arrow_type(catalog[name]) for name in mapping}
        as_text = sa.cast(sa.column(id_column), sa.Text)
        selected = [sa.column(name) for name in mapping]
        key = id_column
        if types[id_column] != pa.string():
            selected.append(as_text.label(_ID_TEXT))
            types[_ID_TEXT] = pa.string()
            key = _ID_TEXT
        query = (
            sa.select(*selected)
            .select_from(_table(source))
            .where(as_text.in_(id_keys.scalar_subquery()))
        )
        convert = _copy_csv_types(types)
        batches, hashes = [], []
        # The system allocator: Arrow's default (mimalloc) kept ~30 bytes a row of the
        # parse's freed buffers (measured on 4.75M label rows: 596 MiB against 446 MiB).
        pool = pa.system_memory_pool()
        for batch in _stream_copy(engine, query, convert, HELD_BATCH_ROWS, memory_pool=pool):
            batches.append(batch)
            hashes.append(_text_hashes(batch.column(key)))
        table = pa.concat_tables(batches).rename_columns(
            [mapping.get(name, name) for name in batches[0].column_names]
        )
        del batches
        if table.num_rows >= 2**31:
            raise ValueError(f"{table.num_rows:,} label rows for one day: more than can be held")
        # One chunk per column: a take from many chunks joined them all again on every
        # chunk's lookup (~0.3 s per 100,000 ids in 10M label rows; 0.02 s from one chunk).
        # Column by column, each column's chunks freed once copied: the peak is the table
        # plus its largest column.
        columns = dict(zip(table.column_names, table.columns, strict=True))
        del table
        for name in columns:
            columns[name] = _one_chunk(columns[name], pool)
        table = pa.table(columns)
        del columns
        all_hashes = np.concatenate(hashes)
        del hashes  # the batches' arrays: not held through the sort
        return cls(table, "prediction_id" if key == id_column else key, all_hashes)

    def rows(self, ids: pd.Series) -> pd.DataFrame:
        """Every held row (standard column names) whose id text is one of ``ids`` (unique),
        in table order; nulls match nothing."""
        asked = ids.dropna().astype("string").to_numpy(dtype=object)
        found = _text_hashes(pa.array(asked, type=pa.string()))
        by_hash = np.argsort(found)  # sorted needles: 8x faster searches (cache)
        asked, found = asked[by_hash], found[by_hash]
        first = np.searchsorted(self._hashes, found, side="left")
        counts = np.searchsorted(self._hashes, found, side="right") - first
        of_asked = np.repeat(np.arange(len(asked)), counts)
        within = np.arange(len(of_asked)) - np.repeat(np.cumsum(counts) - counts, counts)
        positions = self._order[np.repeat(first, counts) + within]
        in_table_order = np.argsort(positions, kind="stable")  # closer reads; an id's rows
        candidates = self._table.take(positions[in_table_order])  # stay in table order
        expected = asked[of_asked[in_table_order]]
        same_text = pc.equal(candidates.column(self._key), pa.array(expected, type=pa.string()))
        return candidates.filter(same_text).select(self.columns).to_pandas()


def return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``); a no-op on
    another C library.

    glibc keeps what a process frees for reuse, in pieces it returns to the system only
    when trimmed: after reading 1.07M held label rows (batch by batch, then joined) the
    process kept ~160 MiB for ~70 MiB of labels, and a trim handed back ~70 MiB of it,
    which a day ten times larger would otherwise carry through all of its chunks.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def _one_chunk(values: pa.ChunkedArray, pool: pa.MemoryPool) -> pa.Array:
    """``values`` as one array, copied unless it is one already (text past 2 GiB as
    ``large_string``, whose offsets are 64-bit)."""
    if values.num_chunks == 1:
        return values.chunk(0)
    if pa.types.is_string(values.type) and values.nbytes >= STRING_BYTES_LIMIT:
        values = values.cast(pa.large_string())
    return values.combine_chunks(memory_pool=pool)


def _text_hashes(values: pa.Array | pa.ChunkedArray, slice_rows: int = 1 << 16) -> np.ndarray:
    """A 64-bit hash of each text (null: a hash no lookup asks for, as nulls match nothing),
    ``slice_rows`` at a time: each slice is turned into Python strings to be hashed, and a
    million of them at once took ~0.2 GB."""
    return np.concatenate(
        [
            pd.util.hash_array(values.slice(start, slice_rows).to_numpy(zero_copy_only=False),
                               categorize=False)
            for start in range(0, len(values), slice_rows)
        ]
        or [np.array([], dtype=np.uint64)]
    )  # fmt: skip
