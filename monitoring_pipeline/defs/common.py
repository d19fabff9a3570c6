"""Helpers every asset shares: running a partition step, the audit stamp, failure handling,
metadata formatting."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.core.validation import SchemaError
from monitoring_pipeline.defs.partitions import partition_day
from monitoring_pipeline.pipeline.drift import DriftConfigError
from monitoring_pipeline.storage.database import DatabaseUnavailableError
from monitoring_pipeline.storage.sources import SourceUnavailableError
from monitoring_pipeline.storage.writes import Audit

DATABASE_RETRIES = 3
DATABASE_RETRY_SECONDS = 10


def audit(context: dg.AssetExecutionContext) -> Audit:
    """The run id and time every written row carries."""
    return Audit(run_id=context.run_id, produced_at=datetime.now(UTC))


def fail_clearly(exc: Exception) -> Exception:
    """A database outage is retried (a few times, spaced); a bad source or setting fails at
    once, in one line."""
    if isinstance(exc, DatabaseUnavailableError):
        return dg.RetryRequested(
            max_retries=DATABASE_RETRIES, seconds_to_wait=DATABASE_RETRY_SECONDS
        )
    return dg.Failure(description=str(exc), allow_retries=False)


def float_metadata(value: float | None) -> dg.MetadataValue:
    return dg.MetadataValue.float(float("nan") if value is None else value)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# Failures with a one-line cause: a bad source, schema or setting, or a database outage.
EXPECTED_ERRORS = (DatabaseUnavailableError, SchemaError, SourceUnavailableError, DriftConfigError)


def run_step(context: dg.AssetExecutionContext, monitoring_db, step, *args):
    """Run ``step(engine, *args, day, audit)`` for the context's partition day.

    Returns ``(day, result)``. Expected errors become a one-line Failure (database
    outages: a spaced retry) instead of a traceback.
    """
    day = partition_day(context)
    try:
        return day, step(monitoring_db.engine(), *args, day, audit(context))
    except EXPECTED_ERRORS as exc:
        raise fail_clearly(exc) from None
