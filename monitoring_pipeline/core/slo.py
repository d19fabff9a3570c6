"""SLO day classification, error budgets and multi-window burn-rate alerts, on days.

An SLO here is "metric M of cohort C satisfies ``M <= x`` (or ``M >= x``) on at least
``target`` of the days of a rolling ``period_days`` compliance period". Days are the
slices (the SRE workbook counts requests or minutes; we count days).

Day classification: a day is ``bad`` only on clear evidence, i.e. when its whole
confidence interval lies beyond the objective (for ``<=``: ``lower > x``; for ``>=``:
``upper < x``); ``unknown`` when the value is NaN; ``good`` otherwise. A metric without an
interval (NaN bounds, e.g. ECE or PSI) is judged on its point value.

Evidence decides sufficiency: a cell below the minimum size (``sufficient`` False) is
judged on its interval alone: ``bad`` when it lies wholly beyond the objective, ``good``
when it lies wholly within it (for ``<=``: ``upper <= x``; for ``>=``: ``lower >= x``),
``unknown`` when it straddles the objective or there is no interval (a point value of a
small cell proves nothing). A tiny cell (n = 3) has an interval so wide that it straddles
any useful objective, so it stays unknown either way; a minority group whose gap is
-0.51 [-0.64, -0.35] against a 0.15 objective is bad on its first day whatever its size.
The minimum size still guards the point estimates shown to people (tables, reports).

Error budget: unknown days are left out of both sides, never counted as bad (nor as
good): over the period, ``budget = (1 - target) * known_days`` allowed bad days,
``consumed = bad_days``, ``remaining = budget - consumed`` (negative once overspent).

Burn rate over a window (SRE workbook): ``(bad days / known days in the window) /
(1 - target)``; at rate B the budget lasts ``period / B``; NaN with no known day.

Alert rules (multi-window, multi-burn-rate, adapted to daily slices): a rule fires when
the burn rate over its long window AND over its short window both reach its threshold
(the long window shows that enough budget went, the short one that it is still going,
so the alert resets soon after recovery). The workbook pages a 30-day 99.9% SLO at
14.4x over 1 h (2% of the budget) with a 5-min short window. With days as slices, the
smallest window is a day and the largest possible burn rate is ``1 / (1 - target)``
(every day bad: 10x at target 0.9), so workbook thresholds such as 14.4x could never
fire. Defaults for a 28-day period, phrased as budget consumed (``B * W / period``):

* page: >= 2x over 7 days (half the period's budget gone in a week; at that pace it is
  exhausted in 14 days) and >= 2x over the last 2 days;
* ticket: >= 1x over 7 days (a quarter of the budget in a week: on pace to exhaust it
  within the period) and >= 1x over the last 2 days.

The short window is 2 days rather than 1 so that a bad day still alerts the day after
(labels and re-runs arrive late) instead of flapping. At target 0.9 one bad day in the
last 2 raises a ticket and two bad days within a week (one in the last 2) page; at
target 0.95 one bad day already pages (a single day is 71% of a 1.4-day budget).

Severity cap: an SLO's ``max_severity`` (``ticket``: it never pages) lowers a firing page
rule to a ticket; below the cap the rules are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_BURN_RATE_RULES",
    "PAGE_RULE",
    "TICKET_RULE",
    "BurnRateRule",
    "ErrorBudget",
    "burn_rate",
    "classify_day",
    "classify_days",
    "error_budget",
]

DayStatus = Literal["good", "bad", "unknown"]
ObjectiveOp = Literal["<=", ">="]
AlertStatus = Literal["ok", "ticket", "page"]

ERROR_OP = "objective_op must be '<=' or '>=', got {op!r}"
ERROR_TARGET = "target must lie strictly between 0 and 1, got {target!r}"
ERROR_STATUS = "day statuses must be 'good', 'bad' or 'unknown' (or null), got {values}"
ERROR_WINDOW = "windows must be >= 1 day and short_window_days <= long_window_days"

_STATUSES = ("good", "bad", "unknown")
_SEVERITY_ORDER = {"page": 0, "ticket": 1}


def classify_days(
    values: ArrayLike,
    lowers: ArrayLike,
    uppers: ArrayLike,
    objective_op: ObjectiveOp,
    objective_value: float,
    sufficient: ArrayLike,
) -> NDArray[np.object_]:
    """Vectorised ``classify_day``: arrays broadcast together, one status per element.

    Example:
        >>> classify_days([0.1, 0.3, 0.3, np.nan], [0.05, 0.25, 0.15, np.nan],
        ...     [0.15, 0.35, 0.45, np.nan], "<=", 0.2, [True, True, True, True]).tolist()
        ['good', 'bad', 'good', 'unknown']
        >>> classify_days([0.3, 0.1, 0.3], [0.25, 0.05, 0.0], [0.35, 0.15, 0.9], "<=", 0.2,
        ...     [False, False, False]).tolist()  # small cells: judged on their interval
        ['bad', 'good', 'unknown']
    """
    if objective_op not in ("<=", ">="):
        raise ValueError(ERROR_OP.format(op=objective_op))
    value, lower, upper, enough = np.broadcast_arrays(
        np.asarray(values, dtype=np.float64),
        np.asarray(lowers, dtype=np.float64),
        np.asarray(uppers, dtype=np.float64),
        np.asarray(sufficient, dtype=bool),
    )
    has_interval = ~np.isnan(lower) & ~np.isnan(upper)
    # Metrics without an interval (NaN bounds) are judged on their point value.
    lower = np.where(np.isnan(lower), value, lower)
    upper = np.where(np.isnan(upper), value, upper)
    with np.errstate(invalid="ignore"):
        if objective_op == "<=":
            clearly_bad, clearly_within = lower > objective_value, upper <= objective_value
        else:
            clearly_bad, clearly_within = upper < objective_value, lower >= objective_value
    # Below the minimum size only the interval may decide, and only when it is clear.
    undecided_small = ~enough & ~(has_interval & (clearly_bad | clearly_within))
    unknown = np.isnan(value) | undecided_small
    return np.select([unknown, clearly_bad], ["unknown", "bad"], "good").astype(object)


def classify_day(
    value: float,
    lower: float,
    upper: float,
    objective_op: ObjectiveOp,
    objective_value: float,
    sufficient: bool,
) -> DayStatus:
    """Status of one day of one SLO: ``"good"``, ``"bad"`` or ``"unknown"``.

    Parameters:
        value: the day's metric value (NaN when undefined).
        lower, upper: its confidence bounds (NaN: judge on ``value``).
        objective_op: ``"<="`` (metric must stay at or below the objective) or ``">="``.
        objective_value: the objective threshold.
        sufficient: whether the cohort had enough data that day.

    Returns:
        ``"bad"`` only when the whole interval lies beyond the objective; ``"unknown"``
        when NaN, or when insufficient and the interval (if any) neither lies wholly
        beyond nor wholly within the objective; else ``"good"``.

    Example:
        >>> classify_day(0.25, 0.18, 0.32, "<=", 0.2, True)
        'good'
        >>> classify_day(0.25, 0.21, 0.29, "<=", 0.2, True)
        'bad'
        >>> classify_day(0.25, 0.18, 0.32, "<=", 0.2, False)  # small cell, unclear
        'unknown'
    """
    status = classify_days([value], [lower], [upper], objective_op, objective_value, [sufficient])
    return status[0]


@dataclass(frozen=True)
class BurnRateRule:
    """A multi-window burn-rate alert rule: fires when both windows reach ``threshold``.

    Attributes:
        severity: ``"page"`` or ``"ticket"``.
        long_window_days: the long window (most recent days).
        short_window_days: the short window, at most the long one.
        threshold: burn rate both windows must reach (>=).
    """

    severity: Literal["page", "ticket"]
    long_window_days: int
    short_window_days: int
    threshold: float

    def __post_init__(self) -> None:
        if not 1 <= self.short_window_days <= self.long_window_days:
            raise ValueError(ERROR_WINDOW)
        if self.severity not in _SEVERITY_ORDER:
            raise ValueError(f"severity must be 'page' or 'ticket', got {self.severity!r}")


PAGE_RULE = BurnRateRule("page", long_window_days=7, short_window_days=2, threshold=2.0)
TICKET_RULE = BurnRateRule("ticket", long_window_days=7, short_window_days=2, threshold=1.0)
DEFAULT_BURN_RATE_RULES: tuple[BurnRateRule, ...] = (PAGE_RULE, TICKET_RULE)


@dataclass(frozen=True)
class ErrorBudget:
    """Error budget of one SLO over its compliance period, as of the last day.

    Attributes:
        target: share of known days that must be good.
        period_days: length of the rolling compliance period.
        known_days, good_days, bad_days: days with a verdict in the period.
        unknown_days: ``period_days - known_days`` (unknown days and days before the
            history starts); they count neither as good nor as bad.
        budget_days: allowed bad days, ``(1 - target) * known_days``.
        consumed_days: bad days (= ``bad_days``).
        remaining_days: ``budget_days - consumed_days`` (negative once overspent).
        remaining_fraction: ``remaining_days / budget_days`` (NaN without known days).
        burn_rate_short, burn_rate_long: burn rates over the reported windows.
        short_window_days, long_window_days: those windows.
        status: ``"page"``, ``"ticket"`` or ``"ok"``: the most severe rule that fires.
    """

    target: float
    period_days: int
    known_days: int
    good_days: int
    bad_days: int
    unknown_days: int
    budget_days: float
    consumed_days: int
    remaining_days: float
    remaining_fraction: float
    burn_rate_short: float
    burn_rate_long: float
    short_window_days: int
    long_window_days: int
    status: AlertStatus


def _normalise_statuses(day_statuses: Sequence[str | None] | pd.Series) -> NDArray[np.object_]:
    """Statuses oldest first; a Series with a DatetimeIndex gets missing days as unknown."""
    if isinstance(day_statuses, pd.Series):
        series = day_statuses.sort_index()
        if isinstance(series.index, pd.DatetimeIndex) and len(series):
            full = pd.date_range(series.index.min(), series.index.max(), freq="D")
            series = series.reindex(full)
        values = series.astype(object).to_numpy()
    else:
        values = np.asarray(list(day_statuses), dtype=object)
    values = np.asarray(
        ["unknown" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values],
        dtype=object,
    )
    invalid = sorted({str(v) for v in values if v not in _STATUSES})
    if invalid:
        raise ValueError(ERROR_STATUS.format(values=invalid))
    return values


def burn_rate(
    day_statuses: Sequence[str | None] | pd.Series, *, target: float, window_days: int
) -> float:
    """Burn rate over the last ``window_days`` days (statuses ordered oldest first).

    ``(bad days / known days in the window) / (1 - target)``; NaN without known days.

    Example:
        >>> round(burn_rate(["good"] * 4 + ["bad"] * 3, target=0.9, window_days=7), 4)
        4.2857
    """
    if not 0.0 < target < 1.0:
        raise ValueError(ERROR_TARGET.format(target=target))
    if window_days < 1:
        raise ValueError(ERROR_WINDOW)
    window = _normalise_statuses(day_statuses)[-window_days:]
    bad = int(np.sum(window == "bad"))
    known = bad + int(np.sum(window == "good"))
    return float("nan") if known == 0 else (bad / known) / (1.0 - target)


def error_budget(
    day_statuses: Sequence[str | None] | pd.Series,
    *,
    target: float,
    period_days: int = 28,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    short_window_days: int = PAGE_RULE.short_window_days,
    long_window_days: int = PAGE_RULE.long_window_days,
    max_severity: Literal["ticket", "page"] = "page",
) -> ErrorBudget:
    """Error budget and burn-rate alert status as of the last day of the history.

    Parameters:
        day_statuses: ``"good"`` / ``"bad"`` / ``"unknown"`` (null = unknown) per day,
            oldest first, the last entry being the evaluation day. A Series is sorted by
            its index; with a DatetimeIndex, missing days become unknown.
        target: share of known days that must be good, in (0, 1).
        period_days: rolling compliance period (the last ``period_days`` entries).
        rules: alert rules; the most severe one that fires sets ``status``.
        short_window_days, long_window_days: windows of the reported burn rates.
        max_severity: the most the status may be: ``"ticket"`` turns a firing page rule
            into a ticket (the rules themselves are unchanged).

    Returns:
        ``ErrorBudget``.

    Example:
        >>> days = ["good"] * 21 + ["good", "bad", "good", "good", "good", "bad", "bad"]
        >>> budget = error_budget(days, target=0.9, period_days=28)
        >>> budget.bad_days, round(budget.burn_rate_long, 4), budget.status
        (3, 4.2857, 'page')
    """
    if not 0.0 < target < 1.0:
        raise ValueError(ERROR_TARGET.format(target=target))
    if period_days < 1 or not 1 <= short_window_days <= long_window_days:
        raise ValueError(ERROR_WINDOW)
    if max_severity not in _SEVERITY_ORDER:
        raise ValueError(f"max_severity must be 'page' or 'ticket', got {max_severity!r}")
    statuses = _normalise_statuses(day_statuses)
    period = statuses[-period_days:]
    bad_days = int(np.sum(period == "bad"))
    good_days = int(np.sum(period == "good"))
    known_days = bad_days + good_days
    budget_days = (1.0 - target) * known_days
    remaining_days = budget_days - bad_days
    remaining_fraction = remaining_days / budget_days if budget_days > 0 else float("nan")

    def rate(window: int) -> float:
        # Windows never reach back beyond the compliance period.
        return burn_rate(period, target=target, window_days=min(window, period_days))

    status: AlertStatus = "ok"
    for rule in sorted(rules, key=lambda r: _SEVERITY_ORDER[r.severity]):
        long_rate, short_rate = rate(rule.long_window_days), rate(rule.short_window_days)
        # NaN (no known day in a window) compares False: no evidence, no alert.
        if long_rate >= rule.threshold and short_rate >= rule.threshold:
            status = rule.severity
            break
    if status == "page" and max_severity == "ticket":
        status = "ticket"

    return ErrorBudget(
        target=target,
        period_days=period_days,
        known_days=known_days,
        good_days=good_days,
        bad_days=bad_days,
        unknown_days=period_days - known_days,
        budget_days=budget_days,
        consumed_days=bad_days,
        remaining_days=remaining_days,
        remaining_fraction=remaining_fraction,
        burn_rate_short=rate(short_window_days),
        burn_rate_long=rate(long_window_days),
        short_window_days=short_window_days,
        long_window_days=long_window_days,
        status=status,
    )
