"""Replace one partition's rows in several tables at once, bulk-loaded with COPY.

Every (asset, model, partition) write goes through :func:`replace_partitions` (or, for a
day streamed in chunks, :func:`partition_writer`): one transaction deletes the partition's
previous rows and COPYs the new ones, so a re-run replaces rather than duplicates, and a
run killed mid-write leaves the old rows in place. A table partitioned by (model, day)
(``labeled_prediction_rows``, see :mod:`~monitoring_pipeline.storage.day_partitions`) has
its day's partition emptied or created instead of a DELETE. The transaction first takes
an advisory lock per (table, model, partition) (:mod:`monitoring_pipeline.storage.locks`):
two runs of the same partition at once take turns, and the second replaces the first's
rows instead of adding to them.
"""

from __future__ import annotations

import io
import json
import math
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from sqlalchemy.engine import Engine

from monitoring_pipeline.core.value_text import text_values
from monitoring_pipeline.storage.database import report_connection_failure
from monitoring_pipeline.storage.day_partitions import (
    DayPartition,
    attach_day_partition,
    day_partitioned_tables,
    open_day_partition,
)
from monitoring_pipeline.storage.locks import lock_partitions

SCHEMA = "monitoring"
COPY_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class TableRows:
    """Rows to write to ``monitoring.<table>``; ``frame`` holds exactly the table's columns
    except the audit columns ``run_id`` and ``produced_at``, which are added here."""

    table: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class Audit:
    run_id: str
    produced_at: datetime


def json_column(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One JSON object per row from ``columns`` (missing and non-finite values -> null).

    Built column by column with Arrow's string kernels: pandas' ``to_json(lines=True)``
    splits its output in Python and rounds floats to 10 digits; this keeps every float's
    shortest exact representation and runs several times faster.
    """
    if frame.empty:
        return pd.Series([], dtype=object, index=frame.index)
    if not columns:
        return pd.Series("{}", index=frame.index, dtype=object)
    # One pass: '{"a": ' v1 ', "b": ' v2 ... '}' joined with an empty separator.
    pieces: list[object] = []
    for position, name in enumerate(columns):
        pieces.append(("{" if position == 0 else ", ") + json.dumps(str(name)) + ": ")
        pieces.append(_json_values(frame[name]))
    objects = pc.binary_join_element_wise(*pieces, "}", "")
    # Arrow-backed strings: no Python object per row, and COPY's CSV writer takes them as is.
    return pd.Series(pd.arrays.ArrowStringArray(objects.cast(pa.large_string())), index=frame.index)


_CONTROL_CHARACTERS = r"[\x00-\x1f]"


def _json_values(series: pd.Series) -> pa.Array:
    """Each value of ``series`` as JSON text; missing values as ``null``."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.array([_json_scalar(v) for v in series.tolist()], type=pa.string())
    values = pa.array(series, from_pandas=True)
    if pa.types.is_boolean(values.type) or pa.types.is_integer(values.type):
        text = text_values(series)  # a number's or a boolean's JSON is its text
    elif pa.types.is_floating(values.type):
        text = text_values(series.astype("float64"))
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = values.cast(pa.string())  # pandas' str columns arrive as large_string
        if pc.any(pc.match_substring_regex(values, _CONTROL_CHARACTERS)).as_py():
            return pa.array([_json_scalar(v) for v in series.tolist()], type=pa.string())
        escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise('"', escaped, '"', "")
    else:
        return pa.array([_json_scalar(v) for v in series.tolist()], type=pa.string())
    return pc.fill_null(text, "null")


def _json_scalar(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
        return "null"
    if isinstance(value, pd.Timestamp | datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, str) and "\x00" in value:
        # jsonb cannot hold \u0000: a quarantined row keeps its other characters, the NUL
        # shows as U+FFFD (the row's reason names the column that held it).
        return json.dumps(value.replace("\x00", "\ufffd"))
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return "null"
    try:
        return json.dumps(value)
    except TypeError:
        return json.dumps(str(value))


def _quoted(conn: sa.Connection, identifier: str) -> str:
    return conn.dialect.identifier_preparer.quote(identifier)


def _copy_frame(cursor, target: str, frame: pd.DataFrame, quote, *, freeze: bool) -> None:
    """COPY ``frame`` into ``target`` (a quoted, qualified table name) in chunks. Arrow
    writes the CSV (several times faster than pandas): it quotes every string, so an empty
    string stays '' while a null is an unquoted empty field, which is exactly how COPY's CSV
    format tells them apart. ``freeze``: as for :func:`_copy_binary`."""
    columns = ", ".join(quote(column) for column in frame.columns)
    options = "FORMAT csv, FREEZE" if freeze else "FORMAT csv"
    statement = f"COPY {target} ({columns}) FROM STDIN WITH ({options})"
    options = pa_csv.WriteOptions(include_header=False)
    for start in range(0, len(frame), COPY_CHUNK_ROWS):
        chunk = pa.Table.from_pandas(
            frame.iloc[start : start + COPY_CHUNK_ROWS], preserve_index=False
        )
        buffer = io.BytesIO()
        pa_csv.write_csv(chunk, buffer, write_options=options)
        buffer.seek(0)
        cursor.copy_expert(statement, buffer)


def _copy_binary(
    cursor, target: str, rows: pa.Table, quote, jsonb_columns: Sequence[str], *, freeze: bool
) -> None:
    """COPY ``rows`` into ``target`` (a quoted, qualified table name) in PostgreSQL's binary
    format (encoded from Arrow by pgpq): no text is parsed on either side, so typed columns
    and arrays load several times faster than CSV. Arrow types must be the columns' own
    (int16 for smallint, timestamp[us]...). ``freeze``: the rows are stored frozen, for a
    table created or truncated by this transaction."""
    encoders = {
        name: (
            StringEncoderBuilder.new_with_output(rows.schema.field(name), Jsonb())
            if name in jsonb_columns
            else ArrowToPostgresBinaryEncoder.infer_encoder(rows.schema.field(name))
        )
        for name in rows.schema.names
    }
    columns = ", ".join(quote(column) for column in rows.schema.names)
    options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
    statement = f"COPY {target} ({columns}) FROM STDIN WITH ({options})"
    for start in range(0, rows.num_rows, COPY_CHUNK_ROWS):
        encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(rows.schema, encoders)
        buffer = io.BytesIO()
        buffer.write(encoder.write_header())
        for batch in rows.slice(start, COPY_CHUNK_ROWS).to_batches():
            buffer.write(encoder.write_batch(batch))
        buffer.write(encoder.finish())
        buffer.seek(0)
        cursor.copy_expert(statement, buffer)


class _CopyWorker:
    """Runs the COPYs of one transaction, in order, on a thread of their own.

    The server parses and stores a chunk while the caller prepares the next one (psycopg2
    releases the GIL while it waits on the server): on two cores this hides most of the
    load time. At most ``PENDING_COPIES`` chunks wait, so memory stays bounded. A failed
    COPY is raised in the caller at its next write or at :meth:`finish`.
    """

    PENDING_COPIES = 2

    def __init__(self) -> None:
        self._tasks: queue.Queue = queue.Queue(maxsize=self.PENDING_COPIES)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="partition-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                if task is None:
                    return
                if self._failure is None:  # after a failure, drain without running
                    try:
                        task()
                    except BaseException as exc:  # raised in the caller
                        report_connection_failure(exc)
                        self._failure = exc
            finally:
                self._tasks.task_done()

    def submit(self, task) -> None:
        self._raise_failure()
        self._tasks.put(task)

    def finish(self) -> None:
        """Wait for every submitted COPY; raise the first failure."""
        self._tasks.put(None)
        self._thread.join()
        self._raise_failure()

    def finish_pending(self) -> None:
        """Wait until every submitted COPY has run (the connection is then free); raise the
        first failure. The thread keeps serving later submissions."""
        self._tasks.join()
        self._raise_failure()

    def finish_quietly(self) -> None:
        """Stop the thread without raising (the block is already failing, or finished)."""
        if self._thread.is_alive():
            self._failure = self._failure or RuntimeError("partition write abandoned")
            self._tasks.put(None)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


class PartitionWriter:
    """COPYs rows into partition tables inside an open transaction (see :func:`partition_writer`).

    ``write`` may be called many times per table: a large day goes in chunk by chunk. The
    COPYs run on a background thread (:class:`_CopyWorker`), in call order.
    """

    def __init__(
        self,
        conn: sa.Connection,
        cursor,
        tables: Sequence[str],
        audit: Audit,
        worker: _CopyWorker,
        *,
        model_name: str,
        partition_date: date,
        day_partitions: dict[str, DayPartition],
    ) -> None:
        self._conn = conn
        self._day_partitions = day_partitions
        self._key = {"model_name": model_name, "partition_date": partition_date}
        self._cursor = cursor
        self._audit = audit
        self._worker = worker
        self.written: dict[str, int] = {table: 0 for table in tables}

    def write(self, table: str, frame: pd.DataFrame) -> None:
        """COPY ``frame`` (the table's columns but the audit ones) into ``monitoring.<table>``."""
        if table not in self.written:
            raise ValueError(f"table {table!r} was not cleared by this partition writer")
        if frame.empty:
            return
        stamped = frame.assign(
            run_id=self._audit.run_id, produced_at=pd.Timestamp(self._audit.produced_at)
        )
        quote = self._conn.dialect.identifier_preparer.quote
        target, freeze = self._target(table)
        self._worker.submit(
            lambda: _copy_frame(self._cursor, target, stamped, quote, freeze=freeze)
        )
        self.written[table] += len(frame)

    def write_arrow(self, table: str, rows: pa.Table, jsonb_columns: Sequence[str] = ()) -> None:
        """COPY ``rows`` (Arrow types matching the table's columns but the audit ones) into
        ``monitoring.<table>`` in binary format; ``jsonb_columns`` hold JSON text."""
        if table not in self.written:
            raise ValueError(f"table {table!r} was not cleared by this partition writer")
        if rows.num_rows == 0:
            return
        produced_at = pa.scalar(
            pd.Timestamp(self._audit.produced_at), type=pa.timestamp("us", tz="UTC")
        )
        stamped = rows.append_column(
            "run_id", pa.repeat(pa.scalar(self._audit.run_id), rows.num_rows)
        ).append_column("produced_at", pa.repeat(produced_at, rows.num_rows))
        quote = self._conn.dialect.identifier_preparer.quote
        target, freeze = self._target(table)
        self._worker.submit(
            lambda: _copy_binary(self._cursor, target, stamped, quote, jsonb_columns, freeze=freeze)
        )
        self.written[table] += rows.num_rows

    def day_partition(self, table: str) -> DayPartition | None:
        """The day's partition of ``table`` this writer fills (None: not partitioned by
        day)."""
        return self._day_partitions.get(table)

    def partition_table(self, table: str) -> str:
        """The qualified name of the table this writer fills with the day's rows of
        ``table``: its day partition for a table partitioned by day, else ``table``."""
        return self._target(table)[0]

    def _target(self, table: str) -> tuple[str, bool]:
        """Where the day's rows of ``table`` are COPYed, and whether frozen (a day
        partition, created or truncated by this transaction)."""
        partition = self._day_partitions.get(table)
        if partition is not None:
            return partition.qualified_name, True
        return f"{_quoted(self._conn, SCHEMA)}.{_quoted(self._conn, table)}", False

    def connection(self) -> sa.Connection:
        """The transaction's connection once every COPY submitted so far has run: a query on
        it sees the partition as written so far (and the other partitions as committed)."""
        self._worker.finish_pending()
        return self._conn

    def clear(self, tables: Sequence[str]) -> dict[str, int]:
        """Delete this partition's rows from ``tables`` (other tables than the ones written)
        in the same transaction; returns the rows removed per table. Used when a day's
        results downstream of this write would otherwise stay behind as if still current.

        Takes those tables' partition locks first (after the writer's own, so possibly out of
        sorted order: no writer holds a downstream table's lock while waiting for one of a
        writer's own tables, so no cycle), waiting for a run writing them to commit: its
        rows are then deleted too, not left behind."""
        self._worker.finish_pending()
        lock_partitions(self._conn, tables=[f"{SCHEMA}.{table}" for table in tables], **self._key)
        removed = {}
        for table in tables:
            result = self._conn.execute(
                sa.text(
                    f"DELETE FROM {_quoted(self._conn, SCHEMA)}.{_quoted(self._conn, table)} "
                    "WHERE model_name = :model_name AND partition_date = :partition_date"
                ),
                self._key,
            )
            removed[table] = result.rowcount
        return removed


@contextmanager
def partition_writer(
    engine: Engine,
    *,
    model_name: str,
    partition_date: date,
    tables: Sequence[str],
    audit: Audit,
) -> Iterator[PartitionWriter]:
    """One transaction that replaces the partition (``model_name``, ``partition_date``) of
    each table: on entry it takes the partition's advisory lock of every table (waiting, after
    one logged warning, while another run writes the same partition: see
    :func:`~monitoring_pipeline.storage.locks.lock_partitions`) and deletes the previous rows;
    rows are COPYed by :meth:`PartitionWriter.write` as they are produced, and everything
    commits on a clean exit. An exception inside the block (or a killed process) rolls back
    to the previous contents and releases the locks."""
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        worker = None
        try:
            # Before the DELETEs: a DELETE that ran while another writer of this partition
            # had not committed yet would miss that writer's rows, and both would stay.
            lock_partitions(
                conn,
                tables=[f"{SCHEMA}.{table}" for table in tables],
                model_name=model_name,
                partition_date=partition_date,
            )
            day_partitioned = day_partitioned_tables(conn, SCHEMA, tables)
            day_partitions = {
                table: open_day_partition(conn, SCHEMA, table, model_name, partition_date)
                for table in tables
                if table in day_partitioned
            }
            for table in tables:
                if table in day_partitioned:
                    continue  # its partition was emptied or created above
                conn.execute(
                    sa.text(
                        f"DELETE FROM {_quoted(conn, SCHEMA)}.{_quoted(conn, table)} "
                        "WHERE model_name = :model_name AND partition_date = :partition_date"
                    ),
                    {"model_name": model_name, "partition_date": partition_date},
                )
            worker = _CopyWorker()
            yield PartitionWriter(
                conn,
                cursor,
                tables,
                audit,
                worker,
                model_name=model_name,
                partition_date=partition_date,
                day_partitions=day_partitions,
            )
            worker.finish()  # every COPY done (or its failure raised) before the commit
            # Last before the commit: ATTACH's lock on the parent makes other ATTACHes wait.
            for partition in day_partitions.values():
                attach_day_partition(conn, partition)
        finally:
            if worker is not None:
                worker.finish_quietly()
            cursor.close()


def replace_partitions(
    engine: Engine,
    *,
    model_name: str,
    partition_date: date,
    rows: Iterable[TableRows],
    audit: Audit,
) -> dict[str, int]:
    """Atomically replace the rows of (``model_name``, ``partition_date``) in each table.

    Returns the number of rows written per table.
    """
    rows = list(rows)
    with partition_writer(
        engine,
        model_name=model_name,
        partition_date=partition_date,
        tables=[table_rows.table for table_rows in rows],
        audit=audit,
    ) as writer:
        for table_rows in rows:
            writer.write(table_rows.table, table_rows.frame)
    return writer.written


def dumps(value: object) -> str:
    return json.dumps(value, default=str, sort_keys=True)
