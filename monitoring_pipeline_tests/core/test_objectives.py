"""suggest_objective against hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring_pipeline.core.objectives import ERROR_QUANTILE, suggest_objective

NAN = math.nan


def test_upper_bounded_gap_is_high_quantile_plus_median_half_width():
    # 10 days: values 0.01..0.10; half-widths 0.02 (x5), 0.04 (x5): median 0.03.
    values = np.arange(1, 11) / 100
    half = np.array([0.02] * 5 + [0.04] * 5)
    s = suggest_objective(values, values - half, values + half, "<=")
    # numpy's linear quantile: 0.95 * 9 = 8.55 -> 0.09 + 0.55 * 0.01 = 0.0955
    assert s.edge == pytest.approx(0.0955)
    assert s.margin == pytest.approx(0.03)
    assert s.margin_kind == "interval half-width"
    # 0.1255 rounded outward (up) to 3 decimals
    assert s.value == 0.126
    assert s.days == 10
    assert s.basis == "high quantile 0.0955 of 10 judged days, + interval half-width 0.03"


def test_lower_bounded_rate_is_low_quantile_minus_half_width_rounded_down():
    # accuracy >= x: values 0.80..0.89, every interval +-0.02
    values = 0.8 + np.arange(10) / 100
    s = suggest_objective(values, values - 0.02, values + 0.02, ">=")
    # 0.05 * 9 = 0.45 -> 0.80 + 0.45 * 0.01 = 0.8045; minus 0.02 = 0.7845 -> down: 0.784
    assert s.edge == pytest.approx(0.8045)
    assert s.value == 0.784
    assert s.basis.startswith("low quantile 0.8045")


def test_point_statistic_uses_the_tail_spread():
    # PSI without intervals: values 0.01..0.10, median 0.055, q95 0.0955
    values = np.arange(1, 11) / 100
    s = suggest_objective(values, [NAN] * 10, [NAN] * 10, "<")
    assert s.margin_kind == "tail spread"
    assert s.margin == pytest.approx(0.0955 - 0.055)
    assert s.value == 0.136  # 0.0955 + 0.0405 = 0.136 exactly


def test_too_few_judged_days_gives_no_value_and_says_why():
    s = suggest_objective([0.1, 0.2, NAN], [NAN] * 3, [NAN] * 3, "<=", min_days=3)
    assert s.value is None and s.days == 2
    assert s.basis == "only 2 judged day(s): no suggestion"


def test_quantile_must_be_a_high_one():
    with pytest.raises(ValueError, match="quantile must lie in"):
        suggest_objective([0.1] * 10, [0.0] * 10, [0.2] * 10, "<=", quantile=0.3)
    assert "(0.5, 1)" in ERROR_QUANTILE
