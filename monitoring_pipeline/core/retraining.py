"""Pure helpers of a retraining request: the training window (its worst cohorts are
ranked by :mod:`monitoring_pipeline.core.worst_cohorts`, like an alert's).

No Dagster, no SQL: plain dates and DataFrames in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["TrainingWindow", "suggest_training_window"]


@dataclass(frozen=True)
class TrainingWindow:
    """Inclusive range of partition days to train on."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def suggest_training_window(
    as_of: date, days: int, *, earliest: date | None = None
) -> TrainingWindow:
    """The ``days`` days ending at ``as_of``, not before ``earliest`` (the first partition).

    Example:
        >>> suggest_training_window(date(2026, 11, 20), 14)
        TrainingWindow(start=datetime.date(2026, 11, 7), end=datetime.date(2026, 11, 20))
    """
    if days < 1:
        raise ValueError(f"a training window needs at least one day, got {days}")
    start = as_of - timedelta(days=days - 1)
    if earliest is not None and start < earliest:
        start = min(earliest, as_of)
    return TrainingWindow(start, as_of)
