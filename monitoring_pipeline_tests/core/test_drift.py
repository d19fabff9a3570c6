import doctest

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo, kstwobign
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.core import drift
from monitoring_pipeline.core.drift import (
    CHI_SQUARE,
    DRIFT_METHODS,
    FDR_LEVEL,
    KS,
    KS_EXACT_MAX_N,
    PSI,
    PSI_EPSILON,
    benjamini_hochberg,
    chi_square,
    evaluate_drift,
    jensen_shannon,
    jensen_shannon_interval,
    ks_binned,
    ks_exact,
    ks_p_value,
    null_rate_change,
    psi,
    psi_from_values,
    psi_interval,
)
from monitoring_pipeline.core.sufficient_stats import (
    NULL_BIN,
    CohortSpec,
    compute_feature_histograms,
    fit_categories,
    fit_numeric_bins,
    histogram_numeric,
    merge_stats,
)
from monitoring_pipeline_tests.helpers.interval_references import psi_js_bounds


def reference_psi(ref, cur, eps=PSI_EPSILON):
    p = np.asarray(ref, float) / np.sum(ref)
    q = np.asarray(cur, float) / np.sum(cur)
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def test_descriptors_state_kinds_thresholds_and_direction():
    assert PSI.default_threshold == 0.25 and PSI.direction == "higher_is_drift"
    assert KS.kinds == ("numeric",) and KS.direction == "lower_is_drift"
    assert CHI_SQUARE.kinds == ("categorical",) and CHI_SQUARE.decision_on == "p_value"
    assert DRIFT_METHODS["jensen_shannon"].default_threshold == 0.1
    assert set(DRIFT_METHODS) == {"psi", "ks", "jensen_shannon", "chi_square", "null_rate_change"}


def test_psi_hand_worked_and_symmetric():
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected)
    assert psi([50, 50], [25, 75]) == pytest.approx(0.27465, abs=1e-5)
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([5, 1, 9], [2, 8, 4]) == pytest.approx(psi([2, 8, 4], [5, 1, 9]))
    assert np.isnan(psi([0, 0], [1, 2]))


def test_psi_empty_bins_use_epsilon_then_renormalise():
    ref, cur = [100, 0, 50, 0], [80, 20, 50, 0]
    assert psi(ref, cur) == pytest.approx(reference_psi(ref, cur), rel=1e-12)
    assert psi(ref, cur, epsilon=1e-3) == pytest.approx(reference_psi(ref, cur, 1e-3), rel=1e-12)
    assert psi(ref, cur, epsilon=1e-3) < psi(ref, cur)  # a larger epsilon tempers empty bins
    assert np.isfinite(psi(ref, cur))


def test_psi_from_values_honours_n_bins():
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=4000), rng.normal(0.3, 1.2, size=3000)
    for n_bins in (5, 10, 20):
        edges = np.r_[-np.inf, np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]), np.inf]
        ref_counts = pd.Series(pd.cut(ref, edges, right=False)).value_counts(sort=False)
        cur_counts = pd.Series(pd.cut(cur, edges, right=False)).value_counts(sort=False)
        assert len(ref_counts) == n_bins
        assert psi_from_values(ref, cur, n_bins=n_bins) == pytest.approx(
            reference_psi(ref_counts.to_numpy(), cur_counts.to_numpy()), rel=1e-10
        )
    assert psi_from_values(ref, cur, n_bins=5) != psi_from_values(ref, cur, n_bins=20)


def test_ks_binned_equals_ks_2samp_when_every_value_has_its_own_bin():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 40, size=3000)
    ref_counts = np.bincount(ref, minlength=45)
    # Effective sample size 3000 * 500 / 3500 = 429 <= KS_EXACT_MAX_N: scipy's formula exactly.
    cur_small = rng.integers(0, 41, size=500)
    binned = ks_binned(ref_counts, np.bincount(cur_small, minlength=45))
    exact = ks_2samp(ref, cur_small, method="asymp")
    assert exact.pvalue > 1e-6
    assert binned.statistic == pytest.approx(exact.statistic, rel=1e-12)
    assert binned.p_value == pytest.approx(exact.pvalue, rel=1e-9)
    # Large samples (effective size 1,200 to 15,000): the corrected Kolmogorov limit,
    # within 1.5e-4 of scipy on shifts from none to large.
    for size, shift in [(2000, 0), (2000, 1), (6000, 0), (60_000, 0), (60_000, 1)]:
        cur = rng.integers(shift, 40 + shift, size=size)
        binned = ks_binned(ref_counts, np.bincount(cur, minlength=45))
        exact = ks_2samp(ref, cur, method="asymp")
        assert binned.statistic == pytest.approx(exact.statistic, rel=1e-12)
        assert binned.p_value == pytest.approx(exact.pvalue, abs=1.5e-4)


def test_ks_p_value_is_kstwo_up_to_the_cut_off_and_within_its_bound_above():
    statistics = np.linspace(1e-4, 0.2, 200)
    at_cut_off = ks_p_value(statistics, KS_EXACT_MAX_N)
    assert np.array_equal(at_cut_off, kstwo.sf(statistics, KS_EXACT_MAX_N))
    for n in (KS_EXACT_MAX_N + 1, 2_500, 8_000):
        approx = ks_p_value(statistics, n)
        assert np.max(np.abs(approx - kstwo.sf(statistics, n))) < 1.5e-4
    # The correction is what earns the bound: the plain limit is 60 times further off.
    plain = kstwobign.sf(statistics * np.sqrt(KS_EXACT_MAX_N + 1))
    assert np.max(np.abs(plain - kstwo.sf(statistics, KS_EXACT_MAX_N + 1))) > 5e-3
    # Vectorised over mixed sizes, in order.
    mixed = ks_p_value([0.05, 0.05], [100, 50_000])
    assert mixed[0] == kstwo.sf(0.05, 100) and mixed[1] < 1e-20


def test_ks_binned_on_coarse_bins_is_a_lower_bound_of_the_exact_statistic():
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(size=2000), rng.normal(0.2, 1, size=2000)
    bins = fit_numeric_bins(ref, n_bins=10)
    binned = ks_binned(histogram_numeric(ref, bins).counts, histogram_numeric(cur, bins).counts)
    exact = ks_exact(ref, cur)
    assert binned.statistic <= exact.statistic + 1e-12
    assert binned.statistic > 0.5 * exact.statistic
    assert ks_exact([1, 2, 3, np.nan], [4, 5, 6]).statistic == 1.0
    assert ks_exact(ref, cur).p_value == pytest.approx(ks_2samp(ref, cur).pvalue)


def test_jensen_shannon_matches_scipy():
    rng = np.random.default_rng(3)
    for _ in range(20):
        ref = rng.integers(0, 50, size=8)
        cur = rng.integers(0, 50, size=8)
        ref[rng.integers(8)] = 0
        assert jensen_shannon(ref, cur) == pytest.approx(jensenshannon(ref, cur), rel=1e-12)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(np.sqrt(np.log(2)))
    assert jensen_shannon([3, 4], [6, 8]) == pytest.approx(0.0, abs=1e-7)
    assert np.isnan(jensen_shannon([0, 0], [1, 1]))


def test_chi_square_matches_scipy_after_dropping_empty_columns():
    ref, cur = [30, 0, 70, 5], [50, 0, 45, 9]
    got = chi_square(ref, cur)
    expected = chi2_contingency(np.array([[30, 70, 5], [50, 45, 9]]), correction=False)
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    single_column = chi_square([10, 0], [20, 0])
    assert (single_column.statistic, single_column.p_value) == (0.0, 1.0)
    assert np.isnan(chi_square([0, 0], [1, 2]).p_value)


def test_null_rate_change_matches_statsmodels_newcombe():
    ci = null_rate_change(12, 1000, 45, 800)
    lower, upper = confint_proportions_2indep(45, 800, 12, 1000, method="newcomb", compare="diff")
    assert float(ci.estimate) == pytest.approx(45 / 800 - 12 / 1000)
    assert float(ci.lower) == pytest.approx(lower, abs=1e-12)
    assert float(ci.upper) == pytest.approx(upper, abs=1e-12)


def test_benjamini_hochberg_matches_statsmodels():
    rng = np.random.default_rng(4)
    p = np.r_[rng.random(40) ** 3, [0.01, 0.01, 0.5, 1.0]]
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12)
    with_nan = np.r_[p[:10], np.nan, p[10:20]]
    got = benjamini_hochberg(with_nan)
    assert np.isnan(got[10])
    np.testing.assert_allclose(
        np.delete(got, 10), multipletests(np.r_[p[:20]], method="fdr_bh")[1], rtol=1e-12
    )
    assert benjamini_hochberg([0.9, 0.95]).max() <= 1.0
    assert np.isnan(benjamini_hochberg([np.nan, np.nan])).all()


# ----------------------------------------------------------------------------- evaluate


SPEC = CohortSpec(["segment"])


def make_frame(n: int, seed: int, *, shift: float = 0.0, null_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stable = rng.normal(size=n)
    moving = rng.normal(shift, 1, size=n)
    moving[rng.random(n) < null_share] = np.nan
    colour_p = [0.5, 0.3, 0.2, 0.0] if shift == 0 else [0.3, 0.3, 0.2, 0.2]
    return pd.DataFrame(
        {
            "model_version": rng.choice(["v1", "v2"], n),
            "segment": rng.choice(["big", "small"], n, p=[0.97, 0.03]),
            "stable": stable,
            "moving": moving,
            "colour": rng.choice(["red", "green", "blue", "violet"], n, p=colour_p),
        }
    )


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([500, 500], [250, 750]),  # the docstring's case: PSI 0.27
        ([120, 95, 80, 105, 100], [100, 110, 90, 100, 95]),  # sampling noise only
        ([4000, 3000, 2000, 1000], [200, 250, 300, 250]),  # strong drift, small current side
        ([50_000, 30_000, 15_000, 5_000, 0], [9_000, 9_500, 1_200, 300, 4]),  # huge, empty bin
    ],
)
def test_psi_and_js_intervals_match_a_scipy_noncentral_chi_square_inversion(reference, current):
    expected = psi_js_bounds(reference, current)
    for name, ci in (
        ("psi", psi_interval(reference, current)),
        ("js", jensen_shannon_interval(reference, current)),
    ):
        estimate, lower, upper = expected[name]
        assert float(ci.estimate) == pytest.approx(estimate, rel=1e-9)
        # Above a chi-square statistic of 400 the package uses Sankaran's approximation.
        assert float(ci.lower) == pytest.approx(lower, rel=1e-5, abs=1e-12)
        assert float(ci.upper) == pytest.approx(upper, rel=1e-5, abs=1e-12)


def test_psi_and_js_interval_edge_cases():
    # Identical proportions: closer than sampling would make them, so [0, 0].
    for interval in (psi_interval, jensen_shannon_interval):
        same = interval([100, 200, 300], [10, 20, 30])
        assert (float(same.estimate), float(same.lower), float(same.upper)) == (0.0, 0.0, 0.0)
        one_bin = interval([100, 0], [40, 0])  # no degrees of freedom: no interval
        assert np.isnan(one_bin.lower) and np.isnan(one_bin.upper)
        empty = interval([0, 0], [3, 4])
        assert np.isnan([empty.estimate, empty.lower, empty.upper]).all()
        noise = interval([120, 95, 80, 105, 100], [100, 110, 90, 100, 95])
        assert float(noise.lower) == 0.0 < float(noise.upper)
    # JS never exceeds its maximum, sqrt(ln 2).
    apart = jensen_shannon_interval([50, 0], [0, 50])
    assert float(apart.upper) <= np.sqrt(np.log(2)) + 1e-15
    wide = psi_interval([500, 500], [250, 750], confidence=0.99)
    narrow = psi_interval([500, 500], [250, 750], confidence=0.9)
    assert wide.lower < narrow.lower and wide.upper > narrow.upper


@pytest.fixture(scope="module")
def drift_inputs():
    baseline_rows = make_frame(6000, seed=10)
    numeric = {c: fit_numeric_bins(baseline_rows[c], n_bins=10) for c in ("stable", "moving")}
    categorical = {"colour": fit_categories(baseline_rows["colour"])}
    baseline = compute_feature_histograms(baseline_rows, numeric, categorical, SPEC)
    current_rows = make_frame(5000, seed=11, shift=0.5, null_share=0.1)
    current = compute_feature_histograms(current_rows, numeric, categorical, SPEC)
    result = evaluate_drift(baseline, current)
    return baseline, current, result


def histogram_pair(baseline, current, version, attribute, value, feature):
    def pick(frame):
        block = frame[
            (frame.model_version == version)
            & (frame.cohort_attribute == attribute)
            & (frame.cohort_value == value)
            & (frame.feature == feature)
        ].sort_values("bin")
        return block.set_index("bin")["count"]

    ref, cur = pick(baseline), pick(current)
    ref, cur = ref.align(cur, fill_value=0)
    return ref, cur


def assert_bh_over_hypotheses(tested: pd.DataFrame) -> None:
    """statsmodels' BH over one p-value per hypothesis: PSI, JS and chi-square of one
    histogram share Pearson's test of its bins; KS is its own."""
    keys = ["model_version", "cohort_attribute", "cohort_value", "feature"]
    hypothesis = np.where(tested["method"] == "ks", "ks", "binned")
    tested = tested.assign(hypothesis=hypothesis)
    unique = tested.drop_duplicates([*keys, "hypothesis"])
    # One hypothesis, one p-value: the shared rows agree.
    assert tested.groupby([*keys, "hypothesis"])["p_value"].nunique().max() == 1, (
        "rows of one hypothesis carry different p-values"
    )
    expected = unique.assign(expected=multipletests(unique["p_value"], method="fdr_bh")[1])
    merged = tested.merge(expected[[*keys, "hypothesis", "expected"]], on=[*keys, "hypothesis"])
    np.testing.assert_allclose(merged["p_value_adjusted"], merged["expected"], rtol=1e-10)


def test_evaluate_drift_rows_match_the_one_histogram_functions(drift_inputs):
    baseline, current, result = drift_inputs
    kinds = result.drop_duplicates("feature").set_index("feature")["feature_kind"]
    for row in result.itertuples(index=False):
        ref, cur = histogram_pair(
            baseline,
            current,
            row.model_version,
            row.cohort_attribute,
            row.cohort_value,
            row.feature,
        )
        ref_values, cur_values = ref.drop(NULL_BIN), cur.drop(NULL_BIN)
        if row.method in ("psi", "jensen_shannon"):
            one = (psi_interval if row.method == "psi" else jensen_shannon_interval)(
                ref_values, cur_values
            )
            assert (row.lower, row.upper) == (float(one.lower), float(one.upper))
        if row.method in ("psi", "jensen_shannon"):
            # The evidence of a PSI or JS flag: Pearson's test of the same bins.
            keep = (ref_values + cur_values) > 0
            pearson = chi2_contingency(
                np.vstack([ref_values[keep], cur_values[keep]]), correction=False
            )
            assert row.p_value == pytest.approx(pearson.pvalue, rel=1e-9, abs=1e-300)
        if row.method == "psi":
            assert row.statistic == pytest.approx(psi(ref_values, cur_values), rel=1e-10)
        elif row.method == "jensen_shannon":
            assert row.statistic == pytest.approx(jensenshannon(ref_values, cur_values), rel=1e-9)
        elif row.method == "ks":
            expected = ks_binned(ref_values, cur_values)
            assert row.statistic == pytest.approx(expected.statistic, rel=1e-12)
            assert row.p_value == pytest.approx(expected.p_value, rel=1e-9, abs=1e-300)
        elif row.method == "chi_square":
            keep = (ref_values + cur_values) > 0
            expected = chi2_contingency(
                np.vstack([ref_values[keep], cur_values[keep]]), correction=False
            )
            assert row.statistic == pytest.approx(expected.statistic, rel=1e-10)
            assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        else:
            ci = null_rate_change(ref[NULL_BIN], ref.sum(), cur[NULL_BIN], cur.sum())
            assert row.statistic == pytest.approx(float(ci.estimate))
            assert row.lower == pytest.approx(float(ci.lower))
            assert row.n_reference == ref.sum() and row.n_current == cur.sum()
            continue
        assert row.n_reference == ref_values.sum() and row.n_current == cur_values.sum()
        assert row.method in [m for m, d in DRIFT_METHODS.items() if kinds[row.feature] in d.kinds]


def test_evaluate_drift_flags_and_bh_adjustment(drift_inputs):
    _, _, result = drift_inputs
    numeric_methods = set(result.loc[result.feature == "stable", "method"])
    assert numeric_methods == {"psi", "ks", "jensen_shannon", "null_rate_change"}
    assert set(result.loc[result.feature == "colour", "method"]) == {
        "psi",
        "chi_square",
        "jensen_shannon",
        "null_rate_change",
    }
    tested = result[result.p_value_adjusted.notna()]
    assert set(tested["method"]) == {"ks", "chi_square", "psi", "jensen_shannon"}
    assert tested["sufficient"].all()
    assert_bh_over_hypotheses(tested)
    big = result[(result.cohort_value.isin(["all", "big"])) & (result.model_version == "v1")]
    flags = big.set_index(["cohort_value", "feature", "method"])["drifted"]
    assert bool(flags[("all", "moving", "psi")])
    assert bool(flags[("all", "moving", "ks")]) and bool(flags[("all", "colour", "chi_square")])
    assert bool(flags[("big", "moving", "null_rate_change")])  # 10% more nulls
    assert not bool(flags[("all", "stable", "psi")])
    assert not bool(flags[("all", "stable", "jensen_shannon")])
    assert not bool(flags[("all", "stable", "null_rate_change")])
    # The intervals of psi and js do not decide: drifted is statistic >= threshold with an
    # adjusted p-value below the family's false discovery rate.
    distances = result[result.method.isin(["psi", "jensen_shannon"]) & result.sufficient]
    assert distances[["lower", "upper"]].notna().all().all()
    expected = (distances.statistic >= distances.threshold) & (
        distances.p_value_adjusted < FDR_LEVEL
    )
    assert (distances.drifted == expected).all()
    assert (
        result.loc[result.method.isin(["ks", "chi_square"]), ["lower", "upper"]].isna().all().all()
    )
    # Reversed, the same change is a fall in missingness: reported, not flagged.
    baseline, current, _ = drift_inputs
    reverse = evaluate_drift(current, baseline, methods=["null_rate_change"])
    fall = reverse.set_index(["model_version", "cohort_value", "feature"]).loc[
        ("v1", "big", "moving")
    ]
    assert fall.upper < -fall.threshold and fall.drifted == False  # noqa: E712
    # ~75 rows per version in the small segment: too few, so no verdict.
    small = result[result.cohort_value == "small"]
    assert not small["sufficient"].any() and small["drifted"].isna().all()
    assert small["p_value_adjusted"].isna().all()
    assert str(result["drifted"].dtype) == "boolean"


def test_thresholds_methods_and_drift_direction_are_honoured(drift_inputs):
    baseline, current, _ = drift_inputs
    lenient = evaluate_drift(baseline, current, methods=["psi"], thresholds={"psi": 10.0})
    assert set(lenient["method"]) == {"psi"}
    assert (lenient["threshold"] == 10.0).all()
    assert not lenient.loc[lenient.sufficient, "drifted"].astype(bool).any()
    strict = evaluate_drift(baseline, current, methods=["psi"], thresholds={"psi": 0.0})
    # Any PSI reaches a threshold of 0: the flag is then the evidence alone.
    judged = strict[strict.sufficient]
    assert (judged["drifted"] == (judged["p_value_adjusted"] < FDR_LEVEL)).all()
    assert judged["drifted"].any() and not judged["drifted"].all()
    assert set(strict["direction"]) == {"higher_is_drift"}
    with pytest.raises(ValueError, match="unknown drift method"):
        evaluate_drift(baseline, current, methods=["wasserstein"])


def test_baseline_without_version_serves_every_version_and_days_merge():
    rows = make_frame(3000, seed=12)
    numeric = {"stable": fit_numeric_bins(rows["stable"], n_bins=8)}
    baseline = compute_feature_histograms(rows, numeric, {}, SPEC, group_keys=())
    day1 = compute_feature_histograms(make_frame(2000, 13), numeric, {}, SPEC)
    day2 = compute_feature_histograms(make_frame(2000, 14), numeric, {}, SPEC)
    window = merge_stats([day1, day2])
    result = evaluate_drift(baseline, window, methods=["psi"])
    assert set(result["model_version"]) == {"v1", "v2"}
    assert (result.loc[result.cohort_value == "all", "n_reference"] == 3000).all()
    v1_all = result[(result.model_version == "v1") & (result.cohort_value == "all")]
    ref, cur = histogram_pair(
        baseline.assign(model_version="v1"), window, "v1", "all", "all", "stable"
    )
    assert v1_all["statistic"].iloc[0] == pytest.approx(psi(ref.drop(NULL_BIN), cur.drop(NULL_BIN)))
    # A cohort the baseline never saw: no reference, no figures, no verdict.
    new = window.assign(cohort_value=window["cohort_value"].replace({"small": "brand-new"}))
    unseen = evaluate_drift(baseline, new, methods=["psi"])
    unseen = unseen[unseen.cohort_value == "brand-new"]
    assert (unseen["n_reference"] == 0).all()
    assert unseen["statistic"].isna().all() and unseen["drifted"].isna().all()


def test_empty_current_frame_gives_an_empty_result_with_the_columns(drift_inputs):
    baseline, current, result = drift_inputs
    empty = evaluate_drift(baseline, current.iloc[0:0])
    assert empty.empty and list(empty.columns) == list(result.columns)
    assert str(empty["drifted"].dtype) == "boolean"


def test_psi_and_js_p_values_hold_their_level_on_sparse_bins():
    """Under no drift, P(p < 0.05) stays near 0.05 on 30 bins, ten of them at 1%, 500
    current vs 14,000 reference observations (where PSI / s itself rejects ~13%)."""
    rng = np.random.default_rng(7)
    proportions = np.r_[np.full(20, 0.045), np.full(10, 0.01)]
    n_histograms = 2000
    bins = [f"{i:03d}" for i in range(proportions.size)]

    def frame(total: int) -> pd.DataFrame:
        counts = rng.multinomial(total, proportions, size=n_histograms)
        return pd.DataFrame({
            "feature": np.repeat([f"f{i}" for i in range(n_histograms)], len(bins)),
            "feature_kind": "numeric", "bin": bins * n_histograms, "count": counts.ravel(),
        })  # fmt: skip

    result = evaluate_drift(frame(14_000), frame(500), methods=["psi", "jensen_shannon"])
    for method in ("psi", "jensen_shannon"):
        rejected = (result.loc[result.method == method, "p_value"] < 0.05).mean()
        assert 0.035 <= rejected <= 0.07, (method, rejected)
    # Adjusted over the 2,000 hypotheses, noise alone flags nothing even at threshold 0.
    strict = evaluate_drift(frame(14_000), frame(500), methods=["psi"], thresholds={"psi": 1e-9})
    assert strict["drifted"].sum() <= 2


def test_fdr_by_adjusts_within_groups(drift_inputs):
    baseline, current, _ = drift_inputs
    result = evaluate_drift(baseline, current, fdr_by=["model_version"])
    for _, block in result[result.p_value_adjusted.notna()].groupby("model_version"):
        assert_bh_over_hypotheses(block)


def test_docstring_examples_run():
    result = doctest.testmod(drift)
    assert result.attempted > 0 and result.failed == 0


def test_discrete_numeric_features_get_chi_square_instead_of_ks():
    from scipy import stats as sps

    from monitoring_pipeline.core.drift import evaluate_drift

    ref_counts, cur_counts = [0, 300, 250, 150, 60], [0, 240, 260, 190, 80]
    bins = ["000", "001", "002", "003", "004"]

    def hist(feature, counts):
        return pd.DataFrame(
            {"feature": feature, "feature_kind": "numeric", "bin": bins, "count": counts}
        )

    base = pd.concat([hist("kids", ref_counts), hist("income", ref_counts)])
    cur = pd.concat([hist("kids", cur_counts), hist("income", cur_counts)])
    out = evaluate_drift(
        base,
        cur,
        methods=["ks", "null_rate_change"],
        thresholds={"chi_square": 0.01},
        count_test_features=["kids"],
    ).set_index(["feature", "method"])
    assert set(out.loc["kids"].index) == {"chi_square", "null_rate_change"}
    assert set(out.loc["income"].index) == {"ks", "null_rate_change"}
    expected = sps.chi2_contingency(np.array([ref_counts[1:], cur_counts[1:]]), correction=False)
    row = out.loc[("kids", "chi_square")]
    assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert row["threshold"] == 0.01 and row["direction"] == "lower_is_drift"
    # A value-count test sees this shift; KS on the same counts is far less sure.
    assert row["p_value"] < out.loc[("income", "ks"), "p_value"]
