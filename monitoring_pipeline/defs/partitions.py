"""One daily partition set (UTC days) shared by every model, so one job spans them all."""

from __future__ import annotations

from datetime import date

import dagster as dg


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


def partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)
