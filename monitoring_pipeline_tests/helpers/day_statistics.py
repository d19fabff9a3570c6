"""The cohort statistics labeled_predictions counted while writing a day, against the same
statistics counted again from the day's stored rows (cohort_metrics' fallback)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from monitoring_pipeline.core.sufficient_stats import merge_stats
from monitoring_pipeline.pipeline.cohort_metrics import (
    DayStatistics,
    day_statistics,
    rows_to_stats,
    statistics_checksum,
)
from monitoring_pipeline.storage.cohorts import ingested_day_statistics
from monitoring_pipeline.storage.estimation import rows_to_estimation_stats
from monitoring_pipeline.storage.reads import iter_labeled_predictions


def counted_from_stored_rows(engine, config, model: str, day: date):
    """The day's statistics counted from its stored rows, read back 13 rows at a time."""
    counted = DayStatistics(config, model)
    for chunk in iter_labeled_predictions(
        engine, model, day, cohort_attributes=counted.columns, chunk_rows=13
    ):
        counted.add(chunk)
    return counted.frames()


def assert_same_statistics(found, expected, what: str) -> None:
    """Counts equal; float sums equal to their last bits (added in another order)."""
    for got, wanted, table in zip(found, expected, ("cohort", "estimation"), strict=True):
        assert len(got) == len(wanted), f"{what} {table}"
        if wanted.empty:
            continue
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), wanted.reset_index(drop=True), check_like=True,
            check_dtype=False, check_exact=False, rtol=1e-12, obj=f"{what} {table}",
        )  # fmt: skip


def assert_counted_as_stored(engine, config, model: str, day: date, what: str) -> None:
    """What labeled_predictions counted while writing is what its stored rows hold, and
    cohort_metrics takes it."""
    confusion, estimation = ingested_day_statistics(
        engine, model, day, statistics_checksum(config, model)
    )
    ingested = (
        (merge_stats([rows_to_stats(confusion)]) if len(confusion) else pd.DataFrame()),
        (
            merge_stats([rows_to_estimation_stats(estimation.drop(columns="partition_date"))])
            if len(estimation)
            else pd.DataFrame()
        ),
    )
    assert_same_statistics(ingested, counted_from_stored_rows(engine, config, model, day), what)
    taken = day_statistics(engine, config, model, day)
    for got, wanted in zip(taken, ingested, strict=True):
        pd.testing.assert_frame_equal(got, wanted)
