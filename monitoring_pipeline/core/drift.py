"""Drift tests on baseline-fixed histograms, so that days merge by adding counts.

Every test reads counts on the bins fitted once on the baseline
(``fit_numeric_bins`` / ``fit_categories``), never raw values; a window's histogram is
the sum of its days'. Each test has a small frozen descriptor (``DriftMethod``) giving
its name, the feature kinds it applies to, its default threshold and which direction
means drift.

Choices:

* Nulls are not a value bin for PSI, KS, Jensen-Shannon or chi-square: those compare
  the distribution of observed values. A change in missingness is ``null_rate_change``.
* PSI: ``sum((q - p) * ln(q / p))`` over the bins with proportions ``p`` (reference)
  and ``q`` (current). Empty bins: a zero proportion is replaced by ``PSI_EPSILON`` =
  1e-4 and each distribution is renormalised to sum to 1, so a bin empty on one side
  contributes a large but finite term and a bin empty on both sides contributes 0.
  The bins are the baseline's quantile bins, so ``n_bins`` of ``fit_numeric_bins`` (or
  of ``psi_from_values``) is honoured exactly (minus bins merged by ties). Thresholds:
  0.1 moderate (``PSI_MODERATE``), 0.25 drift (default).
* KS on bins: ``D = max |F_ref - F_cur|`` with the CDFs evaluated at the bin edges,
  which is a lower bound of the raw-value statistic (equal when every distinct value
  has its own bin). p-value at the effective sample size ``N = round(n * m / (n + m))``:
  up to ``KS_EXACT_MAX_N`` = 1,000 it is ``scipy.stats.kstwo.sf(D, N)``, the formula of
  ``scipy.stats.ks_2samp(method="asymp")``, exactly; above, where ``kstwo.sf`` costs
  milliseconds to a second per test (5 ms at N = 5,000, 120 ms at 100,000), it is the
  limiting Kolmogorov distribution with its first-order finite-sample correction,
  ``scipy.stats.kstwobign.sf(sqrt(N) * D + 1 / (6 * sqrt(N)))``, microseconds per test,
  within 1.5e-4 of ``kstwo.sf`` for every ``D`` at every ``N`` above the cut-off (largest
  difference at N = 1,001, shrinking as 1/N; without the correction 8.8e-3).
  ``ks_exact`` runs ``ks_2samp`` on raw values for small data and tests (exact KS on
  1M x 1M rows is too slow to run daily).
* Jensen-Shannon: the distance (square root of the divergence) with natural logs, in
  ``[0, sqrt(ln 2)]``, as ``scipy.spatial.distance.jensenshannon`` computes it.
* Intervals of PSI and Jensen-Shannon (``lower``/``upper``), from the two histograms'
  counts only: for small differences ``PSI ~ sum (q - p)^2 / p`` and ``JS^2 ~ sum (q -
  p)^2 / (8 p)``, so with ``s = 1/n + 1/m`` (current and reference observations)
  ``PSI / s`` and ``8 JS^2 / s`` are approximately noncentral chi-square with ``k - 1``
  degrees of freedom (``k`` bins non-empty on either side; the central case is the
  known null distribution of PSI) and noncentrality ``PSI_true / s`` (``8 JS_true^2 /
  s``). The interval is the Steiger-Lind inversion of that noncentrality
  (``core.intervals.noncentrality_interval``) mapped back: ``lambda * s`` for PSI,
  ``sqrt(lambda * s / 8)`` for JS (at most ``sqrt(ln 2)``). No random draws. Both
  plug-in figures are biased upwards by about ``(k - 1) * s`` (PSI): the interval
  covers the population figure on the same bins, and starts at 0 whenever the
  statistic is within what sampling alone makes it. Measured coverage: README, "How
  often the intervals cover".
* p-values of PSI and Jensen-Shannon (``p_value``): the evidence that the binned
  distributions differ at all, the Pearson chi-square test of the same 2 x k table (the
  ``chi_square`` test's p-value on these bins). ``PSI / s`` itself is asymptotically
  chi-square under no drift, but the epsilon of empty bins makes that approximation
  anti-conservative on sparse bins (measured: 12.7% rejections at 5% on 30 bins, ten of
  them at 1%, 500 vs 14,000 observations; the Pearson test: 5.2%).
* Chi-square: ``scipy.stats.chi2_contingency`` on the 2 x k table of reference vs
  current counts, columns empty on both sides dropped, without Yates' correction (so
  the statistic is the same Pearson statistic for every k); one non-empty column means
  no evidence (statistic 0, p 1).
* Discrete numeric features (``count_test_features`` of ``evaluate_drift``, binned one
  bin per value): the Pearson chi-square test on the value counts replaces KS (the row
  says ``chi_square``), since KS's p-value assumes a continuous distribution and is
  very conservative with ties.
* null_rate_change: current null share minus reference null share with Newcombe's
  hybrid score interval; drift when the whole interval lies above the threshold (default
  0.05 = 5 percentage points): missingness rose, and tiny samples cannot flag it. A fall
  is reported, not flagged: it is what the days after an incident look like against a
  rolling baseline that took the incident in, and a value filled in where nulls used to
  be shows in the value tests (PSI, KS, chi-square) instead.
* ``drifted``: statistic >= threshold and Benjamini-Hochberg adjusted p-value <
  ``FDR_LEVEL`` (PSI, JS: large enough to matter, and not noise once the day's many
  tests are accounted for); adjusted p-value < alpha (KS, chi-square); interval above
  the threshold (null rate). NA when the test is not sufficient (fewer than
  ``min_count`` observations on either side) or undefined.
* The Benjamini-Hochberg family (``decide_drift``): every sufficient test with a
  p-value, one hypothesis per (histogram, test): PSI, JS and chi-square of one
  histogram test the same hypothesis on the same bins and count once; KS counts apart.
  ``core.multiple_testing`` says which families the pipeline uses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from monitoring_pipeline.core.intervals import (
    IntervalEstimate,
    newcombe_difference_interval,
    noncentrality_interval,
)
from monitoring_pipeline.core.multiple_testing import (
    FDR_LEVEL,
    benjamini_hochberg,
    benjamini_hochberg_within,
)
from monitoring_pipeline.core.sufficient_stats import (
    NULL_BIN,
    fit_numeric_bins,
    histogram_numeric,
)

__all__ = [
    "CHI_SQUARE",
    "DRIFT_METHODS",
    "JENSEN_SHANNON",
    "KS",
    "NULL_RATE_CHANGE",
    "PSI",
    "PSI_EPSILON",
    "PSI_MODERATE",
    "DriftMethod",
    "FDR_LEVEL",
    "TestResult",
    "benjamini_hochberg",
    "decide_drift",
    "chi_square",
    "evaluate_drift",
    "jensen_shannon",
    "jensen_shannon_interval",
    "ks_binned",
    "ks_exact",
    "null_rate_change",
    "psi",
    "psi_from_values",
    "psi_interval",
]

FeatureKind = Literal["numeric", "categorical"]
Direction = Literal["higher_is_drift", "lower_is_drift"]
DecisionOn = Literal["statistic", "p_value", "interval", "statistic_and_p_value"]

PSI_EPSILON = 1e-4
PSI_MODERATE = 0.1
_JS_MAX = float(np.sqrt(np.log(2.0)))
# Largest effective sample size whose KS p-value is scipy's kstwo.sf (see the module notes).
KS_EXACT_MAX_N = 1_000

ERROR_SHAPES = "reference and current counts must have the same length"
ERROR_UNKNOWN_METHOD = "unknown drift method {name!r}; known: {known}"
ERROR_HIST_COLUMNS = "histogram frame lacks columns {columns}"


@dataclass(frozen=True)
class DriftMethod:
    """Descriptor of one drift test.

    Attributes:
        name: identifier stored in the ``method`` column.
        kinds: feature kinds the test applies to.
        default_threshold: threshold used unless overridden (alpha for p-value tests).
        direction: whether a higher or a lower figure means drift.
        decision_on: what the threshold is compared with: the statistic, the
            (BH-adjusted) p-value, or the interval of the statistic; or
            ``statistic_and_p_value``: the statistic reaches the threshold and the
            Benjamini-Hochberg adjusted p-value that the binned distributions differ
            at all is below ``FDR_LEVEL``.
    """

    name: str
    kinds: tuple[FeatureKind, ...]
    default_threshold: float
    direction: Direction
    decision_on: DecisionOn


PSI = DriftMethod(
    "psi", ("numeric", "categorical"), 0.25, "higher_is_drift", "statistic_and_p_value"
)
KS = DriftMethod("ks", ("numeric",), 0.05, "lower_is_drift", "p_value")
JENSEN_SHANNON = DriftMethod(
    "jensen_shannon", ("numeric", "categorical"), 0.1, "higher_is_drift", "statistic_and_p_value"
)
CHI_SQUARE = DriftMethod("chi_square", ("categorical",), 0.05, "lower_is_drift", "p_value")
NULL_RATE_CHANGE = DriftMethod(
    "null_rate_change", ("numeric", "categorical"), 0.05, "higher_is_drift", "interval"
)
DRIFT_METHODS: dict[str, DriftMethod] = {
    m.name: m for m in (PSI, KS, JENSEN_SHANNON, CHI_SQUARE, NULL_RATE_CHANGE)
}


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float


# --------------------------------------------------------------------------------------
# Segment kernels: many histograms at once. ``seg`` gives each bin row its histogram
# (0..n_segments-1, contiguous and in bin order within a histogram for KS).
# --------------------------------------------------------------------------------------


def _totals(seg: NDArray[np.int64], values: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    return np.bincount(seg, weights=values, minlength=n)


def _psi_segments(
    seg: NDArray[np.int64],
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
    n: int,
    epsilon: float,
) -> NDArray[np.float64]:
    ref_total, cur_total = _totals(seg, ref, n), _totals(seg, cur, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ref / ref_total[seg]
        q = cur / cur_total[seg]
        p = np.where(p > 0, p, epsilon)
        q = np.where(q > 0, q, epsilon)
        p = p / _totals(seg, p, n)[seg]
        q = q / _totals(seg, q, n)[seg]
        result = _totals(seg, (q - p) * np.log(q / p), n)
    return np.where((ref_total > 0) & (cur_total > 0), result, np.nan)


def _js_segments(
    seg: NDArray[np.int64], ref: NDArray[np.float64], cur: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    ref_total, cur_total = _totals(seg, ref, n), _totals(seg, cur, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ref / ref_total[seg]
        q = cur / cur_total[seg]
        m = (p + q) / 2.0
        # 0 * ln(0 / m) = 0 (scipy's rel_entr convention).
        terms = np.where(p > 0, p * np.log(p / m), 0.0) + np.where(q > 0, q * np.log(q / m), 0.0)
        divergence = np.maximum(_totals(seg, np.nan_to_num(terms), n) / 2.0, 0.0)
    return np.where((ref_total > 0) & (cur_total > 0), np.sqrt(divergence), np.nan)


def _divergence_interval_segments(
    seg: NDArray[np.int64],
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
    n: int,
    statistic: NDArray[np.float64],
    kind: Literal["psi", "js"],
    confidence: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bounds of PSI or the JS distance per histogram (see the module notes)."""
    ref_total, cur_total = _totals(seg, ref, n), _totals(seg, cur, n)
    df = np.bincount(seg, weights=((ref + cur) > 0).astype(np.float64), minlength=n) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / ref_total + 1.0 / cur_total
        chi_square = statistic / scale if kind == "psi" else 8.0 * statistic**2 / scale
    lower, upper = noncentrality_interval(chi_square, df, confidence)
    if kind == "psi":
        return lower * scale, upper * scale
    return np.sqrt(lower * scale / 8.0), np.minimum(np.sqrt(upper * scale / 8.0), _JS_MAX)


def _segment_max(values: NDArray[np.float64], seg: NDArray[np.int64], n: int) -> NDArray:
    out = np.full(n, np.nan)
    if values.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    out[seg[starts]] = np.maximum.reduceat(values, starts)
    return out


def _ks_segments(
    seg: NDArray[np.int64], ref: NDArray[np.float64], cur: NDArray[np.float64], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray]:
    ref_total, cur_total = _totals(seg, ref, n), _totals(seg, cur, n)
    # Cumulative counts within each histogram: global cumsum minus the sum before it.
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]]) if seg.size else seg
    ref_cum, cur_cum = np.cumsum(ref), np.cumsum(cur)
    ref_before = np.zeros(n)
    cur_before = np.zeros(n)
    ref_before[seg[starts]] = (ref_cum - ref)[starts]
    cur_before[seg[starts]] = (cur_cum - cur)[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(
            (ref_cum - ref_before[seg]) / ref_total[seg]
            - (cur_cum - cur_before[seg]) / cur_total[seg]
        )
        statistic = _segment_max(gap, seg, n)
        effective_n = ref_total * cur_total / (ref_total + cur_total)
    defined = (ref_total > 0) & (cur_total > 0)
    statistic = np.where(defined, statistic, np.nan)
    # kstwo needs n >= 1; scipy's ks_2samp rounds the effective sample size the same way.
    rounded_n = np.maximum(np.round(np.where(defined, effective_n, 1.0)), 1.0)
    p_value = np.where(defined, ks_p_value(np.nan_to_num(statistic), rounded_n), np.nan)
    return statistic, np.clip(p_value, 0.0, 1.0), ref_total, cur_total


def ks_p_value(statistic: ArrayLike, effective_n: ArrayLike) -> NDArray[np.float64]:
    """Two-sided KS p-values of ``statistic`` at integer effective sample sizes:
    ``kstwo.sf`` up to ``KS_EXACT_MAX_N``, the corrected Kolmogorov limit above it (see
    the module notes), vectorised over both arguments.

    Example:
        >>> from scipy.stats import kstwo
        >>> small, large = ks_p_value([0.05, 0.01], [400, 50_000])
        >>> bool(small == kstwo.sf(0.05, 400)), bool(abs(large - kstwo.sf(0.01, 50_000)) < 1e-5)
        (True, True)
    """
    d, n = np.broadcast_arrays(
        np.asarray(statistic, dtype=np.float64), np.asarray(effective_n, dtype=np.float64)
    )
    out = np.empty(d.shape)
    small = n <= KS_EXACT_MAX_N
    out[small] = sps.kstwo.sf(d[small], n[small])
    root_n = np.sqrt(n[~small])
    out[~small] = sps.kstwobign.sf(root_n * d[~small] + 1.0 / (6.0 * root_n))
    return out


def _chi_square_segments(
    seg: NDArray[np.int64], ref: NDArray[np.float64], cur: NDArray[np.float64], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    ref_total, cur_total = _totals(seg, ref, n), _totals(seg, cur, n)
    grand = ref_total + cur_total
    column = ref + cur
    nonempty = column > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_ref = ref_total[seg] * column / grand[seg]
        expected_cur = cur_total[seg] * column / grand[seg]
        terms = (ref - expected_ref) ** 2 / expected_ref + (cur - expected_cur) ** 2 / expected_cur
    statistic = _totals(seg, np.where(nonempty, terms, 0.0), n)
    dof = np.bincount(seg, weights=nonempty.astype(np.float64), minlength=n) - 1.0
    p_value = np.where(dof > 0, sps.chi2.sf(statistic, np.maximum(dof, 1.0)), 1.0)
    statistic = np.where(dof > 0, statistic, 0.0)
    defined = (ref_total > 0) & (cur_total > 0)
    return np.where(defined, statistic, np.nan), np.where(defined, p_value, np.nan)


def _one_histogram(
    reference_counts: ArrayLike, current_counts: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    ref = np.asarray(reference_counts, dtype=np.float64).ravel()
    cur = np.asarray(current_counts, dtype=np.float64).ravel()
    if ref.shape != cur.shape:
        raise ValueError(ERROR_SHAPES)
    return np.zeros(ref.size, dtype=np.int64), ref, cur


# --------------------------------------------------------------------------------------
# One-histogram API
# --------------------------------------------------------------------------------------


def psi(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index of two histograms on the same bins.

    Parameters:
        reference_counts: counts per bin of the reference (baseline).
        current_counts: counts per bin of the current period.
        epsilon: proportion given to empty bins before renormalising.

    Returns:
        PSI (>= 0); NaN when either histogram is empty.

    Example:
        >>> round(psi([50, 50], [25, 75]), 4)
        0.2747
    """
    seg, ref, cur = _one_histogram(reference_counts, current_counts)
    return float(_psi_segments(seg, ref, cur, 1, epsilon)[0])


def psi_from_values(
    reference_values: ArrayLike,
    current_values: ArrayLike,
    *,
    n_bins: int = 10,
    epsilon: float = PSI_EPSILON,
) -> float:
    """PSI of raw numeric values on ``n_bins`` quantile bins fitted on the reference.

    Nulls are ignored (see ``null_rate_change``). Ties in the reference may merge bins.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> psi_from_values(rng.normal(size=5000), rng.normal(size=5000), n_bins=10) < 0.01
        True
    """
    bins = fit_numeric_bins(reference_values, n_bins=n_bins)
    return psi(
        histogram_numeric(reference_values, bins).counts,
        histogram_numeric(current_values, bins).counts,
        epsilon=epsilon,
    )


def psi_interval(
    reference_counts: ArrayLike,
    current_counts: ArrayLike,
    *,
    epsilon: float = PSI_EPSILON,
    confidence: float = 0.95,
) -> IntervalEstimate:
    """PSI of two histograms with its confidence interval (noncentral chi-square
    inversion, see the module notes).

    Returns:
        ``IntervalEstimate`` (0-d arrays); NaN when either histogram is empty, bounds NaN
        when fewer than two bins hold any count.

    Example:
        >>> ci = psi_interval([500, 500], [250, 750])
        >>> round(float(ci.estimate), 4), round(float(ci.lower), 4), round(float(ci.upper), 4)
        (0.2747, 0.1905, 0.3742)
    """
    seg, ref, cur = _one_histogram(reference_counts, current_counts)
    statistic = _psi_segments(seg, ref, cur, 1, epsilon)
    lower, upper = _divergence_interval_segments(seg, ref, cur, 1, statistic, "psi", confidence)
    return IntervalEstimate(
        *(np.asarray(a[0], dtype=np.float64) for a in (statistic, lower, upper))
    )


def ks_binned(reference_counts: ArrayLike, current_counts: ArrayLike) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test on counts over ordered bins.

    Returns:
        ``TestResult`` with ``D = max |F_ref - F_cur|`` at the bin edges and the
        asymptotic two-sided p-value; NaN when either histogram is empty.

    Example:
        >>> result = ks_binned([10, 10, 0], [0, 10, 10])
        >>> float(result.statistic)
        0.5
    """
    seg, ref, cur = _one_histogram(reference_counts, current_counts)
    statistic, p_value, _, _ = _ks_segments(seg, ref, cur, 1)
    return TestResult(float(statistic[0]), float(p_value[0]))


def ks_exact(reference_values: ArrayLike, current_values: ArrayLike) -> TestResult:
    """Two-sample KS test on raw values (``scipy.stats.ks_2samp``, nulls dropped).

    For small data and tests: it sorts both samples, which is slow on millions of rows.

    Example:
        >>> ks_exact([1, 2, 3], [4, 5, 6]).statistic
        1.0
    """
    ref = pd.Series(reference_values).to_numpy(dtype=np.float64, na_value=np.nan)
    cur = pd.Series(current_values).to_numpy(dtype=np.float64, na_value=np.nan)
    result = sps.ks_2samp(ref[~np.isnan(ref)], cur[~np.isnan(cur)])
    return TestResult(float(result.statistic), float(result.pvalue))


def jensen_shannon(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon distance (natural log) of two histograms on the same bins.

    Returns:
        A distance in ``[0, sqrt(ln 2)]``; NaN when either histogram is empty.

    Example:
        >>> round(jensen_shannon([1, 0], [0, 1]) ** 2, 6) == round(float(np.log(2)), 6)
        True
    """
    _, ref, cur = _one_histogram(reference_counts, current_counts)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    return float(jensenshannon(ref, cur))


def jensen_shannon_interval(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, confidence: float = 0.95
) -> IntervalEstimate:
    """Jensen-Shannon distance of two histograms with its confidence interval
    (noncentral chi-square inversion, see the module notes).

    Returns:
        ``IntervalEstimate`` (0-d arrays); NaN when either histogram is empty, bounds NaN
        when fewer than two bins hold any count.

    Example:
        >>> ci = jensen_shannon_interval([500, 500], [250, 750])
        >>> round(float(ci.estimate), 4), round(float(ci.lower), 4), round(float(ci.upper), 4)
        (0.1839, 0.1529, 0.2149)
    """
    seg, ref, cur = _one_histogram(reference_counts, current_counts)
    statistic = _js_segments(seg, ref, cur, 1)
    lower, upper = _divergence_interval_segments(seg, ref, cur, 1, statistic, "js", confidence)
    return IntervalEstimate(
        *(np.asarray(a[0], dtype=np.float64) for a in (statistic, lower, upper))
    )


def chi_square(reference_counts: ArrayLike, current_counts: ArrayLike) -> TestResult:
    """Pearson chi-square test of homogeneity on the 2 x k table (no Yates correction).

    Columns empty on both sides are dropped; one remaining column gives (0, 1).

    Example:
        >>> result = chi_square([30, 70, 0], [50, 50, 0])
        >>> round(result.statistic, 4), round(result.p_value, 5)
        (8.3333, 0.00389)
    """
    _, ref, cur = _one_histogram(reference_counts, current_counts)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return TestResult(float("nan"), float("nan"))
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        return TestResult(0.0, 1.0)
    result = sps.chi2_contingency(np.vstack([ref[keep], cur[keep]]), correction=False)
    return TestResult(float(result.statistic), float(result.pvalue))


def null_rate_change(
    reference_nulls: ArrayLike,
    reference_total: ArrayLike,
    current_nulls: ArrayLike,
    current_total: ArrayLike,
    *,
    confidence: float = 0.95,
) -> IntervalEstimate:
    """Current null share minus reference null share, with a Newcombe interval.

    Example:
        >>> ci = null_rate_change(10, 1000, 60, 1000)
        >>> round(float(ci.estimate), 3), bool(ci.lower > 0)
        (0.05, True)
    """
    return newcombe_difference_interval(
        current_nulls, current_total, reference_nulls, reference_total, confidence
    )


# --------------------------------------------------------------------------------------
# Many features x cohorts x methods at once
# --------------------------------------------------------------------------------------

_RESULT_COLUMNS = (
    "method",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "lower",
    "upper",
    "threshold",
    "direction",
    "n_reference",
    "n_current",
    "sufficient",
    "drifted",
)


def _empty_drift_result(unit_frame: pd.DataFrame) -> pd.DataFrame:
    empty = unit_frame.iloc[0:0].copy()
    dtypes = {"method": "str", "direction": "str", "n_reference": "int64", "n_current": "int64"}
    dtypes |= {"sufficient": "bool", "drifted": "boolean"}
    for column in _RESULT_COLUMNS:
        empty[column] = pd.Series(dtype=dtypes.get(column, "float64"))
    return empty.reset_index(drop=True)


def evaluate_drift(
    baseline_hist_long: pd.DataFrame,
    current_hist_long: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_count: int = 100,
    epsilon: float = PSI_EPSILON,
    confidence: float = 0.95,
    fdr_by: Sequence[str] = (),
    count_test_features: Collection[str] = (),
    decide: bool = True,
    fdr_level: float = FDR_LEVEL,
) -> pd.DataFrame:
    """Run every applicable drift test on every (keys, feature) histogram at once.

    Parameters:
        baseline_hist_long: ``compute_feature_histograms`` output of the baseline.
        current_hist_long: the same for the current day or window (merged days).
        methods: names from ``DRIFT_METHODS`` to run (default: all); each runs only on
            the feature kinds it applies to.
        thresholds: method name -> threshold overriding ``default_threshold`` (alpha for
            p-value tests).
        min_count: observations each side needs for a test to be ``sufficient``.
        epsilon: PSI's proportion for empty bins.
        confidence: level of every interval (null rate, PSI, JS).
        fdr_by: columns within which Benjamini-Hochberg adjusts; default ``()`` adjusts
            across all sufficient p-value tests of the call (call it once per day).
        decide: adjust and decide here (``decide_drift``); False leaves
            ``p_value_adjusted`` NaN and ``drifted`` NA, for a caller that gathers the
            family's tests from several calls and decides once.
        fdr_level: the family's false discovery rate for PSI and JS flags.
        count_test_features: numeric features binned one bin per value: where ``ks`` is
            asked for, they get ``chi_square`` on their bin counts instead (with the
            ``chi_square`` threshold).

    The histogram key columns are every column but ``bin`` and ``count``. The current
    frame's keys define the rows; baseline and current are matched on the key columns
    they share (a baseline without ``model_version`` serves every version). Baseline
    keys absent from the current frame give no row; current keys absent from the
    baseline give rows with ``n_reference`` 0 and NaN figures.

    Returns:
        One row per (current keys, method): ``statistic``, ``p_value`` and
        ``p_value_adjusted`` (p-value tests only), ``lower``/``upper`` (intervals of
        null_rate_change, psi and jensen_shannon; NaN for the p-value tests), ``threshold``, ``direction``, ``n_reference``/``n_current``
        (non-null counts; all rows for null_rate_change), ``sufficient`` and ``drifted``
        (nullable boolean: NA when not sufficient or undefined). Rows come in the order
        of the current frame's histograms, methods in the order of ``methods``.

    Example:
        >>> base = pd.DataFrame({"feature": ["x"] * 3, "feature_kind": ["numeric"] * 3,
        ...     "bin": ["000", "001", "__null__"], "count": [500, 500, 0]})
        >>> cur = base.assign(count=[200, 800, 0])
        >>> out = evaluate_drift(base, cur, methods=["psi", "ks"]).set_index("method")
        >>> bool(out.loc["psi", "drifted"]), bool(out.loc["ks", "drifted"])
        (True, True)
    """
    thresholds = dict(thresholds or {})
    selected = [*DRIFT_METHODS] if methods is None else list(dict.fromkeys(methods))
    for name in [*selected, *thresholds]:
        if name not in DRIFT_METHODS:
            raise ValueError(ERROR_UNKNOWN_METHOD.format(name=name, known=[*DRIFT_METHODS]))
    for frame in (baseline_hist_long, current_hist_long):
        missing = [c for c in ("feature", "feature_kind", "bin", "count") if c not in frame]
        if missing:
            raise ValueError(ERROR_HIST_COLUMNS.format(columns=missing))

    unit_columns = [c for c in current_hist_long.columns if c not in ("bin", "count")]
    join_columns = [c for c in unit_columns if c in baseline_hist_long.columns]
    if current_hist_long.empty:
        return _empty_drift_result(current_hist_long[unit_columns])
    units = current_hist_long[unit_columns].drop_duplicates().reset_index(drop=True)
    units["__unit"] = np.arange(len(units), dtype=np.int64)
    n_units = len(units)

    current = current_hist_long.merge(units, on=unit_columns, how="left")[
        ["__unit", "bin", "count"]
    ]
    current = current.groupby(["__unit", "bin"], as_index=False)["count"].sum()
    baseline = baseline_hist_long.groupby([*join_columns, "bin"], as_index=False)["count"].sum()
    baseline = units[[*join_columns, "__unit"]].merge(baseline, on=join_columns, how="inner")
    aligned = current.merge(
        baseline[["__unit", "bin", "count"]],
        on=["__unit", "bin"],
        how="outer",
        suffixes=("_cur", "_ref"),
    )
    # Numeric bins are zero-padded text, so this sort is bin order (needed for KS).
    aligned = aligned.sort_values(["__unit", "bin"], kind="stable").reset_index(drop=True)
    is_null = (aligned["bin"] == NULL_BIN).to_numpy()
    seg_all = aligned["__unit"].to_numpy(dtype=np.int64)
    ref_all = aligned["count_ref"].fillna(0).to_numpy(dtype=np.float64)
    cur_all = aligned["count_cur"].fillna(0).to_numpy(dtype=np.float64)
    seg, ref, cur = seg_all[~is_null], ref_all[~is_null], cur_all[~is_null]

    ref_values = _totals(seg, ref, n_units)
    cur_values = _totals(seg, cur, n_units)
    ref_nulls = _totals(seg_all[is_null], ref_all[is_null], n_units)
    cur_nulls = _totals(seg_all[is_null], cur_all[is_null], n_units)
    kinds = units["feature_kind"].to_numpy()
    counted = (kinds == "numeric") & units["feature"].isin(list(count_test_features)).to_numpy()

    nan = np.full(n_units, np.nan)
    pearson: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    def pearson_test() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        nonlocal pearson
        if pearson is None:
            pearson = _chi_square_segments(seg, ref, cur, n_units)
        return pearson

    pieces = []
    for name in selected:
        method = DRIFT_METHODS[name]
        statistic, p_value, lower, upper = nan, nan, nan, nan
        n_ref, n_cur = ref_values, cur_values
        if name == "psi":
            statistic = _psi_segments(seg, ref, cur, n_units, epsilon)
            lower, upper = _divergence_interval_segments(
                seg, ref, cur, n_units, statistic, "psi", confidence
            )
            p_value = pearson_test()[1]
        elif name == "jensen_shannon":
            statistic = _js_segments(seg, ref, cur, n_units)
            lower, upper = _divergence_interval_segments(
                seg, ref, cur, n_units, statistic, "js", confidence
            )
            p_value = pearson_test()[1]
        elif name == "ks":
            statistic, p_value, _, _ = _ks_segments(seg, ref, cur, n_units)
            if counted.any():
                chi_statistic, chi_p_value = pearson_test()
                statistic = np.where(counted, chi_statistic, statistic)
                p_value = np.where(counted, chi_p_value, p_value)
        elif name == "chi_square":
            statistic, p_value = pearson_test()
        else:  # null_rate_change
            n_ref, n_cur = ref_values + ref_nulls, cur_values + cur_nulls
            interval = null_rate_change(ref_nulls, n_ref, cur_nulls, n_cur, confidence=confidence)
            statistic, lower, upper = interval.estimate, interval.lower, interval.upper
        applies = np.isin(kinds, method.kinds)
        piece = units.loc[applies, [*unit_columns, "__unit"]].copy()
        piece["method"] = name
        threshold = float(thresholds.get(name, method.default_threshold))
        piece["threshold"] = threshold
        if name == "ks":
            # KS and chi-square share direction and decision (adjusted p-value < alpha).
            swapped = counted[applies]
            piece.loc[swapped, "method"] = CHI_SQUARE.name
            piece.loc[swapped, "threshold"] = float(
                thresholds.get(CHI_SQUARE.name, CHI_SQUARE.default_threshold)
            )
        piece["__method_order"] = len(pieces)
        piece["statistic"] = statistic[applies]
        piece["p_value"] = p_value[applies]
        piece["lower"] = lower[applies]
        piece["upper"] = upper[applies]
        piece["direction"] = method.direction
        piece["n_reference"] = n_ref[applies].astype(np.int64)
        piece["n_current"] = n_cur[applies].astype(np.int64)
        pieces.append(piece)

    if not pieces:
        return _empty_drift_result(units[unit_columns])

    # One block per histogram, methods in the order asked for.
    result = pd.concat(pieces, ignore_index=True)
    result = result.sort_values(["__unit", "__method_order"], kind="stable", ignore_index=True)
    result["sufficient"] = (result["n_reference"] >= min_count) & (result["n_current"] >= min_count)
    result["method"] = result["method"].astype("str")
    result["direction"] = result["direction"].astype("str")
    result["p_value_adjusted"] = np.nan
    result["drifted"] = pd.array([pd.NA] * len(result), dtype="boolean")
    result = result[[*unit_columns, *_RESULT_COLUMNS]]
    if decide:
        result = decide_drift(
            result,
            family_by=fdr_by,
            histogram_columns=unit_columns,
            fdr_level=fdr_level,
        )
    return result


def decide_drift(
    tests: pd.DataFrame,
    *,
    family_by: Sequence[str] = (),
    histogram_columns: Sequence[str],
    fdr_level: float = FDR_LEVEL,
) -> pd.DataFrame:
    """Adjust the p-values of ``tests`` (``evaluate_drift(..., decide=False)`` rows, from
    one call or several concatenated) within each family and decide ``drifted``.

    A family is the rows agreeing on ``family_by`` (default: all rows). Its hypotheses are
    the sufficient rows with a p-value, one per (``histogram_columns``, test): PSI, JS and
    chi-square of one histogram share the Pearson test of its bins and count once. Returns
    a copy with ``p_value_adjusted`` and ``drifted`` set.

    Example:
        >>> tests = pd.DataFrame({"feature": ["x", "x", "y"],
        ...     "method": ["psi", "chi_square", "psi"], "statistic": [0.4, 30.0, 0.3],
        ...     "p_value": [0.001, 0.001, 0.2], "lower": np.nan, "upper": np.nan,
        ...     "threshold": [0.25, 0.05, 0.25], "direction": "higher_is_drift",
        ...     "n_reference": 1000, "n_current": 1000, "sufficient": True})
        >>> out = decide_drift(tests, histogram_columns=["feature"])
        >>> out["p_value_adjusted"].round(3).tolist(), out["drifted"].tolist()
        ([0.002, 0.002, 0.2], [True, True, False])
    """
    result = tests.copy()
    method = result["method"].to_numpy()
    decision = np.array([DRIFT_METHODS[m].decision_on for m in method], dtype=object)
    shared_test = np.isin(method, [PSI.name, JENSEN_SHANNON.name, CHI_SQUARE.name])
    hypothesis = pd.Series(np.where(shared_test, "binned", method), index=result.index)
    tested = (
        np.isin(decision, ["p_value", "statistic_and_p_value"])
        & result["sufficient"].to_numpy(dtype=bool)
        & result["p_value"].notna().to_numpy()
    )
    result["p_value_adjusted"] = np.nan
    if tested.any():
        keys = [*dict.fromkeys([*family_by, *histogram_columns])]
        family = result.loc[tested, [*keys, "p_value"]].assign(__hypothesis=hypothesis[tested])
        unique = family.drop_duplicates([*keys, "__hypothesis"])
        adjusted = benjamini_hochberg_within(
            unique["p_value"], unique[list(family_by)] if family_by else None
        )
        unique = unique.assign(p_value_adjusted=adjusted)[
            [*keys, "__hypothesis", "p_value_adjusted"]
        ]
        merged = family.drop(columns="p_value").merge(
            unique, on=[*keys, "__hypothesis"], how="left"
        )
        result.loc[tested, "p_value_adjusted"] = merged["p_value_adjusted"].to_numpy()

    statistic = result["statistic"].to_numpy(dtype=np.float64)
    threshold = result["threshold"].to_numpy(dtype=np.float64)
    adjusted_p = result["p_value_adjusted"].to_numpy(dtype=np.float64)
    higher = result["direction"].to_numpy() == "higher_is_drift"
    with np.errstate(invalid="ignore"):
        by_statistic = np.where(higher, statistic >= threshold, statistic <= threshold)
        by_p_value = adjusted_p < threshold
        by_interval = result["lower"].to_numpy(dtype=np.float64) > threshold
        by_both = by_statistic & (adjusted_p < fdr_level)
    drifted = np.select(
        [decision == "statistic", decision == "p_value", decision == "statistic_and_p_value"],
        [by_statistic, by_p_value, by_both],
        by_interval,
    )
    figure = np.select(
        [decision == "p_value", decision == "interval", decision == "statistic_and_p_value"],
        [adjusted_p, result["lower"].to_numpy(dtype=np.float64), statistic + adjusted_p],
        statistic,
    )
    undefined = ~result["sufficient"].to_numpy(dtype=bool) | np.isnan(figure)
    result["drifted"] = pd.array(drifted.astype(bool), dtype="boolean")
    result.loc[undefined, "drifted"] = pd.NA
    return result
