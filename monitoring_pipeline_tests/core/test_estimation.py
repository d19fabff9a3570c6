"""Label-free estimation (core/estimation.py) against row-level computations, simulations
of labels drawn from calibrated scores, and hand-worked cases."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core import estimation
from monitoring_pipeline.core.estimation import (
    SHRINKAGE_SCORE_MASS,
    ScoreSums,
    estimate,
    estimate_with_reference,
    estimated_disparities,
    fit_calibration,
)
from monitoring_pipeline.core.sufficient_stats import (
    CohortSpec,
    compute_estimation_stats,
    merge_stats,
)

BINS = 20


def frame(score, decision, label, **cohorts) -> pd.DataFrame:
    return pd.DataFrame(
        {"model_version": "v1", "score": score, "decision": decision, "label": label, **cohorts}
    )


def sums_of(rows: pd.DataFrame, spec: CohortSpec, cells=None) -> ScoreSums:
    return ScoreSums.from_stats(
        compute_estimation_stats(rows, spec, score_bins=BINS), BINS, cells=cells
    )


def test_estimation_stats_match_a_groupby_and_add_up_over_chunks():
    rng = np.random.default_rng(1)
    n = 5_000
    score = rng.random(n)
    rows = frame(
        score,
        (score >= 0.5).astype(int),
        np.where(rng.random(n) < 0.6, (rng.random(n) < score).astype(float), np.nan),
        sex=rng.choice(["f", "m"], n),
    )
    spec = CohortSpec(["sex"])
    whole = compute_estimation_stats(rows, spec, score_bins=BINS)
    chunks = merge_stats([compute_estimation_stats(c, spec, score_bins=BINS)
                          for c in (rows.iloc[i::7] for i in range(7))])  # fmt: skip
    pd.testing.assert_frame_equal(whole, chunks, check_exact=False, rtol=1e-12)
    f = rows[rows.sex == "f"].assign(bin=np.minimum((rows.score * BINS).astype(int), BINS - 1))
    got = whole[(whole.cohort_value == "f") & (whole.decision == 1)].iloc[0]
    expected = (
        f[f.decision == 1]
        .groupby("bin")
        .agg(
            n=("score", "size"),
            s=("score", "sum"),
            q=("score", lambda s: (s**2).sum()),
            ln=("label", "count"),
            ls=("label", "sum"),
        )
        .reindex(range(BINS), fill_value=0)
    )
    assert [got[f"est_n_{b}"] for b in range(BINS)] == expected.n.tolist()
    assert np.allclose([got[f"est_score_sum_{b}"] for b in range(BINS)], expected.s)
    assert np.allclose([got[f"est_score_sq_sum_{b}"] for b in range(BINS)], expected.q)
    assert [got[f"est_labelled_n_{b}"] for b in range(BINS)] == expected.ln.tolist()
    assert [got[f"est_label_sum_{b}"] for b in range(BINS)] == expected.ls.astype(int).tolist()


def test_estimates_equal_a_row_level_computation_with_the_fitted_ratios():
    """The ratio of each bin by hand (labels / score mass, shrunk to the population), each
    row's probability, and the expected confusion counts summed row by row."""
    rng = np.random.default_rng(2)
    spec = CohortSpec(["g"])
    ref_score = rng.random(4_000)
    # Labels run 20% above the scores: every ratio is > 1 and must be learnt.
    reference = frame(ref_score, (ref_score >= 0.5).astype(int),
                      (rng.random(4_000) < np.minimum(1.2 * ref_score, 1)).astype(float),
                      g=rng.choice(["a", "b"], 4_000, p=[0.9, 0.1]))  # fmt: skip
    day_score = rng.beta(2, 3, 1_500)
    day = frame(day_score, (day_score >= 0.4).astype(int), np.nan,
                g=rng.choice(["a", "b"], 1_500, p=[0.9, 0.1]))  # fmt: skip
    sums = sums_of(day, spec)
    est = estimate(sums, fit_calibration(sums_of(reference, spec, sums.cells)), min_cohort_size=1)

    def bins(s):
        return np.minimum((s * BINS).astype(int), BINS - 1)

    ref = reference.assign(bin=bins(reference.score))
    population = ref.groupby("bin").label.sum() / ref.groupby("bin").score.sum()
    for group in ("a", "b"):
        mine = ref[ref.g == group]
        labels = mine.groupby("bin").label.sum().reindex(range(BINS), fill_value=0)
        mass = mine.groupby("bin").score.sum().reindex(range(BINS), fill_value=0)
        ratio = (labels + SHRINKAGE_SCORE_MASS * population) / (mass + SHRINKAGE_SCORE_MASS)
        rows = day[day.g == group]
        # A bin's expected positives are capped at its rows.
        expected = (
            rows.assign(p=ratio.to_numpy()[bins(rows.score)] * rows.score, bin=bins(rows.score))
            .groupby(["decision", "bin"])
            .agg(p=("p", "sum"), n=("p", "size"))
        )
        capped = np.minimum(expected.p, expected.n).groupby(level="decision").sum()
        d = rows.decision.to_numpy() == 1
        tp, fn = capped.get(1, 0.0), capped.get(0, 0.0)
        fp, tn = d.sum() - tp, (~d).sum() - fn
        got = est[est.cohort_value == group].set_index("metric").value
        assert got["tpr"] == pytest.approx(tp / (tp + fn), rel=1e-9)
        assert got["fpr"] == pytest.approx(fp / (fp + tn), rel=1e-9)
        assert got["precision"] == pytest.approx(tp / (tp + fp), rel=1e-9)
        assert got["accuracy"] == pytest.approx((tp + tn) / len(rows), rel=1e-9)
        assert got["positive_rate"] == pytest.approx((tp + fn) / len(rows), rel=1e-9)


def test_standard_error_matches_the_spread_of_labels_drawn_from_the_probabilities():
    """With a huge reference (calibration all but certain), the standard error is the
    spread of the realised metric over labels drawn Bernoulli(score): Monte Carlo, 4,000
    draws."""
    rng = np.random.default_rng(3)
    spec = CohortSpec()
    ref_score = rng.random(400_000)
    reference = frame(ref_score, 0, (rng.random(400_000) < ref_score).astype(float))
    score = rng.beta(2, 2, 800)
    decision = (score >= 0.5).astype(int)
    sums = sums_of(frame(score, decision, np.nan), spec)
    est = estimate(sums, fit_calibration(sums_of(reference, spec, sums.cells)), min_cohort_size=1)
    labels = rng.random((4_000, len(score))) < score
    d = decision == 1
    tp, fn = labels[:, d].sum(axis=1), labels[:, ~d].sum(axis=1)
    fp, tn = d.sum() - tp, (~d).sum() - fn
    simulated = {
        "tpr": tp / (tp + fn),
        "fpr": fp / (fp + tn),
        "precision": tp / d.sum(),
        "accuracy": (tp + tn) / len(score),
        "positive_rate": (tp + fn) / len(score),
    }
    se = est.set_index("metric").standard_error
    for metric, values in simulated.items():
        assert se[metric] == pytest.approx(values.std(), rel=0.06), metric


def test_intervals_cover_the_realised_figures_as_often_as_they_claim():
    """400 cohorts, each with its own 14 labelled reference days and one day to estimate,
    labels drawn from calibrated scores: the realised TPR/FPR/accuracy/precision lie in
    the 95% interval of about 95% of the cohorts (binomial sd over 400: 1.1 points)."""
    rng = np.random.default_rng(4)
    spec = CohortSpec(["rep"])
    cohorts = np.repeat(np.arange(400).astype(str), 300)

    def day_rows():
        score = rng.beta(2, 3, len(cohorts))
        label = (rng.random(len(cohorts)) < score).astype(float)
        return frame(score, (score >= 0.45).astype(int), label, rep=cohorts)

    target = day_rows()
    sums = sums_of(target, spec)
    reference = {k: sums_of(day_rows(), spec, sums.cells) for k in range(14)}
    rows = estimate_with_reference(sums, reference, "target", min_cohort_size=30)
    rows = rows[rows.cohort_attribute == "rep"]
    for metric in ("tpr", "fpr", "accuracy", "precision"):
        mine = rows[rows.metric == metric]
        assert mine.within_interval.notna().mean() >= 0.99  # a rare healthy cohort flagged
        assert 0.925 <= mine.within_interval.dropna().astype(bool).mean() <= 0.975, metric
    assert (rows.status == "estimated").mean() >= 0.99


def test_a_cohort_whose_outcomes_do_not_follow_its_scores_is_uncalibrated():
    """Group b's label rate swings from half to all of its scores day by day: estimates
    of its reference days miss their labels, so it gets no estimate; group a is fine."""
    rng = np.random.default_rng(5)
    spec = CohortSpec(["g"])
    groups = np.repeat(["a", "b"], 600)

    def day_rows(k):
        score = rng.random(len(groups))
        swing = np.where(groups == "b", 0.5 if k % 2 else 1.0, 0.8)
        label = (rng.random(len(groups)) < score * swing).astype(float)
        return frame(score, (score >= 0.5).astype(int), label, g=groups)

    sums = sums_of(day_rows(1), spec)
    reference = {k: sums_of(day_rows(k), spec, sums.cells) for k in range(14)}
    rows = estimate_with_reference(sums, reference, 99, min_cohort_size=30)
    b = rows[(rows.cohort_value == "b") & (rows.metric == "positive_rate")].iloc[0]
    a = rows[(rows.cohort_value == "a") & (rows.metric == "positive_rate")].iloc[0]
    assert b.status == "uncalibrated" and pd.isna(b.value) and not b.sufficient
    assert b.reference_misses >= 4 and not pd.isna(b.realised)
    assert a.status == "estimated" and a.reference_misses <= 2


def test_reference_check_counts_what_estimate_says_of_each_day_without_it():
    """The window's check (arrays only) against estimate()'s frames, day by day: judged
    where within_interval is known, missed where it is False."""
    rng = np.random.default_rng(8)
    spec = CohortSpec(["g"])
    groups = np.repeat(["a", "b", "c"], [400, 300, 40])  # c: too small to be judged

    def day_rows(k):
        score = rng.random(len(groups))
        swing = np.where(groups == "b", 0.5 if k % 2 else 1.0, 0.9)
        label = (rng.random(len(groups)) < score * swing).astype(float)
        label[rng.random(len(groups)) < 0.05 * (k % 3)] = np.nan  # some days short of labels
        return frame(score, (score >= 0.5).astype(int), label, g=groups)

    cells = sums_of(day_rows(0), spec).cells
    days = [sums_of(day_rows(k), spec, cells) for k in range(10)]
    checked = estimation.reference_check(days, min_cohort_size=30)

    total = days[0]
    for other in days[1:]:
        total = total + other
    judged = misses = 0
    for day in days:
        rows = estimate(day, fit_calibration(total - day), min_cohort_size=30)
        judged = judged + rows.within_interval.notna().to_numpy(dtype=np.int64)
        misses = misses + (rows.within_interval == False).fillna(False).to_numpy(np.int64)  # noqa: E712
    assert checked[["cohort_attribute", "cohort_value", "metric"]].equals(
        rows[["cohort_attribute", "cohort_value", "metric"]]
    )
    assert checked.reference_days.tolist() == judged.tolist()
    assert checked.reference_misses.tolist() == misses.tolist()
    assert checked.reference_days.max() > 0 and checked.reference_misses.max() > 0
    assert (checked.reference_days < len(days)).any()  # some cells or days not judged


def test_a_day_of_the_reference_window_is_calibrated_without_itself():
    rng = np.random.default_rng(6)
    spec = CohortSpec()
    days = {}
    for k in range(3):
        score = rng.random(500)
        days[k] = frame(score, (score >= 0.5).astype(int), (rng.random(500) < score).astype(float))
    sums = {k: sums_of(v, spec) for k, v in days.items()}
    inside = estimate_with_reference(sums[0], sums, 0, min_cohort_size=1)
    by_hand = estimate(sums[0], fit_calibration(sums[1] + sums[2]), min_cohort_size=1)
    assert np.allclose(inside.value, by_hand.value)
    in_sample = estimate(sums[0], fit_calibration(sums[0] + sums[1] + sums[2]), min_cohort_size=1)
    assert not np.allclose(inside.value, in_sample.value)


def test_a_cohort_without_labelled_reference_is_not_estimated():
    spec = CohortSpec(["g"])
    day = frame([0.7, 0.2, 0.9], [1, 0, 1], np.nan, g=["a", "a", "new"])
    reference = frame([0.7, 0.2], [1, 0], [1.0, 0.0], g=["a", "a"])
    sums = sums_of(day, spec)
    rows = estimate(sums, fit_calibration(sums_of(reference, spec, sums.cells)), min_cohort_size=1)
    new = rows[rows.cohort_value == "new"]
    assert (new.status == "no_reference").all() and new.value.isna().all()
    assert (rows[rows.cohort_value == "a"].status == "estimated").all()


def test_estimation_error_waits_for_complete_labels():
    spec = CohortSpec()
    score = np.linspace(0.05, 0.95, 100)
    sums = sums_of(frame(score, (score >= 0.5).astype(int), (score > 0.3).astype(float)), spec)
    partly = sums_of(
        frame(score, (score >= 0.5).astype(int), np.where(score > 0.6, np.nan, score > 0.3)),
        spec,
    )
    calibration = fit_calibration(sums)
    full = estimate(sums, calibration, min_cohort_size=1).set_index("metric")
    lagging = estimate(partly, calibration, min_cohort_size=1).set_index("metric")
    assert full.label_coverage["tpr"] == 1.0 and full.estimation_error.notna().all()
    assert full.estimation_error["tpr"] == pytest.approx(full.realised["tpr"] - full.value["tpr"])
    assert lagging.label_coverage["tpr"] == pytest.approx(0.61)
    assert lagging.estimation_error.isna().all() and lagging.within_interval.isna().all()


def test_estimated_gaps_combine_the_two_standard_errors():
    estimates = pd.DataFrame(
        {
            "model_version": "all",
            "cohort_attribute": ["region"] * 2 + ["all"],
            "cohort_value": ["west", "north", "all"],
            "metric": "tpr",
            "value": [0.70, 0.90, 0.88],
            "standard_error": [0.03, 0.04, 0.01],
            "sufficient": [True, True, True],
            "realised": [0.60, 0.91, 0.87],
        }
    )
    (gap,) = estimated_disparities(estimates, {"region": "north"}).itertuples()
    assert (gap.cohort_value, gap.reference_value, gap.metric) == (
        "west",
        "north",
        "tpr_difference",
    )
    assert gap.value == pytest.approx(-0.20)
    assert gap.upper - gap.value == pytest.approx(1.959964 * 0.05, rel=1e-5)
    assert gap.realised_value == pytest.approx(-0.31) and gap.sufficient


def test_doctests():
    assert doctest.testmod(estimation).failed == 0
