"""Canary comparison: candidate choice, differences with Newcombe intervals against
statsmodels, verdicts and sufficiency."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.core.version_comparison import compare_versions, pick_candidate

SEEN = {"v1": date(2026, 10, 1), "v1-rt1": date(2026, 11, 20)}


def stats_row(version, attribute, value, *, tp, fp, tn, fn, pred_pos=None, n=None):
    labelled = tp + fp + tn + fn
    return {
        "model_version": version,
        "cohort_attribute": attribute,
        "cohort_value": value,
        "n": n if n is not None else labelled,
        "n_labelled": labelled,
        "pred_pos": pred_pos if pred_pos is not None else tp + fp,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def day_stats() -> pd.DataFrame:
    return pd.DataFrame(
        [
            stats_row("v1", "all", "all", tp=300, fp=80, tn=120, fn=100),
            stats_row("v1-rt1", "all", "all", tp=340, fp=90, tn=110, fn=60),
            stats_row("v1", "region", "west", tp=30, fp=5, tn=15, fn=30),
            stats_row("v1-rt1", "region", "west", tp=10, fp=4, tn=3, fn=2),  # 19 labelled
            stats_row("all", "all", "all", tp=640, fp=170, tn=230, fn=160),  # ignored
        ]
    )


def test_candidate_is_the_version_first_seen_last():
    assert pick_candidate(["v1", "v1-rt1"], SEEN) == "v1-rt1"
    # A rollback to v1 after v2 does not make v1 the candidate: it was seen first earlier.
    assert pick_candidate(["v2", "v1"], {"v1": date(2026, 1, 1), "v2": date(2026, 2, 1)}) == "v2"
    same_day = {"a": date(2026, 1, 1), "b": date(2026, 1, 1)}
    assert pick_candidate(["a", "b"], same_day) == "b"


def test_differences_and_intervals_match_statsmodels_newcombe():
    result = compare_versions(day_stats(), SEEN, min_cohort_size=50)
    assert set(result.candidate_version) == {"v1-rt1"} and set(result.incumbent_version) == {"v1"}
    tpr = result[(result.cohort_attribute == "all") & (result.metric == "tpr")].iloc[0]
    # Hand-worked: 340/400 - 300/400 = 0.1.
    assert tpr.candidate_value == pytest.approx(0.85) and tpr.incumbent_value == pytest.approx(0.75)
    assert tpr.difference == pytest.approx(0.1)
    low, high = confint_proportions_2indep(340, 400, 300, 400, method="newcomb", compare="diff")
    assert (tpr.lower, tpr.upper) == (pytest.approx(low), pytest.approx(high))
    assert tpr.verdict == "better" and tpr.candidate_denominator == 400
    fpr = result[(result.cohort_attribute == "all") & (result.metric == "fpr")].iloc[0]
    low, high = confint_proportions_2indep(90, 200, 80, 200, method="newcomb", compare="diff")
    assert (fpr.lower, fpr.upper) == (pytest.approx(low), pytest.approx(high))
    assert fpr.verdict == "no_clear_difference"  # 0.45 vs 0.40, the interval straddles 0
    accuracy = result[(result.cohort_attribute == "all") & (result.metric == "accuracy")].iloc[0]
    assert accuracy.difference == pytest.approx(450 / 600 - 420 / 600)
    selection = result[(result.cohort_attribute == "all") & (result.metric == "selection_rate")]
    assert selection.iloc[0].verdict in {"higher", "lower", "no_clear_difference"}


def test_small_cohort_is_insufficient_and_a_single_version_compares_nothing():
    result = compare_versions(day_stats(), SEEN, min_cohort_size=50)
    west = result[result.cohort_value == "west"]
    assert len(west) == 6 and (west.verdict == "insufficient").all()
    assert not west.sufficient.any()
    assert np.isfinite(west.difference).all()  # the figure is still reported
    only_v1 = day_stats()[lambda f: f.model_version.isin(["v1", "all"])]
    assert compare_versions(only_v1, SEEN, min_cohort_size=50).empty


def test_cohort_scored_by_one_version_only_is_undefined_on_the_other_side():
    frame = pd.concat(
        [day_stats(), pd.DataFrame([stats_row("v1", "region", "east", tp=60, fp=10, tn=30, fn=5)])]
    )
    result = compare_versions(frame, SEEN, min_cohort_size=50)
    east = result[(result.cohort_value == "east") & (result.metric == "tpr")].iloc[0]
    assert np.isnan(east.candidate_value) and np.isnan(east.difference)
    assert east.verdict == "insufficient" and east.candidate_n_labelled == 0
