"""Writes of ``privacy_settings`` (``sql/025``): the threshold below which the analysts'
views suppress a cell's figures. Bound parameters only.

The roles (``sql/002``, ``sql/025``): ``monitoring_reader`` reads the published tables that
hold no figure of a small cell, and the ``*_protected`` views for those that do; the
NOLOGIN ``monitoring_raw_reader`` reads everything, person rows included, and is granted
by an administrator to whoever repairs and replays data.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["RAW_READER_ROLE", "RAW_ROW_TABLES", "record_privacy_settings"]

RAW_READER_ROLE = "monitoring_raw_reader"
# One row per person (prediction) with its id and attribute values: never the reader's.
RAW_ROW_TABLES = ("labeled_prediction_rows", "labeled_predictions", "quarantined_rows")

_UPSERT = sa.text(
    "INSERT INTO monitoring.privacy_settings (model_name, min_cell_size, run_id) "
    "VALUES (:model_name, :min_cell_size, :run_id) "
    "ON CONFLICT (model_name) DO UPDATE SET min_cell_size = EXCLUDED.min_cell_size, "
    "run_id = EXCLUDED.run_id, produced_at = now() "
    "WHERE monitoring.privacy_settings.min_cell_size <> EXCLUDED.min_cell_size"
)


def record_privacy_settings(
    engine: Engine, *, model_name: str, min_cell_size: int, run_id: str
) -> None:
    """Make ``min_cell_size`` the model's threshold in the views; a call that changes
    nothing writes nothing (every step of every run calls it)."""
    with engine.begin() as conn:
        conn.execute(
            _UPSERT,
            {"model_name": model_name, "min_cell_size": min_cell_size, "run_id": run_id},
        )
