"""Operational SLIs per cohort and day: serving latency percentiles and throughput.

Latency is kept as an **additive histogram** on fixed log-spaced bins (``LATENCY_EDGES_MS``:
20 per decade from 0.1 ms to 1,000 s, each bin 12.2% wider than the one before), so a
window's histogram is the sum of its days' and any percentile of any window comes from
stored counts, never from raw rows.

* ``latency_p50``, ``latency_p95``, ``latency_p99``: the ``q``-quantile is the value at
  rank ``q * n`` of the histogram's empirical distribution, interpolated geometrically
  inside its bin (within one bin width, 12.2%, of the raw-value quantile). The 95%
  interval is the distribution-free one of order statistics: the ranks ``l = B^-1(a/2)``
  and ``u = B^-1(1 - a/2) + 1`` of ``B = Binomial(n, q)`` bound the quantile with at least
  the nominal coverage (Hahn & Meeker), mapped to values through the same histogram.
* ``throughput``: predictions per day, with the exact (Garwood) Poisson interval of the
  daily rate, ``chi2.ppf(a/2, 2k) / 2`` and ``chi2.ppf(1 - a/2, 2k + 2) / 2``.

Values outside the bins count in the first or last bin; a negative or non-finite latency is
not a latency (counted in ``latency_invalid``, never in the histogram).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from monitoring_pipeline.core.sufficient_stats import cohort_groupings

__all__ = [
    "LATENCY_EDGES_MS",
    "OPERATIONAL_METRICS",
    "latency_histograms",
    "merge_latency_histograms",
    "operational_metrics",
    "poisson_interval",
    "quantile_from_histogram",
]

# Inner edges: bin 0 is [0, 0.1 ms), bin i is [edge[i-1], edge[i]), the last is [1e6 ms, inf).
LATENCY_EDGES_MS = 10.0 ** (np.arange(-20, 121) / 20.0)
N_BINS = LATENCY_EDGES_MS.size + 1
QUANTILES = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}
OPERATIONAL_METRICS = (*QUANTILES, "throughput")
KEYS = ["cohort_attribute", "cohort_value"]


def latency_histograms(
    rows: pd.DataFrame, latency_column: str, cohort_attributes: Sequence[str]
) -> pd.DataFrame:
    """Per cohort (``all`` and each group of each attribute): ``predictions`` (rows),
    ``latency_invalid`` (negative or non-finite latencies; missing ones are neither) and
    ``counts`` (one int array of ``N_BINS`` per row).

    Example:
        >>> rows = pd.DataFrame({"ms": [1.0, 1.0, 50.0, -3.0, np.nan], "g": list("aabbb")})
        >>> h = latency_histograms(rows, "ms", ["g"])
        >>> h[["cohort_value", "predictions", "latency_invalid"]].values.tolist()
        [['all', 5, 1], ['a', 2, 0], ['b', 3, 1]]
        >>> int(h.counts.iloc[0].sum()), int(h.counts.iloc[2].sum())
        (3, 1)
    """
    latency = rows[latency_column].to_numpy(dtype=np.float64)
    present = ~np.isnan(latency)
    valid = present & np.isfinite(latency) & (latency >= 0)
    invalid = present & ~valid
    bins = np.searchsorted(LATENCY_EDGES_MS, np.where(valid, latency, 0.0), side="right")
    groupings = cohort_groupings(rows, cohort_attributes)
    pieces = []
    for attribute, codes, uniques in groupings:
        groups = len(uniques)
        counts = np.bincount(
            codes[valid] * N_BINS + bins[valid], minlength=groups * N_BINS
        ).reshape(groups, N_BINS)
        pieces.append(
            pd.DataFrame(
                {
                    "cohort_attribute": attribute,
                    "cohort_value": uniques.astype(str),
                    "predictions": np.bincount(codes, minlength=groups),
                    "latency_invalid": np.bincount(codes[invalid], minlength=groups),
                    "counts": list(counts),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


def merge_latency_histograms(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The sum of :func:`latency_histograms` results (chunks of a day, days of a window)."""
    frame = pd.concat(parts, ignore_index=True)
    grouped = frame.groupby(KEYS, sort=False)
    out = grouped[["predictions", "latency_invalid"]].sum().reset_index()
    out["counts"] = list(grouped["counts"].apply(lambda c: np.sum(np.stack(c.to_list()), axis=0)))
    return out


def _value_at_rank(counts: np.ndarray, rank: float) -> float:
    """The histogram's value at (1-based, continuous) rank ``rank``: geometric within the
    bin holding it (linear in the first bin, which starts at 0)."""
    n = counts.sum()
    rank = min(max(rank, 0.0), float(n))
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, rank, side="left"))
    index = min(index, counts.size - 1)
    before = cumulative[index] - counts[index]
    share = (rank - before) / counts[index] if counts[index] else 0.0
    if index == 0:
        return float(LATENCY_EDGES_MS[0] * share)
    low = LATENCY_EDGES_MS[index - 1]
    high = LATENCY_EDGES_MS[index] if index < LATENCY_EDGES_MS.size else low
    return float(low * (high / low) ** share)


def quantile_from_histogram(
    counts: np.ndarray, q: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """The ``q``-quantile of a latency histogram and its distribution-free interval
    (NaN without observations; a bound beyond the sample is NaN).

    Example:
        >>> counts = np.zeros(N_BINS, dtype=np.int64)
        >>> counts[np.searchsorted(LATENCY_EDGES_MS, 40.0, side="right")] = 1000
        >>> value, lower, upper = quantile_from_histogram(counts, 0.5)
        >>> 35.4 <= lower <= value <= upper <= 44.7  # the bin [35.5, 39.8) holds them all
        True
    """
    n = int(counts.sum())
    if n == 0:
        return np.nan, np.nan, np.nan
    alpha = 1.0 - confidence
    value = _value_at_rank(counts, q * n)
    low_rank = sps.binom.ppf(alpha / 2.0, n, q)
    high_rank = sps.binom.ppf(1.0 - alpha / 2.0, n, q) + 1.0
    lower = _value_at_rank(counts, low_rank - 0.5) if low_rank >= 1 else np.nan
    upper = _value_at_rank(counts, high_rank - 0.5) if high_rank <= n else np.nan
    return value, lower, upper


def poisson_interval(count: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a Poisson mean from an observed ``count``.

    Example:
        >>> lower, upper = poisson_interval(np.array([10]))
        >>> round(float(lower[0]), 3), round(float(upper[0]), 3)
        (4.795, 18.39)
    """
    k = np.asarray(count, dtype=np.float64)
    alpha = 1.0 - confidence
    lower = np.where(k > 0, sps.chi2.ppf(alpha / 2.0, 2.0 * k) / 2.0, 0.0)
    upper = sps.chi2.ppf(1.0 - alpha / 2.0, 2.0 * k + 2.0) / 2.0
    return lower, upper


def operational_metrics(
    histograms: pd.DataFrame, *, min_count: int = 1, confidence: float = 0.95
) -> pd.DataFrame:
    """Long frame: per cohort of ``histograms`` and metric of ``OPERATIONAL_METRICS``,
    ``value, lower, upper``, ``n`` (latencies measured, predictions for throughput) and
    ``sufficient`` (``n >= min_count`` and an interval bounded on both sides; otherwise
    both bounds are NaN)."""
    rows = []
    for cohort in histograms.itertuples(index=False):
        counts = np.asarray(cohort.counts)
        measured = int(counts.sum())
        for metric, q in QUANTILES.items():
            value, lower, upper = quantile_from_histogram(counts, q, confidence)
            rows.append((cohort.cohort_attribute, cohort.cohort_value, metric, value, lower,
                         upper, measured))  # fmt: skip
        lower, upper = poisson_interval(np.array([cohort.predictions]), confidence)
        rows.append((cohort.cohort_attribute, cohort.cohort_value, "throughput",
                     float(cohort.predictions), float(lower[0]), float(upper[0]),
                     int(cohort.predictions)))  # fmt: skip
    out = pd.DataFrame(rows, columns=[*KEYS, "metric", "value", "lower", "upper", "n"])
    # A percentile the sample cannot bound on both sides (a p99 of fewer than ~370
    # latencies) has no interval, and is not enough to judge.
    unbounded = out["lower"].isna() | out["upper"].isna()
    out.loc[unbounded, ["lower", "upper"]] = np.nan
    out["sufficient"] = (out["n"] >= min_count) & ~unbounded
    return out
