"""Confidence intervals for proportions, their differences and their ratios.

All functions are vectorised: they take scalars or numpy arrays (broadcast together) of
success counts and trial counts and return float64 arrays (0-d arrays for scalar inputs,
so ``float(result.lower)`` works). Undefined quantities are NaN, never 0.

Methods:

* one proportion: the Wilson score interval (Wilson 1927), the same figures as
  ``statsmodels.stats.proportion.proportion_confint(method="wilson")``;
* a difference p1 - p2: Newcombe's hybrid score interval ("method 10" of Newcombe
  1998), built from the two Wilson intervals; the same figures as statsmodels'
  ``confint_proportions_2indep(method="newcomb", compare="diff")``;
* a ratio p1 / p2: the Katz log interval (Katz et al. 1978), a Wald interval on
  ``log(p1 / p2)`` with ``se = sqrt(1/k1 - 1/n1 + 1/k2 - 1/n2)``; the same figures as
  statsmodels' ``confint_proportions_2indep(method="log", compare="ratio")``. The ratio
  estimate is NaN when ``p2 == 0`` (or a trial count is 0); its bounds are NaN as well
  when either success count is 0, where the log interval is undefined (no continuity
  correction is applied: a reader sees "undefined" rather than an invented bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

__all__ = [
    "IntervalEstimate",
    "katz_ratio_interval",
    "newcombe_difference_interval",
    "normal_quantile",
    "wilson_interval",
]

ERROR_CONFIDENCE = "confidence must lie strictly between 0 and 1, got {confidence!r}"
ERROR_COUNTS = "success counts must lie in [0, n] and trial counts must be >= 0"

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class IntervalEstimate:
    """A point estimate with its two-sided confidence interval (arrays of one shape).

    Attributes:
        estimate: the point estimate (NaN when undefined).
        lower: lower confidence bound (NaN when undefined).
        upper: upper confidence bound (NaN when undefined).
    """

    estimate: FloatArray
    lower: FloatArray
    upper: FloatArray


def _result(estimate: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> IntervalEstimate:
    # numpy turns 0-d arithmetic into numpy scalars: make every field an ndarray.
    return IntervalEstimate(
        estimate=np.asarray(estimate, dtype=np.float64),
        lower=np.asarray(lower, dtype=np.float64),
        upper=np.asarray(upper, dtype=np.float64),
    )


def normal_quantile(confidence: float) -> float:
    """Two-sided standard normal critical value for ``confidence`` (1.959964 for 0.95).

    Example:
        >>> round(normal_quantile(0.95), 6)
        1.959964
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(ERROR_CONFIDENCE.format(confidence=confidence))
    return float(ndtri(1.0 - (1.0 - confidence) / 2.0))


def _as_counts(successes: ArrayLike, n: ArrayLike) -> tuple[FloatArray, FloatArray]:
    k_arr, n_arr = np.broadcast_arrays(
        np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    )
    # NaN counts (e.g. a missing reference group after a merge) pass through as NaN.
    with np.errstate(invalid="ignore"):
        bad = (k_arr < 0) | (n_arr < 0) | (k_arr > n_arr)
    if np.any(bad):
        raise ValueError(ERROR_COUNTS)
    return k_arr, n_arr


def wilson_interval(
    successes: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> IntervalEstimate:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters:
        successes: number of successes (scalar or array).
        n: number of trials (scalar or array, broadcast with ``successes``).
        confidence: two-sided confidence level.

    Returns:
        ``IntervalEstimate`` of ``successes / n``; every field is NaN where ``n == 0``.

    Example:
        >>> ci = wilson_interval(8, 10)
        >>> round(float(ci.lower), 4), round(float(ci.upper), 4)
        (0.4902, 0.9433)
    """
    z = normal_quantile(confidence)
    k, trials = _as_counts(successes, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / trials
        z2n = z * z / trials
        denominator = 1.0 + z2n
        centre = (p + z2n / 2.0) / denominator
        half_width = z * np.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / denominator
    # At k == 0 (k == n) the exact lower (upper) bound is 0 (1): set it rather than keep
    # floating-point noise such as 0.9999999999999999. NaN (n == 0) passes through.
    lower = np.where(k == 0, 0.0, np.clip(centre - half_width, 0.0, 1.0))
    upper = np.where(k == trials, 1.0, np.clip(centre + half_width, 0.0, 1.0))
    lower = np.where(trials > 0, lower, np.nan)
    upper = np.where(trials > 0, upper, np.nan)
    return _result(p, lower, upper)


def newcombe_difference_interval(
    successes1: ArrayLike,
    n1: ArrayLike,
    successes2: ArrayLike,
    n2: ArrayLike,
    confidence: float = 0.95,
) -> IntervalEstimate:
    """Newcombe's hybrid score interval for ``p1 - p2`` (independent samples), vectorised.

    With Wilson bounds ``(l1, u1)`` and ``(l2, u2)`` and ``d = p1 - p2``::

        lower = d - sqrt((p1 - l1)**2 + (u2 - p2)**2)
        upper = d + sqrt((u1 - p1)**2 + (p2 - l2)**2)

    Parameters:
        successes1, n1: successes and trials of the first group.
        successes2, n2: successes and trials of the second (reference) group.
        confidence: two-sided confidence level.

    Returns:
        ``IntervalEstimate`` of ``p1 - p2``; NaN where either trial count is 0.

    Example:
        >>> ci = newcombe_difference_interval(30, 100, 20, 120)
        >>> round(float(ci.estimate), 4), round(float(ci.lower), 4), round(float(ci.upper), 4)
        (0.1333, 0.0217, 0.2444)
    """
    first = wilson_interval(successes1, n1, confidence)
    second = wilson_interval(successes2, n2, confidence)
    p1, p2 = first.estimate, second.estimate
    difference = p1 - p2
    lower = difference - np.sqrt((p1 - first.lower) ** 2 + (second.upper - p2) ** 2)
    upper = difference + np.sqrt((first.upper - p1) ** 2 + (p2 - second.lower) ** 2)
    return _result(difference, lower, upper)


def katz_ratio_interval(
    successes1: ArrayLike,
    n1: ArrayLike,
    successes2: ArrayLike,
    n2: ArrayLike,
    confidence: float = 0.95,
) -> IntervalEstimate:
    """Katz log interval for the ratio ``p1 / p2`` (independent samples), vectorised.

    ``exp(log(p1 / p2) +/- z * sqrt(1/k1 - 1/n1 + 1/k2 - 1/n2))``.

    Parameters:
        successes1, n1: successes and trials of the first group.
        successes2, n2: successes and trials of the second (reference) group.
        confidence: two-sided confidence level.

    Returns:
        ``IntervalEstimate`` of ``p1 / p2``. The estimate is NaN when ``p2 == 0`` or a
        trial count is 0 (it is 0 when only ``k1 == 0``); the bounds are NaN whenever
        either success count is 0, where the log method is undefined.

    Example:
        >>> ci = katz_ratio_interval(30, 100, 20, 120)
        >>> round(float(ci.estimate), 2), round(float(ci.lower), 4), round(float(ci.upper), 4)
        (1.8, 1.0921, 2.9668)
    """
    z = normal_quantile(confidence)
    k1, t1 = _as_counts(successes1, n1)
    k2, t2 = _as_counts(successes2, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = k1 / t1
        p2 = k2 / t2
        ratio = np.where(p2 > 0, p1 / p2, np.nan)
        defined = (k1 > 0) & (k2 > 0)
        safe_k1 = np.where(defined, k1, 1.0)
        safe_k2 = np.where(defined, k2, 1.0)
        se = np.sqrt(1.0 / safe_k1 - 1.0 / t1 + 1.0 / safe_k2 - 1.0 / t2)
        log_ratio = np.log(np.where(defined, ratio, 1.0))
        lower = np.where(defined, np.exp(log_ratio - z * se), np.nan)
        upper = np.where(defined, np.exp(log_ratio + z * se), np.nan)
    return _result(ratio, lower, upper)
