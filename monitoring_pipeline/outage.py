"""Notice that PostgreSQL went away while runs execute, and say so in one line.

Left alone, a server stopped mid-run costs a minute and ~200 lines of stderr: Dagster's
storage (dagster-postgres) retries each event it writes five times with backoff, logging
"Retrying failed database connection" on the root logger every time, then prints the
tracebacks. Meanwhile every write of the run has already rolled back (a partition is
replaced in one transaction) and the run cannot even be marked failed (its storage is that
server).

:func:`watch_connections` listens for connection errors (SQLAlchemy's ``handle_error`` on
every engine, and dagster-postgres' retry warnings, which it drops, as it silences the
pool's tracebacks of dead connections); the thread waiting for
the work then calls :meth:`ConnectionWatch.check`, which probes the servers once after such
an error and raises :class:`~monitoring_pipeline.storage.database.DatabaseUnavailableError`
(one line) if one is unreachable. A passing hiccup is probed, found reachable, and ignored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg2
import sqlalchemy as sa

from monitoring_pipeline.storage.database import check_connection

__all__ = ["ConnectionWatch", "watch_connections"]

# dagster_postgres.utils.retry_pg_connection_fn logs this (root logger) before each retry.
DAGSTER_STORAGE_RETRY = "Retrying failed database connection"
# Connection refused, server shut down, connection reset: psycopg2 raises OperationalError
# (InterfaceError on a connection already closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class ConnectionWatch:
    """Remembers that a connection failed; :meth:`check` then tells a passing failure from
    a lost server."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._urls = list(dict.fromkeys(urls))
        self._suspect = threading.Event()

    def suspect(self) -> None:
        """A connection failed somewhere (any thread)."""
        self._suspect.set()

    def check(self) -> None:
        """After a failed connection, reach every server once; raise
        ``DatabaseUnavailableError`` naming the first that cannot be reached."""
        if not self._suspect.is_set():
            return
        self._suspect.clear()
        for url in self._urls:
            check_connection(url)


class _DropStorageRetries(logging.Filter):
    def __init__(self, watch: ConnectionWatch) -> None:
        super().__init__()
        self._watch = watch

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(DAGSTER_STORAGE_RETRY):
            self._watch.suspect()
            return False
        return True


@contextmanager
def watch_connections(urls: Sequence[str]) -> Iterator[ConnectionWatch]:
    """A :class:`ConnectionWatch` of ``urls``, fed by every engine's connection errors inside
    the block; dagster-postgres' retry warnings are dropped there (the watch reports)."""
    watch = ConnectionWatch(urls)

    def on_error(context: sa.engine.ExceptionContext) -> None:
        if isinstance(context.original_exception, CONNECTION_ERRORS):
            watch.suspect()

    retries = _DropStorageRetries(watch)
    root = logging.getLogger()
    # The pool logs a traceback for each dead connection it fails to reset: the watch speaks.
    pool = logging.getLogger("sqlalchemy.pool")
    pool_level = pool.level
    sa.event.listen(sa.engine.Engine, "handle_error", on_error)
    root.addFilter(retries)
    pool.setLevel(logging.CRITICAL)
    try:
        yield watch
    finally:
        pool.setLevel(pool_level)
        root.removeFilter(retries)
        sa.event.remove(sa.engine.Engine, "handle_error", on_error)
