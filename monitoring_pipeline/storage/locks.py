"""Transaction-scoped advisory locks that make two writers of the same rows take turns.

Two runs of one (model, day) can overlap (a backfill, ``late_labels_sensor`` and a manual
run under ``max_concurrent_runs: 2``). Each replaces the partition with DELETE-then-COPY
in one transaction, and without a lock both DELETEs see nothing of the other's uncommitted
rows, so both COPYs land and the day holds every row twice. A writer therefore first takes
one PostgreSQL advisory lock per (table, model, day) it replaces; a second writer waits
until the first commits or rolls back, then deletes the first's rows and writes its own:
the result equals one run.

Keys: one 64-bit key per lock, computed by the server as
``hashtextextended('["monitoring.<table>", "<model>", "<YYYY-MM-DD>"]', 0)``. The JSON
array names the lock unambiguously whatever the model name holds, and PostgreSQL's
``hashtextextended`` is the function hash partitioning relies on, so every process and
server version computes the same key (unlike Python's ``hash``, salted per process). Two
different names sharing a 64-bit key (odds ~1e-19 per pair) would only make unrelated
writers wait for each other, never lose a row. The locks are ``_xact_`` locks: released by
the commit or rollback, or when a killed client's connection closes, never left behind.

Order: the locks of one writer are taken sorted by name, so two writers of overlapping
sets of tables for the same partition wait in turn instead of deadlocking.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa

logger = logging.getLogger(__name__)

_TRY_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))")
_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


def lock_name(*parts: str) -> str:
    """The text a lock's key is hashed from: ``parts`` as a JSON array.

    >>> lock_name("monitoring.drift", "loan_approval", "2026-10-01")
    '["monitoring.drift", "loan_approval", "2026-10-01"]'
    """
    return json.dumps(list(parts))


def lock_partitions(
    conn: sa.Connection, *, tables: Sequence[str], model_name: str, partition_date: date
) -> None:
    """Take the lock of (``table``, ``model_name``, ``partition_date``) for each of
    ``tables`` (qualified names, e.g. ``monitoring.drift``) inside ``conn``'s transaction,
    in sorted order; held until the transaction ends.

    A lock another transaction holds is waited for, after one warning ``waiting for another
    run writing <model> <day> <table>``.
    """
    day = partition_date.isoformat()
    for table in sorted(set(tables)):
        _acquire(
            conn,
            lock_name(table, model_name, day),
            f"waiting for another run writing {model_name} {day} {table}",
        )


def lock_model_table(conn: sa.Connection, *, table: str, model_name: str) -> None:
    """Take the lock of (``table``, ``model_name``) for rows kept per model, not per day
    (a model's drift bins), inside ``conn``'s transaction; waited for like
    :func:`lock_partitions`."""
    _acquire(
        conn,
        lock_name(table, model_name),
        f"waiting for another run writing {model_name} {table}",
    )


def _acquire(conn: sa.Connection, name: str, waiting_message: str) -> None:
    # Try first, so that waiting, the one case an operator may wonder about, is logged.
    if conn.execute(_TRY_LOCK, {"name": name}).scalar_one():
        return
    logger.warning(waiting_message)
    conn.execute(_LOCK, {"name": name})
