"""SLO objectives from history, pure numpy: a suggestion for a fixed objective from a
healthy period (``suggest_objective``), and the band of an adaptive one
(``adaptive_band``).

The rule (``monitoring-pipeline calibrate``; README, "Setting objectives"):

* SLIs with an interval (cohort rates, fairness gaps): ``edge`` = the ``quantile`` of the
  healthy daily values (for ``>=``/``>`` objectives the ``1 - quantile`` one), ``margin`` =
  the median half-width of the days' 95% intervals. A day is judged bad only when its whole
  interval lies beyond the objective, so on a typical healthy day the point value must pass
  the objective by a half-width more: with ``objective = edge + margin`` a healthy day is bad
  only when it is as extreme as the worst healthy days *and* its interval lies a full width
  beyond them.
* SLIs without an interval (drift statistics such as PSI, judged on the point value):
  ``margin`` = the distance from the median day to ``edge`` (the healthy upper tail's own
  spread), so the objective sits twice as far above the typical day as the
  ``quantile`` day does.

Only judged days (status good or bad) count; with fewer than ``min_days`` there is no
suggestion. The value is rounded outward (away from the healthy days) to ``decimals``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_QUANTILE",
    "MIN_DAYS",
    "AdaptiveBand",
    "ObjectiveSuggestion",
    "adaptive_band",
    "suggest_objective",
]

DEFAULT_QUANTILE = 0.95
MIN_DAYS = 7
ObjectiveOp = Literal["<=", "<", ">=", ">"]
MarginKind = Literal["interval half-width", "tail spread"]

ERROR_QUANTILE = "quantile must lie in (0.5, 1), got {quantile!r}"


@dataclass(frozen=True)
class ObjectiveSuggestion:
    """A suggested objective and what it rests on.

    ``value`` is None when fewer than ``min_days`` days were judged (``days``).
    """

    op: str
    value: float | None
    days: int
    edge: float
    margin: float
    margin_kind: MarginKind

    @property
    def basis(self) -> str:
        """One line a reviewer reads: the figures behind the value."""
        if self.value is None:
            return f"only {self.days} judged day(s): no suggestion"
        side = "high" if self.op in ("<=", "<") else "low"
        return (
            f"{side} quantile {self.edge:.4g} of {self.days} judged days, "
            f"{'+' if side == 'high' else '-'} {self.margin_kind} {self.margin:.4g}"
        )


def suggest_objective(
    values: ArrayLike,
    lowers: ArrayLike,
    uppers: ArrayLike,
    op: ObjectiveOp,
    *,
    quantile: float = DEFAULT_QUANTILE,
    min_days: int = MIN_DAYS,
    decimals: int = 3,
) -> ObjectiveSuggestion:
    """An objective for an SLI whose healthy daily readings are ``values`` with 95%
    intervals ``[lowers, uppers]`` (NaN bounds: an SLI without intervals). Pass the judged
    days only; NaN values are ignored.

    Example (a gap, ``<=``): values 0.02..0.10, every interval +-0.03:

    >>> v = np.linspace(0.02, 0.10, 9)
    >>> s = suggest_objective(v, v - 0.03, v + 0.03, "<=")
    >>> round(s.edge, 3), round(s.margin, 3), s.value
    (0.096, 0.03, 0.126)
    """
    if not 0.5 < quantile < 1:
        raise ValueError(ERROR_QUANTILE.format(quantile=quantile))
    value, lower, upper = (np.asarray(a, dtype=np.float64) for a in (values, lowers, uppers))
    keep = ~np.isnan(value)
    value, lower, upper = value[keep], lower[keep], upper[keep]
    upper_bounded = op in ("<=", "<")
    if len(value) < min_days:
        return ObjectiveSuggestion(op, None, len(value), math.nan, math.nan, "tail spread")
    edge = float(np.quantile(value, quantile if upper_bounded else 1 - quantile))
    half_widths = (upper - lower) / 2
    half_widths = half_widths[~np.isnan(half_widths)]
    if len(half_widths):
        margin, kind = float(np.median(half_widths)), "interval half-width"
    else:
        margin, kind = abs(edge - float(np.median(value))), "tail spread"
    scale = 10**decimals
    if upper_bounded:
        suggested = math.ceil(round((edge + margin) * scale, 6)) / scale
    else:
        suggested = math.floor(round((edge - margin) * scale, 6)) / scale
    return ObjectiveSuggestion(op, suggested, len(value), edge, margin, kind)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AdaptiveBand:
    """``mean +/- k * sd`` of a figure's own recent history (``days`` readings, sample
    standard deviation), and the objective it sets for ``op``: the upper edge for ``<=``
    and ``<``, the lower edge for ``>=`` and ``>``."""

    mean: float
    sd: float
    days: int
    k: float
    op: str

    @property
    def lower(self) -> float:
        return self.mean - self.k * self.sd

    @property
    def upper(self) -> float:
        return self.mean + self.k * self.sd

    @property
    def objective(self) -> float:
        return self.upper if self.op in ("<=", "<") else self.lower


def adaptive_band(
    history: ArrayLike, op: ObjectiveOp, *, k: float, min_days: int
) -> AdaptiveBand | None:
    """The band of an adaptive objective from the figure's past readings (NaN ignored);
    None with fewer than ``min_days`` of them.

    Example: readings 0.10, 0.12, 0.08, 0.11, 0.09 (mean 0.10, sd 0.0158), k = 2:

    >>> band = adaptive_band([0.10, 0.12, 0.08, 0.11, 0.09], "<=", k=2, min_days=5)
    >>> round(band.mean, 4), round(band.sd, 4), round(band.objective, 4)
    (0.1, 0.0158, 0.1316)
    >>> adaptive_band([0.1, 0.2], "<=", k=2, min_days=5) is None
    True
    """
    values = np.asarray(history, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < max(min_days, 2):
        return None
    return AdaptiveBand(float(values.mean()), float(values.std(ddof=1)), len(values), k, op)
