"""Helpers every asset shares: the audit stamp, failure handling, metadata formatting."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.storage.database import DatabaseUnavailableError
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
