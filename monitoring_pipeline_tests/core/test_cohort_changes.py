import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.core import cohort_changes
from monitoring_pipeline.core.cohort_changes import CHANGE_METRICS, compute_cohort_changes
from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics
from monitoring_pipeline.core.intervals import normal_quantile
from monitoring_pipeline.core.sufficient_stats import (
    CohortSpec,
    compute_confusion_stats,
    merge_stats,
)

SPEC = CohortSpec(["region"])
MIN_SIZE = 40


def day_frame(seed: int, n: int, threshold: float, regions=("north", "south")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "model_version": "v1",
            "score": score,
            "decision": (score >= threshold).astype(np.int64),
            "label": np.where(rng.random(n) < 0.1, np.nan, (rng.random(n) < score) * 1.0),
            "region": rng.choice(np.asarray(regions, dtype=object), n),
        }
    )


@pytest.fixture(scope="module")
def world():
    baseline_days = [day_frame(seed, 400, 0.5) for seed in (1, 2, 3)]
    # The day: a lower threshold (more approvals), and a region the baseline never saw.
    day = day_frame(9, 500, 0.35, regions=("north", "south", "moon"))
    baseline_stats = merge_stats(compute_confusion_stats(f, SPEC) for f in baseline_days)
    changes = compute_cohort_changes(
        derive_cohort_metrics(compute_confusion_stats(day, SPEC), min_cohort_size=MIN_SIZE),
        derive_cohort_metrics(baseline_stats, min_cohort_size=MIN_SIZE),
    )
    return day, pd.concat(baseline_days, ignore_index=True), changes


def counts(rows: pd.DataFrame, metric: str) -> tuple[int, int]:
    labelled = rows.dropna(subset=["label"])
    if metric == "selection_rate":
        return int(rows.decision.sum()), len(rows)
    if metric == "tpr":
        positives = labelled[labelled.label == 1]
        return int(positives.decision.sum()), len(positives)
    if metric == "fpr":
        negatives = labelled[labelled.label == 0]
        return int(negatives.decision.sum()), len(negatives)
    flagged = labelled[labelled.decision == 1]
    return int((flagged.label == 1).sum()), len(flagged)


def test_rate_changes_match_statsmodels_newcombe_on_the_rows(world):
    day, baseline, changes = world
    indexed = changes.set_index(["cohort_attribute", "cohort_value", "metric"])
    for attribute, value in (("all", "all"), ("region", "north"), ("region", "south")):
        mine = day if attribute == "all" else day[day.region == value]
        base = baseline if attribute == "all" else baseline[baseline.region == value]
        for metric in ("selection_rate", "tpr", "fpr", "precision"):
            (k1, n1), (k2, n2) = counts(mine, metric), counts(base, metric)
            lower, upper = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb")
            row = indexed.loc[(attribute, value, metric)]
            assert row["value"] == pytest.approx(k1 / n1)
            assert row["baseline_value"] == pytest.approx(k2 / n2)
            assert row["difference"] == pytest.approx(k1 / n1 - k2 / n2)
            assert (row["lower"], row["upper"]) == (pytest.approx(lower), pytest.approx(upper))
            assert (row["denominator"], row["baseline_denominator"]) == (n1, n2)
            assert bool(row["sufficient"]) == (min(n1, n2) >= MIN_SIZE)
    # A lower threshold raises the selection rate clearly above the baseline.
    assert indexed.loc[("all", "all", "selection_rate"), "lower"] > 0


def test_calibration_change_is_welch_on_score_minus_label(world):
    day, baseline, changes = world
    row = changes.set_index(["cohort_value", "metric"]).loc[("south", "calibration_in_the_large")]
    d = day[day.region == "south"].dropna(subset=["label"])
    b = baseline[baseline.region == "south"].dropna(subset=["label"])
    rd, rb = d.score - d.label, b.score - b.label
    half = normal_quantile(0.95) * np.sqrt(rd.var(ddof=1) / len(rd) + rb.var(ddof=1) / len(rb))
    assert row["difference"] == pytest.approx(rd.mean() - rb.mean())
    assert (row["lower"], row["upper"]) == (
        pytest.approx(rd.mean() - rb.mean() - half),
        pytest.approx(rd.mean() - rb.mean() + half),
    )


def test_cohort_without_baseline_is_undefined_and_insufficient(world):
    _, _, changes = world
    moon = changes[changes.cohort_value == "moon"]
    assert moon.metric.tolist() == list(CHANGE_METRICS)
    assert moon.baseline_value.isna().all() and moon.difference.isna().all()
    assert moon.lower.isna().all() and not moon.sufficient.any()
    assert (moon.baseline_denominator == 0).all() and (moon.denominator > 0).all()


def test_docstring_examples_run():
    result = doctest.testmod(cohort_changes)
    assert result.attempted > 0 and result.failed == 0
