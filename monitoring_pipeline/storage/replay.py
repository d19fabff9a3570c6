"""The database a replay (``monitoring-pipeline backtest``) writes to, and its copy of the
Postgres-table sources.

A replay recomputes every table of ``monitoring`` with the labels of each past day, and its
sensors record alerts: none of that may touch the production tables, so it works in a
database of its own on the same server, ``<monitoring database>_backtest``, dropped and
created fresh each time. Table sources live in the monitoring database, so the rows of the
replayed period are copied over (predictions scored in the period, labels recorded in it);
file sources are read where they are.
"""

from __future__ import annotations

import tempfile
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from monitoring_pipeline.storage.database import normalize_url, with_database

__all__ = ["BACKTEST_SUFFIX", "backtest_url", "copy_table_slice", "create_fresh_database"]

BACKTEST_SUFFIX = "_backtest"
# Copied through a file once past this size, so a long period never sits in memory.
SPOOL_BYTES = 64 * 1024 * 1024


def backtest_url(monitoring_url: str) -> str:
    """The replay's database: the monitoring database's name + ``_backtest``, same server."""
    name = make_url(normalize_url(monitoring_url)).database
    return with_database(monitoring_url, f"{name}{BACKTEST_SUFFIX}")


def create_fresh_database(url: str) -> None:
    """Drop ``url``'s database (closing its sessions) and create it empty.

    Connects to the server's ``postgres`` database with ``url``'s login, which needs the
    CREATEDB privilege (the embedded server's login has it)."""
    database = make_url(normalize_url(url)).database
    admin = sa.create_engine(
        with_database(url, "postgres"), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(database)
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def copy_table_slice(
    source: Engine,
    target: Engine,
    table: str,
    time_column: str,
    start: datetime,
    end: datetime,
) -> int:
    """Create ``table`` (``schema.name``) in ``target`` as it is in ``source`` (columns,
    types, indexes; replacing a copy made before) and copy the rows whose ``time_column``
    lies in ``[start, end)``.

    Returns the rows copied. COPY on both sides: a day of a large log moves in seconds.
    """
    schema, name = table.split(".")
    metadata = sa.MetaData()
    reflected = sa.Table(name, metadata, schema=schema, autoload_with=source)
    with target.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        metadata.drop_all(conn, tables=[reflected])
        metadata.create_all(conn, tables=[reflected])
    column = reflected.c[time_column]
    compiled = (
        sa.select(reflected).where(column >= start, column < end).compile(dialect=source.dialect)
    )
    quote = target.dialect.identifier_preparer.quote
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as buffer:
        out = source.raw_connection()
        try:
            with out.cursor() as cursor:
                # COPY takes no parameters: the driver quotes the two bounds into the text.
                selected = cursor.mogrify(str(compiled), compiled.params).decode()
                cursor.copy_expert(f"COPY ({selected}) TO STDOUT WITH (FORMAT binary)", buffer)
        finally:
            out.close()
        buffer.seek(0)
        into = target.raw_connection()
        try:
            with into.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY {quote(schema)}.{quote(name)} FROM STDIN WITH (FORMAT binary)", buffer
                )
                copied = cursor.rowcount
            into.commit()
        finally:
            into.close()
    return int(copied)
