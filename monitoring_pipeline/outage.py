"""Notice that PostgreSQL went away while runs execute, and say so in one line.

Left alone, a server stopped mid-run costs a minute and ~200 lines of stderr: Dagster's
storage (dagster-postgres) retries each event it writes five times with backoff, logging
"Retrying failed database connection" on the root logger every time, then prints the
tracebacks. Meanwhile every write of the run has already rolled back (a partition is
replaced in one transaction) and the run cannot even be marked failed (its storage is that
server).

:func:`watch_connections` listens for connection errors (SQLAlchemy's ``handle_error`` on
every engine, COPYs on driver cursors through
:func:`~monitoring_pipeline.storage.database.report_connection_failure`, and
dagster-postgres' retry warnings, which it drops, as it silences the pool's tracebacks of
dead connections); the thread waiting for the work then calls
:meth:`ConnectionWatch.check`, which probes the servers once after such an error and raises
:class:`~monitoring_pipeline.storage.database.DatabaseUnavailableError` (one line) if one is
unreachable. A passing hiccup is probed, found reachable, and ignored.

What the process writes to ``sys.stderr`` between a connection error (or text only a lost
connection prints, ``LOST_CONNECTION_TEXTS``) and the probe's answer is held back: released
when the servers answer, dropped when one is gone (Dagster writes
"Exception while writing logger call to event log: ..." there when the event log it
cannot reach refuses an event; the one line says it all).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from monitoring_pipeline.storage.database import (
    CONNECTION_ERRORS,
    check_connection,
    connection_failures_to,
)

__all__ = ["ConnectionWatch", "watch_connections"]

# dagster_postgres.utils.retry_pg_connection_fn logs this (root logger) before each retry.
DAGSTER_STORAGE_RETRY = "Retrying failed database connection"
# What only a lost connection prints. psycopg2 itself prints some of it (from C, in a
# COPY's thread: "psycopg2.errors.AdminShutdown: terminating connection ... SystemError:
# <function decode> returned a result with an exception set") before any exception reaches
# code that could report it, so the text itself starts the hold.
LOST_CONNECTION_TEXTS = (
    "terminating connection due to",
    "server closed the connection unexpectedly",
    "the database system is shutting down",
    "could not receive data from server",
    "connection already closed",
)


class ConnectionWatch:
    """Remembers that a connection failed; :meth:`check` then tells a passing failure from
    a lost server."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._urls = list(dict.fromkeys(urls))
        self._suspect = threading.Event()
        # Set from a connection error until a probe reaches every server again.
        self.holding = threading.Event()
        self._held: list[str] = []
        self._lock = threading.Lock()
        self.stderr: io.TextIOBase | None = None
        # Set once a probe found a server gone: from then on stderr says nothing but
        # :meth:`say` (a COPY's thread may still print its loss after the probe).
        self.gone = threading.Event()

    def suspect(self) -> None:
        """A connection failed somewhere (any thread)."""
        self.holding.set()
        self._suspect.set()

    def hold(self, text: str) -> None:
        """Keep ``text`` (written to stderr meanwhile) until the probe answers."""
        with self._lock:
            self._held.append(text)

    def check(self) -> None:
        """After a failed connection, reach every server once; raise
        ``DatabaseUnavailableError`` naming the first that cannot be reached (what was
        written to stderr meanwhile is dropped), else release what was held."""
        if not self._suspect.is_set():
            return
        self._suspect.clear()
        try:
            for url in self._urls:
                check_connection(url)
        except BaseException:
            with self._lock:
                self._held.clear()
                self.gone.set()  # the caller's one line goes out through say()
            raise
        self.release()

    def say(self, line: str) -> None:
        """Write ``line`` to the real stderr, held or not (the one line of a lost server)."""
        if self.stderr is not None:
            self.stderr.write(line + "\n")
            self.stderr.flush()

    def release(self) -> None:
        """Write out what was held, and hold no more."""
        with self._lock:
            held, self._held = self._held, []
            self.holding.clear()
        if held and self.stderr is not None and not self.gone.is_set():
            self.stderr.write("".join(held))
            self.stderr.flush()


class _HeldStderr(io.TextIOBase):
    """``sys.stderr`` while a watch runs: written through, except while the watch holds.

    Text goes on by whole lines (or at ``flush``): Python prints an exception in pieces
    ("psycopg2.errors", ".", "AdminShutdown", ": ", then the message), and only the whole
    line shows a lost connection's text, so no piece may pass before the line is seen.
    """

    def __init__(self, stream, watch: ConnectionWatch) -> None:
        self._stream = stream
        self._watch = watch
        self._partial = ""  # written since the last line end, not yet passed on
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            pending = self._partial + text
            end = max(pending.rfind("\n"), pending.rfind("\r")) + 1
            self._partial = pending[end:]
            if end:
                self._pass_on(pending[:end])
        return len(text)

    def flush(self) -> None:
        with self._lock:
            pending, self._partial = self._partial, ""
            if pending:
                self._pass_on(pending)
        self._stream.flush()

    def _pass_on(self, text: str) -> None:
        if self._watch.gone.is_set():
            return  # a server is gone: the caller's one line says it all
        if not self._watch.holding.is_set() and any(t in text for t in LOST_CONNECTION_TEXTS):
            self._watch.suspect()  # probed at the next check; released if the server answers
        if self._watch.holding.is_set():
            self._watch.hold(text)
        else:
            self._stream.write(text)

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()


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
    stderr = sys.stderr
    watch.stderr = stderr
    held_stderr = sys.stderr = _HeldStderr(stderr, watch)
    try:
        with connection_failures_to(watch.suspect):
            yield watch
    finally:
        held_stderr.flush()  # a last line without its end
        sys.stderr = stderr
        watch.release()  # the work ended before a probe answered: nothing is lost
        pool.setLevel(pool_level)
        root.removeFilter(retries)
        sa.event.remove(sa.engine.Engine, "handle_error", on_error)
