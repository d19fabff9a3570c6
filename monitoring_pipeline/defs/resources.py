"""Resources: the monitoring database, resolved lazily at run time (never at import)."""

from __future__ import annotations

import functools

import dagster as dg
from sqlalchemy.engine import Engine

from monitoring_pipeline.settings import Settings, load_settings
from monitoring_pipeline.storage.database import create_engine, normalize_url, resolve_server
from monitoring_pipeline.storage.migrations import apply_migrations


@functools.lru_cache(maxsize=8)
def _migrated_engine(url: str) -> Engine:
    # One engine per process and URL; migrations are idempotent and run once per process.
    engine = create_engine(url)
    apply_migrations(engine)
    return engine


@functools.lru_cache(maxsize=8)
def _resolved_monitoring_url(settings: Settings) -> str:
    # Once per process and settings, not once per step: resolving probes the monitoring and
    # Dagster servers with a fresh connection each (two logins per step, ~56 a daily run of
    # two models). A server lost later fails the next statement instead, as it would mid-step.
    return resolve_server(settings).monitoring


def monitoring_engine(database_url: str | None = None) -> Engine:
    """Engine on the monitoring database: ``database_url``, else the environment's, else the
    embedded server (started on demand). Raises DatabaseUnavailableError with one line."""
    if database_url:
        return _migrated_engine(normalize_url(database_url))
    return _migrated_engine(_resolved_monitoring_url(load_settings()))


class MonitoringDatabase(dg.ConfigurableResource):
    """The Postgres holding the ``monitoring`` schema.

    Leave ``database_url`` empty: the URL is then read when a run or sensor needs it, from
    ``MONITORING_DATABASE_URL`` or, when that is unset, the embedded server under
    ``MONITORING_HOME`` (its password from ``credentials.json``). A value given here is
    config: Dagster stores it in job snapshots and run records, which the UI shows, so only
    tests pass one (their throwaway server's URL); product code never does.
    """

    database_url: str | None = None

    def engine(self) -> Engine:
        return monitoring_engine(self.database_url)
