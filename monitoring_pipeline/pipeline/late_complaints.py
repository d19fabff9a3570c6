"""Which days' complaint rates are out of date: complaints arrived since they were counted,
or their window closed after the count (the rate became final). late_complaints_sensor
re-runs those days' complaint_metrics and what reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig, PostgresTableSource
from monitoring_pipeline.core.complaints import classify_complaints, window_closes_at
from monitoring_pipeline.storage import ingestion, sources
from monitoring_pipeline.storage.complaints import complaint_counts_used, complaint_pairs_in_table


@dataclass(frozen=True)
class StaleComplaintDay:
    model_name: str
    partition_date: date
    complaints_counted: int
    complaints_now: int
    # The window closed after the last count: the rate is final now.
    window_closed: bool

    @property
    def why(self) -> str:
        if self.complaints_now != self.complaints_counted:
            return f"complaints {self.complaints_counted} -> {self.complaints_now}"
        return "complaint window closed"


def complaint_pairs(
    engine: Engine, config: MonitoringConfig, model_name: str, since: date
) -> pd.DataFrame:
    """``partition_date, prediction_id, complained_at`` of every complaint the source holds
    about a prediction written since ``since``."""
    settings = config.models[model_name].complaints
    assert settings is not None
    if isinstance(settings.source, PostgresTableSource):
        return complaint_pairs_in_table(
            engine,
            model_name,
            since,
            complaint_table=settings.source.table,
            prediction_id_column=settings.prediction_id,
            complained_at_column=settings.complained_at,
        )
    rows = sources.read_complaint_rows(settings, since)
    ids = ingestion.partition_prediction_ids(engine, model_name, since)
    return ids.merge(
        rows.assign(prediction_id=rows["prediction_id"].to_numpy(dtype=object)), on="prediction_id"
    )


def find_stale_complaint_days(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    now: datetime,
) -> list[StaleComplaintDay]:
    """Days with complaint rates whose window is open or closed since the last count (the
    last ``window_days + 2`` days), where the count made at ``now`` differs from the stored
    one, or the window has closed since."""
    settings = config.models[model_name].complaints
    if settings is None:
        return []
    now = now.astimezone(UTC)
    since = max(config.partitions_start, now.date() - timedelta(days=settings.window_days + 2))
    counted = complaint_counts_used(engine, model_name, since)
    if counted.empty:
        return []
    pairs = complaint_pairs(engine, config, model_name, since)
    outcome = classify_complaints(
        pairs["complained_at"], pairs["partition_date"], settings.window_days, now
    )
    counts_now = (
        pairs.loc[outcome == "counted"].groupby("partition_date")["prediction_id"].nunique()
    )
    stale = []
    for row in counted.itertuples():
        complaints_now = int(counts_now.get(row.partition_date, 0))
        closed = pd.Timestamp(now) >= window_closes_at(row.partition_date, settings.window_days)
        window_closed = closed and not bool(row.window_complete)
        if complaints_now != int(row.complaints) or window_closed:
            stale.append(
                StaleComplaintDay(
                    model_name,
                    row.partition_date,
                    int(row.complaints),
                    complaints_now,
                    window_closed,
                )
            )
    return sorted(stale, key=lambda d: d.partition_date)
