import doctest
import math

import numpy as np
import pytest
from scipy import optimize, stats

from monitoring_pipeline.core import calibration_error
from monitoring_pipeline.core.calibration_error import ERROR_BIN_SHAPES, ece_interval
from monitoring_pipeline_tests.helpers.interval_references import ece_bounds


def cohort_bins(n: int, seed: int, calibration=lambda s: s):
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 3, n)
    label = (rng.random(n) < calibration(score)).astype(float)
    bins = np.minimum((score * 10).astype(int), 9)
    return (
        np.bincount(bins, minlength=10),
        np.bincount(bins, weights=score, minlength=10),
        np.bincount(bins, weights=label, minlength=10),
        score,
        label,
    )


def test_estimate_is_the_binned_ece_of_the_rows():
    bin_n, scores, labels, score, label = cohort_bins(300, seed=1)
    bins = np.minimum((score * 10).astype(int), 9)
    expected = sum(
        (bins == b).mean() * abs(score[bins == b].mean() - label[bins == b].mean())
        for b in np.unique(bins)
    )
    assert float(ece_interval(bin_n, scores, labels).estimate) == pytest.approx(expected)


def test_one_bin_is_a_folded_normal_inversion_by_hand():
    # One bin of 40 rows, mean score 0.5, 12 positives: observed gap 0.2. Candidate gaps
    # g in [0, 0.5] with rate 0.5 - g; the observed |gap| against |N(g, r(1 - r)/40)|.
    n, gap = 40, 0.2
    z = stats.norm.ppf(0.975)

    def margin(g: float, sign: float) -> float:
        rate = 0.5 - g
        sd = math.sqrt(rate * (1 - rate) / n)
        folded = stats.foldnorm(g / sd, scale=sd)
        return sign * (folded.mean() - gap) + z * folded.std()

    lower = optimize.brentq(lambda g: margin(g, 1.0), 0.0, gap)
    upper = optimize.brentq(lambda g: margin(g, -1.0), gap, 0.45)
    assert margin(0.0, 1.0) < 0  # a calibrated bin would rarely look this far off
    ci = ece_interval([n], [20.0], [12])
    assert float(ci.estimate) == pytest.approx(gap)
    assert float(ci.lower) == pytest.approx(lower, abs=2e-4)
    assert float(ci.upper) == pytest.approx(upper, abs=2e-4)


@pytest.mark.parametrize(
    ("n", "seed", "calibration"),
    [
        (60, 2, lambda s: s),
        (250, 3, lambda s: np.clip(s + 0.05, 0, 1)),
        (1500, 4, lambda s: 0.8 * s),
        (800, 5, lambda s: s**1.5),
    ],
)
def test_matches_a_scalar_reference_of_the_documented_method(n, seed, calibration):
    bin_n, scores, labels, _, _ = cohort_bins(n, seed, calibration)
    ece, lower, upper = ece_bounds(bin_n, scores, labels)
    ci = ece_interval(bin_n, scores, labels)
    assert float(ci.estimate) == pytest.approx(ece)
    # The package interpolates on a grid (a tenth of a standard error near the estimate).
    assert float(ci.lower) == pytest.approx(lower, abs=1e-3)
    assert float(ci.upper) == pytest.approx(upper, abs=1e-3)


def test_vectorised_over_cohorts_and_cohorts_do_not_interact():
    cohorts = [cohort_bins(n, seed)[:3] for n, seed in ((80, 6), (400, 7), (2000, 8))]
    stacked = [np.vstack([c[i] for c in cohorts]) for i in range(3)]
    together = ece_interval(*stacked)
    for i, cohort in enumerate(cohorts):
        alone = ece_interval(*cohort)
        assert together.lower[i] == float(alone.lower)
        assert together.upper[i] == float(alone.upper)
    assert together.lower.shape == (3,) and alone.lower.shape == ()


def test_calibrated_large_cohort_starts_at_zero_miscalibrated_one_does_not():
    calibrated = ece_interval(*cohort_bins(5000, 9)[:3])
    assert float(calibrated.lower) == 0.0 and float(calibrated.upper) < 0.05
    # Labels at 0.8 x score: true ECE 0.08.
    off = ece_interval(*cohort_bins(5000, 10, lambda s: 0.8 * s)[:3])
    assert 0.05 < float(off.lower) < 0.08 < float(off.upper) < 0.1


def test_wider_at_higher_confidence_and_no_labels_is_nan():
    bins = cohort_bins(300, 11, lambda s: 0.8 * s)[:3]
    at_95, at_99 = ece_interval(*bins), ece_interval(*bins, confidence=0.99)
    assert at_99.lower < at_95.lower and at_99.upper > at_95.upper
    empty = ece_interval(np.zeros(10), np.zeros(10), np.zeros(10))
    assert np.isnan([empty.estimate, empty.lower, empty.upper]).all()


def test_zero_observed_ece_has_a_defined_interval():
    # Scores exactly at the observed rates in every bin: ECE 0, no direction to scale.
    # The candidates then move every bin alike; the upper bound is the ECE that label noise
    # of that size still allows, and shrinks like 1 / sqrt(n).
    small = ece_interval([10, 10], [2.0, 8.0], [2, 8])
    large = ece_interval([100, 100], [20.0, 80.0], [20, 80])
    for ci in (small, large):
        assert float(ci.estimate) == 0.0 and float(ci.lower) == 0.0
    assert 0.05 < float(small.upper) < 0.15
    assert float(small.upper) / float(large.upper) == pytest.approx(math.sqrt(10), rel=0.05)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="one shape"):
        ece_interval([1, 2], [0.5, 1.0, 1.5], [1, 1])
    assert "one shape" in ERROR_BIN_SHAPES


def test_docstring_examples_run():
    assert doctest.testmod(calibration_error).failed == 0
