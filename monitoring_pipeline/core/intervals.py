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
  correction is applied: a reader sees "undefined" rather than an invented bound);
* a mean from a sum and a sum of squares (the Brier score): the normal (central limit)
  interval ``mean +/- z * sqrt(s^2 / n)`` with the sample variance ``s^2``, clipped to
  the range the mean can take;
* the noncentrality of a chi-square statistic (PSI and Jensen-Shannon, ``core.drift``):
  the test-inversion interval of Steiger & Lind (the RMSEA interval of structural
  equation modelling), ``lambda`` such that the statistic lies between the
  ``alpha/2`` and ``1 - alpha/2`` quantiles of the noncentral chi-square (scipy's exact
  inversion up to a statistic of 400, Sankaran's normal approximation above).

Measured coverage of each kind at the sample sizes the project publishes is in the
README ("How often the intervals cover") and ``test_interval_coverage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import chdtr, chndtrinc, ndtr, ndtri

__all__ = [
    "IntervalEstimate",
    "katz_ratio_interval",
    "mean_interval",
    "newcombe_difference_interval",
    "noncentrality_interval",
    "normal_quantile",
    "wilson_interval",
]

ERROR_CONFIDENCE = "confidence must lie strictly between 0 and 1, got {confidence!r}"
ERROR_COUNTS = "success counts must lie in [0, n] and trial counts must be >= 0"
# Above this chi-square statistic scipy's exact inversion costs up to milliseconds, and
# Sankaran's approximation is within 5e-5 of the exact distribution function (df <= 200).
NONCENTRAL_EXACT_MAX = 400.0

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


def mean_interval(
    total: ArrayLike,
    total_of_squares: ArrayLike,
    n: ArrayLike,
    confidence: float = 0.95,
    *,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> IntervalEstimate:
    """Normal (central limit) interval of a mean known only by its additive sums, vectorised.

    ``mean = total / n``, sample variance ``s^2 = (total_of_squares - n * mean^2) /
    (n - 1)`` and ``mean +/- z * sqrt(s^2 / n)``, clipped to ``bounds`` (the values the
    mean can take, e.g. ``(0, 1)`` for the Brier score).

    Parameters:
        total: sum of the values.
        total_of_squares: sum of their squares (NaN when unknown: the bounds are NaN).
        n: number of values.
        confidence: two-sided confidence level.
        bounds: range the mean can take.

    Returns:
        ``IntervalEstimate``; the estimate is NaN where ``n == 0`` and the bounds NaN
        where ``n < 2``.

    Example:
        >>> ci = mean_interval(2.0, 1.5, 4)  # values 0, 0.5, 0.5, 1: mean 0.5, s^2 1/6
        >>> round(float(ci.lower), 4), round(float(ci.upper), 4)
        (0.0999, 0.9001)
    """
    z = normal_quantile(confidence)
    s1, s2, count = np.broadcast_arrays(
        np.asarray(total, dtype=np.float64),
        np.asarray(total_of_squares, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, s1 / count, np.nan)
        # max(., 0): rounding can make the sum of squares a hair below n * mean^2.
        variance = np.maximum(s2 - count * mean**2, 0.0) / (count - 1.0)
        half_width = z * np.sqrt(variance / count)
    defined = (count >= 2) & ~np.isnan(half_width)
    lower = np.where(defined, np.clip(mean - half_width, *bounds), np.nan)
    upper = np.where(defined, np.clip(mean + half_width, *bounds), np.nan)
    return _result(mean, lower, upper)


def noncentrality_interval(
    statistic: ArrayLike, df: ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Interval of the noncentrality ``lambda`` of a chi-square statistic, vectorised.

    Test inversion (Steiger & Lind; the RMSEA interval): ``lower`` solves
    ``P(chi2(df, lower) <= statistic) = 1 - alpha/2`` and ``upper`` solves ``... =
    alpha/2``, each 0 where even ``lambda = 0`` cannot reach that probability. So the
    interval starts at 0 whenever the statistic is below the ``1 - alpha/2`` quantile of
    the central chi-square, and is ``[0, 0]`` when it lies below the ``alpha/2`` quantile
    (the samples agree more closely than chance makes them without any difference).
    Statistics up to ``NONCENTRAL_EXACT_MAX`` (400) are inverted exactly
    (``scipy.special.chndtrinc``); above, where that costs up to milliseconds each,
    Sankaran's (1959) approximation is inverted by bisection, within 5e-5 of the exact
    distribution function there for up to 200 degrees of freedom.

    Parameters:
        statistic: observed chi-square-like statistic (>= 0).
        df: degrees of freedom (bounds are NaN where ``df < 1`` or the statistic is NaN).
        confidence: two-sided confidence level.

    Returns:
        ``(lower, upper)`` arrays of ``lambda``.

    Example:
        >>> from scipy.stats import ncx2
        >>> lower, upper = noncentrality_interval(40.0, 9)
        >>> round(float(ncx2.cdf(40.0, 9, lower)), 3), round(float(ncx2.cdf(40.0, 9, upper)), 3)
        (0.975, 0.025)
        >>> [round(float(b), 4) for b in noncentrality_interval(5.0, 9)]
        [0.0, 6.1576]
    """
    alpha = 1.0 - confidence
    normal_quantile(confidence)  # validates confidence
    t, k = np.broadcast_arrays(
        np.asarray(statistic, dtype=np.float64), np.asarray(df, dtype=np.float64)
    )
    defined = (k >= 1) & np.isfinite(t)
    t_safe = np.where(defined, np.maximum(t, 0.0), 1.0)
    k_safe = np.where(defined, k, 1.0)
    central = chdtr(k_safe, t_safe)  # P(chi2(df, 0) <= statistic)
    exact = t_safe <= NONCENTRAL_EXACT_MAX
    bounds = []
    for probability in (1.0 - alpha / 2.0, alpha / 2.0):
        bound = np.zeros(t_safe.shape)
        solve = (central > probability) & exact
        bound[solve] = chndtrinc(t_safe[solve], k_safe[solve], probability)
        solve = (central > probability) & ~exact
        bound[solve] = _sankaran_noncentrality(t_safe[solve], k_safe[solve], probability)
        bounds.append(np.where(defined, np.maximum(bound, 0.0), np.nan))
    return bounds[0], bounds[1]


def _sankaran_cdf(x: FloatArray, df: FloatArray, nc: FloatArray) -> FloatArray:
    """Sankaran's (1959) normal approximation of the noncentral chi-square CDF."""
    mean, twice, thrice = df + nc, df + 2.0 * nc, df + 3.0 * nc
    h = 1.0 - 2.0 / 3.0 * mean * thrice / twice**2
    p = twice / mean**2
    m = (h - 1.0) * (1.0 - 3.0 * h)
    mu = 1.0 + h * p * (h - 1.0 - (1.0 - h / 2.0) * m * p)
    sd = h * np.sqrt(2.0 * p) * (1.0 + m * p / 2.0)
    return ndtr(((x / mean) ** h - mu) / sd)


def _sankaran_noncentrality(x: FloatArray, df: FloatArray, probability: float) -> FloatArray:
    """``nc`` with ``_sankaran_cdf(x, df, nc) = probability``, by bisection (the CDF falls
    as ``nc`` grows; the bracket reaches 12 standard deviations above ``x``)."""
    low = np.zeros(x.shape)
    high = x + 12.0 * np.sqrt(2.0 * (df + 2.0 * x)) + 10.0
    for _ in range(60):
        middle = (low + high) / 2.0
        above = _sankaran_cdf(x, df, middle) > probability
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    return (low + high) / 2.0
