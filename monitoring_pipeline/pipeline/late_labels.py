"""Which materialized days have received enough new label rows to be worth re-running.

Compares, per partition, the label rows the source holds now for the day's predictions
with the label rows the partition was built from (``sum(label_revisions)`` of
``labeled_predictions``): new labels and corrections both count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig, PostgresTableSource
from monitoring_pipeline.core.labels import known_by
from monitoring_pipeline.storage import ingestion, sources


@dataclass(frozen=True)
class StalePartition:
    model_name: str
    partition_date: date
    predictions: int
    label_rows_used: int
    label_rows_now: int

    @property
    def change(self) -> float:
        """New label rows as a share of the day's predictions."""
        return (
            (self.label_rows_now - self.label_rows_used) / self.predictions
            if self.predictions
            else 0.0
        )


def _now_from_table(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    since: date,
    labels_as_of: datetime | None,
) -> pd.DataFrame:
    model = config.models[model_name]
    assert isinstance(model.labels, PostgresTableSource)
    return ingestion.label_rows_in_table(
        engine,
        model_name,
        since,
        label_table=model.labels.table,
        prediction_id_column=model.columns.label_prediction_id,
        labelled_at_column=model.columns.labelled_at,
        labels_as_of=labels_as_of,
    )


def _now_from_files(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    since: date,
    labels_as_of: datetime | None,
) -> pd.DataFrame:
    model = config.models[model_name]
    labels = sources.read_label_rows(model, since)
    if labels_as_of is not None:
        recorded = pd.to_datetime(labels["labelled_at"], utc=True, errors="coerce", format="mixed")
        labels = labels.loc[known_by(recorded, pd.Timestamp(labels_as_of))]
    ids = ingestion.partition_prediction_ids(engine, model_name, since)
    delivered = pd.DataFrame(
        {
            "prediction_id": labels["prediction_id"].astype("string").to_numpy(dtype=object),
            "labelled_at": pd.to_datetime(
                labels["labelled_at"], utc=True, errors="coerce", format="mixed"
            ),
        }
    )
    matched = ids.merge(delivered, on="prediction_id")
    return (
        matched.groupby("partition_date")
        .agg(label_rows_now=("prediction_id", "size"), newest_label_at=("labelled_at", "max"))
        .reset_index()
    )


def label_rows_now(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    since: date,
    *,
    labels_as_of: datetime | None = None,
) -> pd.DataFrame:
    """Per written day since ``since``: ``partition_date, label_rows_now, newest_label_at``:
    the label rows the source holds for the day's predictions (recorded by ``labels_as_of``
    when given) and when the newest of them was recorded."""
    source = config.models[model_name].labels
    reader = _now_from_table if isinstance(source, PostgresTableSource) else _now_from_files
    return reader(engine, config, model_name, since, labels_as_of)


def find_stale_partitions(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    today: date,
    *,
    labels_as_of: datetime | None = None,
) -> list[StalePartition]:
    """Materialized days of the lookback window whose label rows grew by ``min_change``.

    ``labels_as_of``: count only the label rows recorded by then (a replay of that moment;
    None: every label row the source holds)."""
    settings = config.late_labels
    since = max(config.partitions_start, today - timedelta(days=settings.lookback_days))
    used = ingestion.label_rows_used(engine, model_name, since)
    if used.empty:
        return []
    now = label_rows_now(engine, config, model_name, since, labels_as_of=labels_as_of)
    merged = used.merge(now, on="partition_date", how="left").fillna({"label_rows_now": 0})
    stale = []
    for row in merged.itertuples():
        candidate = StalePartition(
            model_name,
            row.partition_date,
            int(row.predictions),
            int(row.label_rows_used),
            int(row.label_rows_now),
        )
        if candidate.change >= settings.min_change:
            stale.append(candidate)
    return sorted(stale, key=lambda p: p.partition_date)
