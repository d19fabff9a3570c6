"""Dagster's PostgreSQL storage with its connections kept open for the life of the process.

``dagster_postgres`` opens a new connection for every event it stores (SQLAlchemy's
``NullPool``) unless the process is the webserver. A daily run of the two demo models
stores ~150 events and opens ~700 connections; with password (SCRAM) authentication each
costs ~6 ms on the embedded server, so a run of a small day spent ~4.4 of its ~10.6 s
connecting. This storage keeps one connection open per storage part (runs, events,
schedules), reusing it for every event, as the webserver does, and checks it before each
use: ``dagster.yaml`` names it as ``storage: custom:`` with the same ``postgres_url``
setting as ``storage: postgres:``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from monitoring_pipeline.storage.database import ping_on_checkout

# No statement timeout (the default of dagster_postgres outside the webserver); pooled
# connections are recycled hourly so that a long-lived daemon survives server restarts
# and idle timeouts; up to 10 connections beyond the kept one for threads that overlap
# (the daemon's sensor and run-queue threads).
NO_STATEMENT_TIMEOUT = 0
POOL_RECYCLE_SECONDS = 3600
MAX_OVERFLOW = 10


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages each keep a
    pooled connection (``optimize_for_webserver``, Dagster's public switch for exactly
    this) instead of connecting once per statement."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, **kwargs: Any):
        super().__init__(postgres_url, should_autocreate_tables, **kwargs)
        parts = (
            (self.run_storage, self.run_storage.connect),
            (self.event_log_storage, self.event_log_storage.index_connection),
            (self.schedule_storage, self.schedule_storage.connect),
        )
        self._pooled_engines: list[sa.Engine] = []
        for part, connect in parts:
            part.optimize_for_webserver(
                statement_timeout=NO_STATEMENT_TIMEOUT,
                pool_recycle=POOL_RECYCLE_SECONDS,
                max_overflow=MAX_OVERFLOW,
            )
            with connect() as connection:
                sa.event.listen(connection.engine.pool, "checkout", ping_on_checkout)
                self._pooled_engines.append(connection.engine)
        # The event log asks whether a table or a column exists while it holds its kept
        # connection (every asset event, for its tags table): each answer took a second
        # connection, never kept (the pool keeps one), so a SCRAM login and a catalog
        # query per event, ~0.15 s of a small day's model. What exists stays.
        events = self.event_log_storage
        events.has_table = _remember_present(events.has_table)
        events.has_asset_key_col = _remember_present(events.has_asset_key_col)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledPostgresStorage:  # type: ignore[override]
        storage = cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
        if _storages_to_close is not None:
            _storages_to_close.append(storage)
        return storage

    def close_connections(self) -> None:
        """Close the kept connections (dagster_postgres leaves its engines to the garbage
        collector), so a process building many instances does not pile them up."""
        for part in (self.run_storage, self.event_log_storage, self.schedule_storage):
            part.dispose()
        for engine in self._pooled_engines:
            engine.dispose()


def _remember_present(exists: Callable[[str], bool]) -> Callable[[str], bool]:
    """``exists``, asked once per name that exists (a table or column is not dropped under a
    running process); a missing one is asked again, so an upgrade meanwhile is seen."""
    present: set[str] = set()

    def remembered(name: str) -> bool:
        if name in present:
            return True
        found = exists(name)
        if found:
            present.add(name)
        return found

    return remembered


# Storages built since the last close_storages() (None: not tracked, the default).
_storages_to_close: list[PooledPostgresStorage] | None = None


def track_storages() -> None:
    """Remember every storage this process builds from now on, for :func:`close_storages`.

    For Celery workers: dagster-celery builds a Dagster instance from the run's instance
    ref for every step and never closes it, so each step's pooled connections stayed open
    until the server refused more ("sorry, too many clients already")."""
    global _storages_to_close
    if _storages_to_close is None:
        _storages_to_close = []


def close_storages() -> int:
    """Close the connections of every storage built since the last call; how many."""
    closed = 0
    while _storages_to_close:
        _storages_to_close.pop().close_connections()
        closed += 1
    return closed


def instance_storage_config(postgres_url: str) -> dict[str, Any]:
    """The ``storage`` section of a Dagster instance on ``postgres_url`` with pooled
    connections, as ``dagster.yaml`` writes it (for ``dg.instance_for_test`` overrides).

    >>> instance_storage_config("postgresql://h/db")["storage"]["custom"]["class"]
    'PooledPostgresStorage'
    """
    return {
        "storage": {
            "custom": {
                "module": __name__,
                "class": PooledPostgresStorage.__name__,
                "config": {"postgres_url": postgres_url},
            }
        }
    }
