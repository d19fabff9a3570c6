"""Pure helpers of a retraining request: the training window and the worst cohorts.

No Dagster, no SQL: plain dates and DataFrames in, plain data out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["TrainingWindow", "rank_worst", "suggest_training_window"]


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


def rank_worst(
    rows: pd.DataFrame,
    *,
    value_column: str = "value",
    bad_when: Literal["high", "low", "far_from_zero"],
    limit: int,
) -> pd.DataFrame:
    """The ``limit`` rows whose value is worst, sufficient rows before insufficient ones.

    ``bad_when``: ``high`` (e.g. a drift statistic, an FPR), ``low`` (a TPR, an accuracy)
    or ``far_from_zero`` (a fairness gap). Rows with an undefined value come last.

    Example:
        >>> frame = pd.DataFrame({"value": [0.1, -0.3, 0.2], "sufficient": [True, True, False]})
        >>> rank_worst(frame, bad_when="far_from_zero", limit=2)["value"].tolist()
        [-0.3, 0.1]
    """
    if rows.empty:
        return rows
    values = rows[value_column].to_numpy(dtype=float)
    if bad_when == "high":
        severity = values
    elif bad_when == "low":
        severity = -values
    else:
        severity = np.abs(values)
    severity = np.where(np.isnan(severity), -math.inf, severity)
    sufficient = (
        rows["sufficient"].fillna(False).to_numpy(dtype=bool)
        if "sufficient" in rows
        else np.ones(len(rows), dtype=bool)
    )
    order = np.lexsort((-severity, ~sufficient))
    return rows.iloc[order[:limit]]
