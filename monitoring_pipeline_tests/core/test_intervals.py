import doctest
import re

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from monitoring_pipeline.core import intervals
from monitoring_pipeline.core.intervals import (
    ERROR_COUNTS,
    NONCENTRAL_EXACT_MAX,
    katz_ratio_interval,
    mean_interval,
    newcombe_difference_interval,
    noncentrality_interval,
    normal_quantile,
    wilson_interval,
)
from monitoring_pipeline_tests.helpers.interval_references import noncentrality_bounds

GRID = [(0, 1), (0, 10), (1, 10), (5, 10), (9, 10), (10, 10), (3, 7), (17, 250), (999, 1000)]


def test_normal_quantile_matches_known_values():
    assert normal_quantile(0.95) == pytest.approx(1.959963984540054, rel=1e-12)
    assert normal_quantile(0.90) == pytest.approx(1.6448536269514722, rel=1e-12)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        normal_quantile(1.0)


def test_wilson_hand_worked_case():
    # k=8, n=10, z=1.96: centre = (0.8 + z^2/20) / (1 + z^2/10), half width by the formula.
    z = normal_quantile(0.95)
    n, p = 10, 0.8
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    ci = wilson_interval(8, 10)
    assert float(ci.estimate) == pytest.approx(0.8)
    assert float(ci.lower) == pytest.approx(centre - half, rel=1e-12)
    assert float(ci.upper) == pytest.approx(centre + half, rel=1e-12)
    assert float(ci.lower) == pytest.approx(0.4901625, abs=1e-7)


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_matches_statsmodels_and_scipy_vectorised(confidence):
    k = np.array([g[0] for g in GRID])
    n = np.array([g[1] for g in GRID])
    ci = wilson_interval(k, n, confidence)
    lower, upper = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(ci.lower, lower, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ci.upper, upper, rtol=1e-10, atol=1e-12)
    for i, (ki, ni) in enumerate(GRID):
        scipy_ci = binomtest(ki, ni).proportion_ci(confidence_level=confidence, method="wilson")
        assert ci.lower[i] == pytest.approx(scipy_ci.low, abs=1e-10)
        assert ci.upper[i] == pytest.approx(scipy_ci.high, abs=1e-10)


def test_wilson_extremes_and_zero_trials():
    ci = wilson_interval([0, 10, 0], [10, 10, 0])
    assert ci.lower[0] == 0.0 and ci.upper[1] == 1.0
    assert 0 < ci.upper[0] < 0.3 and 0.7 < ci.lower[1] < 1
    assert np.isnan(ci.estimate[2]) and np.isnan(ci.lower[2]) and np.isnan(ci.upper[2])


def test_scalar_inputs_give_zero_dim_arrays_and_broadcasting_works():
    ci = wilson_interval(3, 10)
    assert isinstance(ci.lower, np.ndarray) and ci.lower.shape == ()
    broadcast = wilson_interval(np.array([[1], [2]]), np.array([10, 20, 40]))
    assert broadcast.lower.shape == (2, 3)
    assert broadcast.estimate[1, 2] == pytest.approx(2 / 40)


def test_invalid_counts_raise():
    with pytest.raises(ValueError, match=re.escape(ERROR_COUNTS)):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match=re.escape(ERROR_COUNTS)):
        newcombe_difference_interval(1, 10, -1, 10)


def test_newcombe_matches_statsmodels():
    cases = [
        (30, 100, 20, 120),
        (0, 10, 0, 10),
        (0, 10, 5, 10),
        (10, 10, 0, 12),
        (3, 7, 7, 7),
        (456, 1000, 512, 1100),
    ]
    k1, n1, k2, n2 = (np.array(c) for c in zip(*cases, strict=True))
    ci = newcombe_difference_interval(k1, n1, k2, n2)
    for i, case in enumerate(cases):
        lower, upper = confint_proportions_2indep(*case, method="newcomb", compare="diff")
        assert ci.estimate[i] == pytest.approx(case[0] / case[1] - case[2] / case[3])
        assert ci.lower[i] == pytest.approx(lower, abs=1e-10)
        assert ci.upper[i] == pytest.approx(upper, abs=1e-10)


def test_newcombe_is_nan_without_trials():
    ci = newcombe_difference_interval(0, 0, 3, 10)
    assert np.isnan(ci.estimate) and np.isnan(ci.lower) and np.isnan(ci.upper)


def test_katz_matches_statsmodels_log_ratio():
    cases = [(30, 100, 20, 120), (1, 50, 40, 60), (99, 100, 50, 100), (7, 9, 7, 9)]
    for case in cases:
        ci = katz_ratio_interval(*case)
        lower, upper = confint_proportions_2indep(*case, method="log", compare="ratio")
        assert float(ci.estimate) == pytest.approx((case[0] / case[1]) / (case[2] / case[3]))
        assert float(ci.lower) == pytest.approx(lower, rel=1e-10)
        assert float(ci.upper) == pytest.approx(upper, rel=1e-10)


def test_katz_undefined_cases_are_nan_not_zero():
    ci = katz_ratio_interval([0, 5, 0, 0], [10, 10, 10, 0], [5, 0, 0, 5], [10, 10, 10, 10])
    # k1 = 0: ratio 0 is a fact, its log interval is undefined.
    assert ci.estimate[0] == 0.0 and np.isnan(ci.lower[0]) and np.isnan(ci.upper[0])
    # p2 = 0 or n1 = 0: no ratio at all.
    assert np.isnan(ci.estimate[1]) and np.isnan(ci.lower[1])
    assert np.isnan(ci.estimate[2])
    assert np.isnan(ci.estimate[3]) and np.isnan(ci.upper[3])


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_mean_interval_matches_statsmodels_on_the_values(confidence):
    rng = np.random.default_rng(7)
    for n in (2, 5, 50, 1000):
        values = rng.beta(0.5, 2, n) ** 2  # skewed in [0, 1], like squared errors
        ci = mean_interval(values.sum(), (values**2).sum(), n, confidence)
        lower, upper = DescrStatsW(values).zconfint_mean(alpha=1 - confidence)
        assert float(ci.estimate) == pytest.approx(values.mean(), rel=1e-12)
        assert float(ci.lower) == pytest.approx(lower, rel=1e-9)
        assert float(ci.upper) == pytest.approx(upper, rel=1e-9)


def test_mean_interval_clips_and_is_nan_where_undefined():
    # Values 0 and 1: mean 0.5, s = 0.707, half width 0.98 -> clipped to [0, 1].
    ci = mean_interval([1.0, 1.0, 0.5, 2.0], [1.0, 1.0, 0.25, 1.5], [2, 1, 0, 4], bounds=(0, 1))
    assert (float(ci.lower[0]), float(ci.upper[0])) == (0.0, 1.0)
    assert ci.estimate[1] == 1.0 and np.isnan(ci.lower[1]) and np.isnan(ci.upper[1])  # n = 1
    assert np.isnan([ci.estimate[2], ci.lower[2], ci.upper[2]]).all()  # n = 0
    unknown = mean_interval(2.0, np.nan, 4)  # a sum of squares not stored
    assert float(unknown.estimate) == 0.5 and np.isnan(unknown.lower) and np.isnan(unknown.upper)


@pytest.mark.parametrize(
    ("statistic", "df"),
    [(3.0, 9), (12.0, 9), (40.0, 9), (0.5, 1), (7.0, 1), (60.0, 49), (250.0, 20)],
)
def test_noncentrality_matches_scipy_ncx2_inversion(statistic, df):
    lower, upper = noncentrality_interval(statistic, df)
    expected_lower, expected_upper = noncentrality_bounds(statistic, df)
    assert float(lower) == pytest.approx(expected_lower, rel=1e-7, abs=1e-9)
    assert float(upper) == pytest.approx(expected_upper, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("statistic", [NONCENTRAL_EXACT_MAX + 1, 2_000.0, 50_000.0])
def test_noncentrality_above_the_exact_range_is_close_to_scipy(statistic):
    for df in (1, 9, 49):
        lower, upper = noncentrality_interval(statistic, df)
        expected_lower, expected_upper = noncentrality_bounds(statistic, df)
        # Sankaran's approximation: bounds within 1e-4 standard deviations of the exact.
        sd = np.sqrt(2 * (df + 2 * statistic))
        assert float(lower) == pytest.approx(expected_lower, abs=1e-4 * sd)
        assert float(upper) == pytest.approx(expected_upper, abs=1e-4 * sd)


def test_noncentrality_boundary_cases():
    # Below the central 97.5% quantile: the interval starts at 0; below its 2.5%
    # quantile (the samples agree "too well"), it is [0, 0].
    lower, upper = noncentrality_interval([5.0, 2.0, 0.0], 9)
    assert lower.tolist() == [0.0, 0.0, 0.0]
    assert upper[0] > 0 and upper[1] == 0.0 and upper[2] == 0.0
    assert noncentrality_interval(2.0, 9)[1] == 0.0  # chi2(9).ppf(0.025) = 2.70
    lower, upper = noncentrality_interval([3.0, np.nan], [0, 9])  # no degrees of freedom
    assert np.isnan([lower, upper]).all()
    wide, narrow = noncentrality_interval(40.0, 9, 0.99), noncentrality_interval(40.0, 9, 0.9)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


def test_docstring_examples_run():
    result = doctest.testmod(intervals)
    assert result.attempted > 0 and result.failed == 0
