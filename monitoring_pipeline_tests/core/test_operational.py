"""Latency percentiles and throughput against independent computations: numpy quantiles
and the textbook order-statistic interval on the raw values, statsmodels' exact Poisson
interval, additivity over chunks, and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.rates import confint_poisson

from monitoring_pipeline.core.operational import (
    LATENCY_EDGES_MS,
    N_BINS,
    latency_histograms,
    merge_latency_histograms,
    operational_metrics,
    poisson_interval,
    quantile_from_histogram,
)

BIN_RATIO = 10 ** (1 / 20)  # one bin's width as a ratio (12.2%)


def histogram(values: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(LATENCY_EDGES_MS, values, side="right"), minlength=N_BINS)


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
@pytest.mark.parametrize("n", [200, 5000])
def test_percentiles_and_intervals_match_the_raw_values_within_a_bin(q, n):
    rng = np.random.default_rng(n)
    values = rng.lognormal(np.log(40), 0.5, n) * np.where(rng.random(n) < 0.02, 4.0, 1.0)
    value, lower, upper = quantile_from_histogram(histogram(values), q)
    assert value / np.quantile(values, q) == pytest.approx(1.0, abs=BIN_RATIO - 1)
    # Textbook distribution-free interval on the sorted raw values: order statistics at the
    # binomial ranks l = B^-1(0.025) and u = B^-1(0.975) + 1.
    ordered = np.sort(values)
    low_rank = int(sps.binom.ppf(0.025, n, q))
    high_rank = int(sps.binom.ppf(0.975, n, q)) + 1
    assert lower / ordered[low_rank - 1] == pytest.approx(1.0, abs=BIN_RATIO - 1)
    if high_rank <= n:
        assert upper / ordered[high_rank - 1] == pytest.approx(1.0, abs=BIN_RATIO - 1)
    else:
        assert np.isnan(upper)  # too few values above the percentile to bound it
    assert lower <= value <= (upper if not np.isnan(upper) else np.inf)


def test_the_p95_interval_covers_at_least_nominally_at_published_sizes():
    """Log-normal latencies, true p95 known: the interval covers >= 94% of 2,000 days."""
    rng = np.random.default_rng(3)
    truth = np.exp(np.log(40) + 0.5 * sps.norm.ppf(0.95))
    covered = 0
    for _ in range(2000):
        values = rng.lognormal(np.log(40), 0.5, 300)
        _, lower, upper = quantile_from_histogram(histogram(values), 0.95)
        covered += lower <= truth <= upper
    assert covered / 2000 >= 0.94


def test_throughput_interval_is_the_exact_poisson_one():
    for count in (0, 1, 10, 1234):
        lower, upper = poisson_interval(np.array([count]))
        expected = confint_poisson(count, 1, method="exact-c")
        assert (float(lower[0]), float(upper[0])) == (
            pytest.approx(expected[0], abs=1e-9),
            pytest.approx(expected[1], rel=1e-9),
        )


def test_histograms_add_over_chunks_and_cohorts_are_the_group_bys():
    rng = np.random.default_rng(9)
    rows = pd.DataFrame(
        {
            "ms": rng.lognormal(np.log(50), 0.4, 3000),
            "region": rng.choice(["north", "west"], 3000, p=[0.8, 0.2]),
        }
    )
    rows.loc[rows.index[::100], "ms"] = np.nan  # not logged
    rows.loc[rows.index[1::250], "ms"] = -5.0  # not a latency
    whole = latency_histograms(rows, "ms", ["region"]).set_index("cohort_value")
    parts = [
        latency_histograms(rows.iloc[i : i + 800], "ms", ["region"]) for i in range(0, 3000, 800)
    ]
    merged = merge_latency_histograms(parts).set_index("cohort_value")
    for cohort in ("all", "north", "west"):
        mine = rows if cohort == "all" else rows[rows.region == cohort]
        valid = mine.ms[mine.ms >= 0]
        assert whole.loc[cohort, "predictions"] == merged.loc[cohort, "predictions"] == len(mine)
        assert whole.loc[cohort, "latency_invalid"] == int((mine.ms < 0).sum())
        np.testing.assert_array_equal(whole.loc[cohort, "counts"], merged.loc[cohort, "counts"])
        np.testing.assert_array_equal(whole.loc[cohort, "counts"], histogram(valid.to_numpy()))
    metrics = operational_metrics(whole.reset_index(), min_count=100).set_index(
        ["cohort_value", "metric"]
    )
    assert metrics.loc[("west", "throughput"), "value"] == (rows.region == "west").sum()
    west = rows[(rows.region == "west") & (rows.ms >= 0)].ms
    assert metrics.loc[("west", "latency_p95"), "value"] / west.quantile(0.95) == pytest.approx(
        1.0, abs=BIN_RATIO - 1
    )
    assert metrics.loc[("west", "latency_p95"), "n"] == len(west)
