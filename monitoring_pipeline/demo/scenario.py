"""The demo's calendar: fixed in simulated time, so the same seed tells the same story on
any run date.

The default scenario ends on ``SCENARIO_END`` whatever day the demo runs: the traffic of a
day is drawn from streams keyed by that day (``generator``), so a calendar that followed
the wall clock (as ``--end`` = yesterday once did) drew other rows every day, and whether an
SLO paged changed with the run date. Everything the demo judges "as of now" (which labels
have arrived, the sensors' ticks, which Dagster partitions exist) uses
:func:`simulated_clock` of a scenario day, never the wall clock.

Example::

    >>> calendar = DemoCalendar.of(days=28, after_retrain_days=5, end=SCENARIO_END)
    >>> calendar.start, calendar.retrain_day, calendar.end, calendar.total_days
    (datetime.date(2026, 10, 22), datetime.date(2026, 11, 18), datetime.date(2026, 11, 23), 33)
    >>> simulated_clock(calendar.retrain_day).isoformat()
    '2026-11-19T06:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["SCENARIO_END", "DemoCalendar", "simulated_clock"]

# The last day of the default scenario (the README's example is a run of it).
SCENARIO_END = date(2026, 11, 23)


def simulated_clock(last_day: date) -> datetime:
    """06:00 UTC the day after ``last_day``: when the demo pretends to run."""
    return datetime.combine(last_day + timedelta(days=1), time(6), tzinfo=UTC)


@dataclass(frozen=True)
class DemoCalendar:
    """The demo's days: ``start..retrain_day`` (phase 1, before the first sensor tick),
    then ``retrain_day + 1 .. end`` (phase 2, served after the retraining request)."""

    start: date
    retrain_day: date
    end: date

    @classmethod
    def of(cls, *, days: int, after_retrain_days: int, end: date) -> DemoCalendar:
        """``days`` days up to the retraining day, ``after_retrain_days`` more up to ``end``."""
        if days < 1:
            raise ValueError("--days must be >= 1")
        if after_retrain_days < 0:
            raise ValueError("--after-retrain-days must be >= 0")
        retrain_day = end - timedelta(days=after_retrain_days)
        return cls(start=retrain_day - timedelta(days=days - 1), retrain_day=retrain_day, end=end)

    @property
    def total_days(self) -> int:
        return (self.end - self.start).days + 1

    def first_phase_days(self) -> list[date]:
        return _days(self.start, self.retrain_day)

    def second_phase_days(self) -> list[date]:
        return _days(self.retrain_day + timedelta(days=1), self.end)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
