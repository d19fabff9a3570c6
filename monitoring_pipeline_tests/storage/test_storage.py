"""Storage on the real embedded PostgreSQL: migrations, atomic partition replace, roles, errors."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime

import pandas as pd
import psycopg2
import pyarrow as pa
import pytest
import sqlalchemy as sa

from monitoring_pipeline.storage import writes
from monitoring_pipeline.storage.credentials import READER_ROLE
from monitoring_pipeline.storage.database import (
    DatabaseUnavailableError,
    check_connection,
    create_database_if_missing,
    create_engine,
    normalize_url,
    redact,
    resolve_server,
    stop_embedded_server,
    with_database,
    with_login,
)
from monitoring_pipeline.storage.migrations import (
    MigrationError,
    apply_migrations,
    discover_migrations,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

DAY = date(2026, 11, 1)
AUDIT = Audit(run_id="run-1", produced_at=datetime(2026, 11, 2, tzinfo=UTC))


def quarantine_rows(reasons: list[str], ids: list[str | None] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": DAY,
            "model_name": "m",
            "source": "predictions",
            "prediction_id": ids or [f"p{i}" for i in range(len(reasons))],
            "reason": reasons,
            "row_data": ['{"a": 1}'] * len(reasons),
        }
    )


def fetch(engine, query: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(query))]


def _write_old_row(engine) -> None:
    """The partition (m, DAY) of quarantined_rows holds one row, reason "old"."""
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("quarantined_rows", quarantine_rows(["old"]))],
        audit=AUDIT,
    )


def test_no_migration_found_is_an_error_not_an_empty_schema(tmp_path):
    with pytest.raises(MigrationError, match="no migration files found"):
        discover_migrations(tmp_path)


def test_migrations_are_recorded_and_idempotent(engine):
    files = [m.filename for m in discover_migrations()]
    assert files[0] == "001_create_monitoring_schema.sql"
    recorded = fetch(engine, "SELECT filename FROM monitoring.schema_migrations ORDER BY version")
    assert [r[0] for r in recorded] == files
    assert apply_migrations(engine) == []  # already applied in the template database
    tables = {
        r[0]
        for r in fetch(engine, "SELECT tablename FROM pg_tables WHERE schemaname = 'monitoring'")
    }
    assert {
        "labeled_prediction_rows",
        "labeled_prediction_layouts",
        "quarantined_rows",
        "quality_results",
        "ingestion_stats",
        "label_status",
    } <= tables


def test_every_published_column_is_documented(engine):
    undocumented = fetch(
        engine,
        """
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        WHERE c.table_schema = 'monitoring' AND c.table_name <> 'schema_migrations'
          AND c.column_name NOT IN ('run_id', 'produced_at', 'partition_date', 'model_name')
          AND col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, c.ordinal_position) IS NULL
        """,
    )
    assert undocumented == []


def test_replace_partition_replaces_instead_of_duplicating(engine):
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("quarantined_rows", quarantine_rows(["a", "b", "c"]))],
        audit=AUDIT,
    )
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("quarantined_rows", quarantine_rows(["x", "y"]))],
        audit=Audit("run-2", AUDIT.produced_at),
    )
    other_day = quarantine_rows(["keep"]).assign(partition_date=date(2026, 11, 2))
    replace_partitions(
        engine,
        model_name="m",
        partition_date=date(2026, 11, 2),
        rows=[TableRows("quarantined_rows", other_day)],
        audit=AUDIT,
    )
    rows = fetch(
        engine,
        "SELECT partition_date, reason, run_id FROM monitoring.quarantined_rows ORDER BY 1, 2",
    )
    assert rows == [(DAY, "x", "run-2"), (DAY, "y", "run-2"), (date(2026, 11, 2), "keep", "run-1")]


def test_failed_write_leaves_previous_rows_intact(engine):
    _write_old_row(engine)
    bad = quarantine_rows(["new"]).assign(
        source="neither"
    )  # violates the CHECK constraint mid-COPY
    with pytest.raises(psycopg2.errors.CheckViolation):
        replace_partitions(
            engine,
            model_name="m",
            partition_date=DAY,
            rows=[TableRows("quarantined_rows", bad)],
            audit=AUDIT,
        )
    assert fetch(engine, "SELECT reason FROM monitoring.quarantined_rows") == [("old",)]


def test_copy_round_trip_keeps_nulls_empty_strings_quotes_and_json(engine):
    frame = quarantine_rows(['say "hi", then; leave', ""], ids=[None, "p,1"]).assign(
        row_data=writes.json_column(
            pd.DataFrame({"a": [1.5, None], "b": ["x\ny", "z"]}), ["a", "b"]
        ).to_numpy()
    )
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("quarantined_rows", frame)],
        audit=AUDIT,
    )
    rows = fetch(
        engine,
        "SELECT prediction_id, reason, row_data->>'a', row_data->>'b' FROM monitoring.quarantined_rows ORDER BY reason DESC",
    )
    assert rows == [(None, 'say "hi", then; leave', "1.5", "x\ny"), ("p,1", "", None, "z")]


def test_copy_handles_more_rows_than_one_chunk(engine, monkeypatch):
    monkeypatch.setattr(writes, "COPY_CHUNK_ROWS", 7)
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("quarantined_rows", quarantine_rows([f"r{i}" for i in range(30)]))],
        audit=AUDIT,
    )
    assert fetch(engine, "SELECT count(*) FROM monitoring.quarantined_rows") == [(30,)]


@pytest.fixture(scope="module")
def migrated_database(pg_admin_url: str) -> str:
    """A database created and migrated the way the product does it (not copied from the
    test template: database-level grants such as TEMPORARY are not copied by CREATE DATABASE
    ... TEMPLATE), holding one monitoring row and a raw source table."""
    name = "reader_boundary"
    create_database_if_missing(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    engine = create_engine(url)
    apply_migrations(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE SCHEMA IF NOT EXISTS demo_source; "
                "CREATE TABLE IF NOT EXISTS demo_source.secret (x int)"
            )
        )
    replace_partitions(
        engine,
        model_name="m",
        partition_date=DAY,
        rows=[TableRows("label_status", LABEL_STATUS_ROW)],
        audit=AUDIT,
    )
    engine.dispose()
    return url


LABEL_STATUS_ROW = pd.DataFrame(
    {
        "partition_date": [DAY],
        "model_name": "m",
        "predictions": 1,
        "labelled": 1,
        "corrected": 0,
        "positives": 0,
    }
)


WRITES_THE_READER_MAY_NOT_DO = {
    "CREATE TEMP TABLE mine (x int)": "permission denied to create temporary tables",
    # label_status: a table the reader may read (quarantined_rows it may not even read).
    "INSERT INTO monitoring.label_status (partition_date, model_name, predictions, labelled, "
    "corrected, positives) VALUES ('2026-11-01', 'm', 1, 1, 0, 0)": "permission denied for table",
    "UPDATE monitoring.label_status SET predictions = 0": "permission denied for table",
    "DELETE FROM monitoring.label_status": "permission denied for table",
    "CREATE TABLE public.mine (x int)": "permission denied for schema public",
    "CREATE TABLE monitoring.mine (x int)": "permission denied for schema monitoring",
    "CREATE VIEW monitoring.mine AS SELECT 1": "permission denied for schema monitoring",
    "SELECT * FROM demo_source.secret": "permission denied for schema demo_source",
    "SELECT lo_create(0)": "permission denied for function lo_create",
}


@pytest.mark.parametrize("statement", WRITES_THE_READER_MAY_NOT_DO)
def test_reader_cannot_write_even_after_switching_read_only_off(
    migrated_database, pg_credentials, statement
):
    reader = sa.create_engine(
        with_login(migrated_database, READER_ROLE, pg_credentials.reader_password),
        poolclass=sa.pool.NullPool,
        # One transaction per statement, so that the switch below applies to the next one.
        isolation_level="AUTOCOMMIT",
    )
    try:
        with reader.connect() as conn:
            conn.execute(sa.text("SET default_transaction_read_only = off"))
            assert conn.execute(sa.text("SHOW default_transaction_read_only")).scalar() == "off"
            assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "off"
            assert (
                conn.execute(sa.text("SELECT count(*) FROM monitoring.label_status")).scalar() == 1
            )
            with pytest.raises(sa.exc.ProgrammingError) as refused:
                conn.execute(sa.text(statement))
        # Refused by the role's privileges, not by a read-only transaction.
        assert WRITES_THE_READER_MAY_NOT_DO[statement] in str(refused.value.orig)
    finally:
        reader.dispose()


def test_reader_enters_no_database_but_monitoring(tmp_path):
    """On a server the product set up (resolve_server), the reader cannot even connect to
    Dagster's database or the maintenance ones, let alone write temporary tables there."""
    from monitoring_pipeline.settings import load_settings

    settings = load_settings({"MONITORING_HOME": str(tmp_path)})
    urls = resolve_server(settings)
    assert urls.reader is not None
    check_connection(urls.reader)
    try:
        for database in ("dagster", "postgres", "template1"):
            with pytest.raises(DatabaseUnavailableError, match="permission denied for database"):
                check_connection(with_database(urls.reader, database))
    finally:
        stop_embedded_server(settings.pgdata)


def test_unreachable_server_fails_with_one_line_naming_the_url(tmp_path):
    url = f"postgresql://analyst:secret@/nowhere?host={tmp_path}"
    with pytest.raises(DatabaseUnavailableError) as info:
        check_connection(normalize_url(url))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cannot use PostgreSQL at postgresql+psycopg2://analyst:***@/nowhere")
    assert "secret" not in message
    assert "No such file or directory" in message


def test_refused_credentials_name_the_reason(database_url, pg_credentials):
    wrong_password = with_login(database_url, "postgres", "not-the-password")
    with pytest.raises(
        DatabaseUnavailableError, match='password authentication failed for user "postgres"'
    ) as info:
        check_connection(wrong_password)
    assert "not-the-password" not in str(info.value)
    assert pg_credentials.superuser_password not in str(info.value)


def test_configured_url_is_used_and_checked(tmp_path):
    from monitoring_pipeline.settings import load_settings

    settings = load_settings(
        {
            "MONITORING_DATABASE_URL": f"postgresql://u@/db?host={tmp_path}",
            "MONITORING_HOME": str(tmp_path),
        }
    )
    with pytest.raises(
        DatabaseUnavailableError, match="cannot use PostgreSQL at postgresql\\+psycopg2://u@/db"
    ):
        resolve_server(settings)
    assert not (tmp_path / "pgdata").exists()  # no embedded server was started instead


def test_redact_hides_passwords():
    assert redact("postgresql+psycopg2://u:pw@h:5432/db") == "postgresql+psycopg2://u:***@h:5432/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"


def _streamed_table(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.streamed (id text, x text, n integer)"))
        conn.execute(
            sa.text(
                "INSERT INTO public.streamed SELECT lpad(g::text, 4, '0'), "
                "CASE WHEN g % 5 = 0 THEN NULL WHEN g % 5 = 1 THEN '' "
                "WHEN g % 5 = 2 THEN 'not a number' ELSE (g / 4.0)::text END, g "
                "FROM generate_series(1, 1000) AS g"
            )
        )


STREAM_TYPES = {"id": pa.string(), "x": pa.string(), "n": pa.int64()}


def test_streamed_copy_yields_bounded_chunks_with_every_row_and_type(engine, monkeypatch):
    from monitoring_pipeline.storage import reads

    _streamed_table(engine)
    monkeypatch.setattr(reads, "COPY_BLOCK_BYTES", 1 << 10)  # many small blocks
    query = sa.text("SELECT id, x, n FROM public.streamed WHERE n <= :last ORDER BY n")
    chunks = list(reads.iter_copy_query(engine, query, {"last": 1000}, STREAM_TYPES, chunk_rows=90))
    assert len(chunks) > 5 and all(len(c) >= 90 for c in chunks[:-1])
    assert all(len(c) < 90 + 200 for c in chunks)  # a chunk is at most one block over
    frame = pd.concat(chunks, ignore_index=True)
    assert frame.n.tolist() == list(range(1, 1001))
    assert frame.id.iloc[0] == "0001"  # text stays text
    assert frame.x.isna().sum() == 200 and (frame.x == "").sum() == 200  # NULL vs ''

    # Numbers as text parse as numbers; anything else is missing (monitoring.number_or_null).
    as_numbers = sa.text(
        "SELECT id, monitoring.number_or_null(x) AS x, n FROM public.streamed "
        "WHERE n <= :last ORDER BY n"
    )
    types = STREAM_TYPES | {"x": pa.float64()}
    (numbers,) = reads.iter_copy_query(engine, as_numbers, {"last": 10}, types)
    expected = [None, None, 0.75, 1.0, None, None, None, 2.0, 2.25, None]
    assert [None if pd.isna(v) else v for v in numbers.x] == expected
    assert numbers.x.dtype == "float64"

    # No rows: no chunks.
    assert list(reads.iter_copy_query(engine, query, {"last": 0}, STREAM_TYPES)) == []


def test_copy_reads_keep_text_that_looks_like_a_missing_marker(engine):
    """Only COPY's NULL is null: a cohort or category named "NA", "NULL" or "nan" stays."""
    from monitoring_pipeline.storage import reads

    words = ["NA", "NULL", "nan", "N/A", "None", "null", "#N/A", ""]
    query = sa.text(
        "SELECT i, w FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS u(w, i) "
        "UNION ALL SELECT 0, NULL ORDER BY 1"
    )
    params = {"words": "{" + ",".join(f'"{w}"' for w in words) + "}"}
    types = {"i": pa.int64(), "w": pa.string()}
    (streamed,) = reads.iter_copy_query(engine, query, params, types)
    with engine.connect() as conn:
        whole = reads.copy_query_to_frame(conn, query.bindparams(**params), ["w"])
    for frame in (streamed, whole):
        assert sorted(frame.w.dropna()) == sorted(words) and frame.w.isna().sum() == 1


def test_streamed_copy_stopped_early_or_failing_leaves_the_engine_usable(engine, monkeypatch):
    from monitoring_pipeline.storage import reads

    _streamed_table(engine)
    monkeypatch.setattr(reads, "COPY_BLOCK_BYTES", 1 << 10)
    query = sa.text("SELECT id, x, n FROM public.streamed, generate_series(1, :times)")
    stream = reads.iter_copy_query(engine, query, {"times": 50}, STREAM_TYPES, chunk_rows=100)
    first = next(stream)
    stream.close()  # the consumer stops after one chunk: the COPY is cut off cleanly
    assert len(first) >= 100
    failing = sa.text("SELECT id, x, n / (n - :at) AS n FROM public.streamed ORDER BY n")
    with pytest.raises(psycopg2.errors.DivisionByZero):
        list(reads.iter_copy_query(engine, failing, {"at": 700}, STREAM_TYPES, chunk_rows=50))
    assert fetch(engine, "SELECT count(*) FROM public.streamed") == [(1000,)]


def test_json_column_is_valid_json_with_exact_floats_and_nulls():
    import json

    import numpy as np

    frame = pd.DataFrame(
        {
            "x": [0.1 + 0.2, np.nan, np.inf, 50600.0],
            "n": pd.array([1, None, 3, -4], dtype="Int64"),
            "s": pd.array(['q"uo\\te', None, "", "tab\there"], dtype="str"),
            "flag": [True, False, True, False],
            "mixed": pd.array(["1", 2, None, 3.5], dtype=object),
        },
        index=[10, 11, 12, 13],
    )
    rows = [json.loads(text) for text in writes.json_column(frame, list(frame.columns))]
    assert rows[0] == {"x": 0.1 + 0.2, "n": 1, "s": 'q"uo\\te', "flag": True, "mixed": "1"}
    assert rows[1] == {"x": None, "n": None, "s": None, "flag": False, "mixed": 2}
    assert rows[2]["x"] is None and rows[2]["s"] == "" and rows[2]["mixed"] is None
    assert rows[3] == {"x": 50600, "n": -4, "s": "tab\there", "flag": False, "mixed": 3.5}
    assert writes.json_column(frame, ["x"]).index.tolist() == [10, 11, 12, 13]
    assert writes.json_column(frame, []).tolist() == ["{}"] * 4


def test_partition_writer_appends_chunks_in_one_transaction(engine):
    _write_old_row(engine)
    with writes.partition_writer(
        engine, model_name="m", partition_date=DAY, tables=["quarantined_rows"], audit=AUDIT
    ) as writer:
        writer.write("quarantined_rows", quarantine_rows(["a", "b"]))
        writer.write("quarantined_rows", quarantine_rows([]))
        writer.write("quarantined_rows", quarantine_rows(["c"]))
        # Inside the transaction the old rows are gone; other sessions still see them.
        assert fetch(engine, "SELECT reason FROM monitoring.quarantined_rows") == [("old",)]
    assert writer.written == {"quarantined_rows": 3}
    rows = fetch(engine, "SELECT reason FROM monitoring.quarantined_rows ORDER BY 1")
    assert rows == [("a",), ("b",), ("c",)]


def test_a_failed_background_copy_is_raised_and_nothing_after_it_is_written(engine):
    """COPYs run on the writer's own thread: the failure of an early chunk still reaches
    the caller (at a later write or at the end) and the whole partition rolls back."""
    _write_old_row(engine)
    with (
        pytest.raises(psycopg2.errors.CheckViolation),
        writes.partition_writer(
            engine, model_name="m", partition_date=DAY, tables=["quarantined_rows"], audit=AUDIT
        ) as writer,
    ):
        writer.write("quarantined_rows", quarantine_rows(["bad"]).assign(source="neither"))
        for i in range(5):
            writer.write("quarantined_rows", quarantine_rows([f"later{i}"]))
    assert fetch(engine, "SELECT reason FROM monitoring.quarantined_rows") == [("old",)]


def test_partition_writer_rolls_back_on_a_failure_after_some_chunks(engine):
    _write_old_row(engine)
    with (
        pytest.raises(RuntimeError, match="source broke"),
        writes.partition_writer(
            engine, model_name="m", partition_date=DAY, tables=["quarantined_rows"], audit=AUDIT
        ) as writer,
    ):
        writer.write("quarantined_rows", quarantine_rows(["new1", "new2"]))
        raise RuntimeError("source broke after the first chunk")
    assert fetch(engine, "SELECT reason FROM monitoring.quarantined_rows") == [("old",)]
    unlisted = writes.partition_writer(
        engine, model_name="m", partition_date=DAY, tables=["quarantined_rows"], audit=AUDIT
    )
    with pytest.raises(ValueError, match="'ingestion_stats' was not cleared"), unlisted as writer:
        writer.write("ingestion_stats", quarantine_rows(["x"]))


def _waiting_advisory_locks(engine) -> int:
    """Advisory locks of this database that some session is waiting for."""
    (count,) = fetch(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )[0]
    return count


def _wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_writers_of_one_partition_take_turns_and_the_second_replaces_the_first(engine, caplog):
    """The first writer holds its transaction open while a second writer of the same
    partition starts: the second waits (and says so), then deletes the first's rows and
    writes its own; without the lock both DELETEs see nothing and both COPYs stay."""
    caplog.set_level(logging.WARNING, logger="monitoring_pipeline.storage.locks")
    _write_old_row(engine)
    first_inside, release_first, second_done = (threading.Event() for _ in range(3))
    failures: list[BaseException] = []

    def write(reasons: list[str], run_id: str, *, hold: bool) -> None:
        try:
            with writes.partition_writer(
                engine,
                model_name="m",
                partition_date=DAY,
                tables=["quarantined_rows", "ingestion_stats"],
                audit=Audit(run_id=run_id, produced_at=AUDIT.produced_at),
            ) as writer:
                writer.write("quarantined_rows", quarantine_rows(reasons))
                if hold:
                    first_inside.set()
                    assert release_first.wait(timeout=60)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    first = threading.Thread(
        target=write, args=(["first a", "first b"], "run-first"), kwargs={"hold": True}
    )
    second = threading.Thread(
        target=lambda: (
            write(["second a", "second b"], "run-second", hold=False),
            second_done.set(),
        )
    )
    first.start()
    assert first_inside.wait(timeout=30)
    second.start()
    try:
        _wait_for(lambda: _waiting_advisory_locks(engine) == 1, "the second writer to wait")
        assert not second_done.is_set()
        # Another day of the same model is not held up by the first writer.
        other_day = replace_partitions(
            engine,
            model_name="m",
            partition_date=date(2026, 11, 2),
            rows=[TableRows("quarantined_rows", quarantine_rows(["other day"]))],
            audit=AUDIT,
        )
        assert other_day == {"quarantined_rows": 1}
    finally:
        release_first.set()
        first.join(timeout=30)
        second.join(timeout=30)
    assert failures == []
    rows = fetch(
        engine,
        "SELECT reason, run_id FROM monitoring.quarantined_rows "
        f"WHERE partition_date = '{DAY}' ORDER BY reason",
    )
    assert rows == [("second a", "run-second"), ("second b", "run-second")]
    waiting = [r.getMessage() for r in caplog.records if r.name.endswith("storage.locks")]
    # Locks are taken in sorted order, so the second writer queued on the first name. The
    # server releases the first writer's locks one by one at its commit, so the second can
    # find the next lock still held for an instant and say so once more.
    expected = [
        f"waiting for another run writing m 2026-11-01 monitoring.{table}"
        for table in ("ingestion_stats", "quarantined_rows")
    ]
    assert waiting in (expected[:1], expected)


def _label_status_row(predictions: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"partition_date": DAY, "model_name": "m", "predictions": predictions,
             "labelled": 0, "coverage": 0.0, "corrected": 0, "positives": 0,
             "label_lag_p50_hours": None, "label_lag_p90_hours": None,
             "label_lag_p99_hours": None, "label_lag_max_hours": None}
        ]
    )  # fmt: skip


def test_clearing_downstream_rows_waits_for_a_run_writing_them(engine, caplog):
    """A blocked re-run clears the day's downstream tables (PartitionWriter.clear) while
    another run is writing one of them: the clear waits for that write to commit and then
    removes its rows too, instead of missing them and leaving them as if current."""
    caplog.set_level(logging.WARNING, logger="monitoring_pipeline.storage.locks")
    downstream_inside, release_downstream = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write_downstream() -> None:
        try:
            with writes.partition_writer(
                engine, model_name="m", partition_date=DAY, tables=["label_status"], audit=AUDIT
            ) as writer:
                writer.write("label_status", _label_status_row(7))
                downstream_inside.set()
                assert release_downstream.wait(timeout=60)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    removed: dict[str, int] = {}

    def clear_downstream() -> None:
        try:
            with writes.partition_writer(
                engine, model_name="m", partition_date=DAY, tables=["quarantined_rows"], audit=AUDIT
            ) as writer:
                writer.write("quarantined_rows", quarantine_rows(["blocked day"]))
                removed.update(writer.clear(["label_status"]))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    downstream = threading.Thread(target=write_downstream)
    downstream.start()
    assert downstream_inside.wait(timeout=30)
    clearing = threading.Thread(target=clear_downstream)
    clearing.start()
    try:
        _wait_for(lambda: _waiting_advisory_locks(engine) == 1, "the clear to wait")
    finally:
        release_downstream.set()
        downstream.join(timeout=30)
        clearing.join(timeout=30)
    assert failures == []
    assert removed == {"label_status": 1}
    assert fetch(engine, "SELECT count(*) FROM monitoring.label_status") == [(0,)]
    assert [r.getMessage() for r in caplog.records] == [
        "waiting for another run writing m 2026-11-01 monitoring.label_status"
    ]
