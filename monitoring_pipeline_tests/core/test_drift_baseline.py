"""Baseline windows, bins from aggregates and drift settings: small hand-checked cases and
the core fitting functions as references."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from monitoring_pipeline.core.drift import DRIFT_METHODS
from monitoring_pipeline.core.drift_baseline import (
    DEFAULT_MIN_COUNT,
    DEFAULT_MIN_COUNT_DISTANCE,
    METHODS_BY_KIND,
    baseline_window,
    bins_checksum,
    drift_status,
    fitting_window,
    method_descriptor,
    numeric_bin_bounds,
    numeric_bins_from_quantiles,
    order_categories,
    quantile_levels,
    resolve_drift_settings,
)
from monitoring_pipeline.core.sufficient_stats import NumericBins, fit_categories, fit_numeric_bins

START = date(2026, 10, 1)


def d(day: int) -> date:
    return date(2026, 10, day)


def test_rolling_window_fits_on_the_first_days_and_compares_with_the_preceding_days():
    assert fitting_window(START, preceding_days=3) == (d(1), d(3))
    for day in (d(1), d(2), d(3)):
        assert baseline_window(day, START, preceding_days=3) is None
    assert baseline_window(d(4), START, preceding_days=3) == (d(1), d(3))
    assert baseline_window(d(20), START, preceding_days=14) == (d(6), d(19))


def test_fixed_window_is_the_same_for_every_day_outside_it():
    window = {"start": d(5), "end": d(9)}
    assert fitting_window(START, **window) == (d(5), d(9))
    assert baseline_window(d(7), START, **window) is None
    assert baseline_window(d(9), START, **window) is None
    assert baseline_window(d(10), START, **window) == (d(5), d(9))
    assert baseline_window(d(2), START, **window) == (d(5), d(9))  # history backfill


@pytest.mark.parametrize(
    "window", [{}, {"preceding_days": 3, "start": d(1), "end": d(2)}, {"start": d(3), "end": d(1)}]
)
def test_a_window_needs_exactly_one_valid_kind(window):
    with pytest.raises(ValueError, match="preceding_days"):
        fitting_window(START, **window)


def test_status_follows_the_days_found():
    assert drift_status(3, 3) == "ok"
    assert drift_status(2, 3) == "partial_baseline"
    assert drift_status(0, 3) == "no_baseline"
    assert drift_status(5, None) == "no_baseline"


@pytest.mark.parametrize("n_bins", [2, 4, 10, 13])
def test_bins_from_quantiles_equal_fit_numeric_bins(n_bins):
    rng = np.random.default_rng(n_bins)
    # Ties (a third of the values are 0) merge bins the same way.
    values = np.concatenate([rng.lognormal(size=700), np.zeros(350), [np.nan] * 20])
    finite = values[np.isfinite(values)]
    quantiles = np.quantile(finite, quantile_levels(n_bins))
    assert numeric_bins_from_quantiles(quantiles.tolist()) == fit_numeric_bins(values, n_bins)


def test_an_empty_baseline_gives_one_bin():
    assert numeric_bins_from_quantiles(None).n_bins == 1
    assert numeric_bins_from_quantiles([None, None]).n_bins == 1


def test_categories_from_counts_equal_fit_categories():
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 7 + ["d"] + [None] * 3
    counts = {"a": 5, "b": 5, "c": 7, "d": 1}
    assert order_categories(counts) == fit_categories(values) == ["c", "a", "b", "d"]
    assert order_categories(counts, max_categories=2) == fit_categories(values, max_categories=2)


def test_reserved_category_names_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        order_categories({"__other__": 3}, feature="purpose")


def test_checksum_tracks_the_bins_exactly():
    a = bins_checksum("numeric", NumericBins((0.1, 0.2)))
    assert a == bins_checksum("numeric", NumericBins((0.1, 0.2)))
    assert a != bins_checksum("numeric", NumericBins((0.1, np.nextafter(0.2, 1))))
    assert bins_checksum("categorical", ["a", "b"]) != bins_checksum("categorical", ["b", "a"])
    assert len(a) == 16


def test_numeric_bounds_are_the_edges_with_infinite_ends():
    bounds = numeric_bin_bounds(NumericBins((1.0, 2.0)))
    assert bounds.bin.tolist() == ["000", "001", "002"]
    assert bounds.bin_lower.tolist() == [-np.inf, 1.0, 2.0]
    assert bounds.bin_upper.tolist() == [1.0, 2.0, np.inf]


def test_stored_methods_follow_the_core_descriptors():
    for name, core_name in (("js", "jensen_shannon"), ("chi2", "chi_square"), ("psi", "psi")):
        method = method_descriptor(name)
        assert method.core_name == core_name
        assert method.default_threshold == DRIFT_METHODS[core_name].default_threshold
    assert method_descriptor("ks").direction == "lower_is_drift"
    assert method_descriptor("ks").decided_on == "p_value_adjusted"
    assert method_descriptor("psi").direction == "higher_is_drift"
    assert method_descriptor("null_rate_change").direction == "higher_is_drift"
    for kind, names in METHODS_BY_KIND.items():
        assert all(kind in method_descriptor(n).kinds for n in names)


def test_settings_default_and_override():
    defaults = resolve_drift_settings()
    assert dict(defaults.thresholds) == {
        "psi": 0.25,
        "ks": 0.05,
        "js": 0.1,
        "chi2": 0.05,
        "null_rate_change": 0.05,
    }
    assert (defaults.min_count, defaults.min_count_distance) == (
        DEFAULT_MIN_COUNT,
        DEFAULT_MIN_COUNT_DISTANCE,
    )
    custom = resolve_drift_settings({"psi": 0.1, "ks": 0.01}, min_count=20)
    assert custom.thresholds["psi"] == 0.1 and custom.thresholds["js"] == 0.1
    assert custom.core_thresholds(["ks", "chi2"]) == {"ks": 0.01, "chi_square": 0.05}
    assert custom.min_count == 20


@pytest.mark.parametrize(
    ("thresholds", "counts", "message"),
    [
        ({"kl": 0.1}, {}, "unknown method 'kl'"),
        ({"psi": -1}, {}, "drift.thresholds.psi"),
        ({"psi": "high"}, {}, "drift.thresholds.psi"),
        ({}, {"min_count": 0}, "drift.min_count"),
        ({}, {"min_count_distance": 1.5}, "drift.min_count_distance"),
    ],
)
def test_bad_settings_name_the_key(thresholds, counts, message):
    with pytest.raises(ValueError, match=message):
        resolve_drift_settings(thresholds, **counts)
