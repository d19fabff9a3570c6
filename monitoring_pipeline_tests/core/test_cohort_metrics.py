import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from monitoring_pipeline.core import cohort_metrics
from monitoring_pipeline.core.cohort_metrics import (
    METRICS,
    derive_cohort_metrics,
    metric_columns,
    to_long_format,
)
from monitoring_pipeline.core.intervals import normal_quantile
from monitoring_pipeline.core.sufficient_stats import (
    CohortSpec,
    compute_confusion_stats,
    merge_stats,
)
from monitoring_pipeline_tests.helpers.interval_references import ece_bounds

SPEC = CohortSpec(["sex", "region"], [("sex", "region")])
SCORE_BINS = 10


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 3, size=n)
    label = (rng.random(n) < np.clip(score + 0.1, 0, 1)).astype(float)
    label[rng.random(n) < 0.25] = np.nan
    frame = pd.DataFrame(
        {
            "model_version": "v1",
            "score": score,
            "decision": (score > 0.45).astype(np.int64),
            "label": label,
            "sex": rng.choice(["female", "male"], n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.4, 0.1]),
        }
    )
    # A cohort without actual positives (TPR, FNR undefined) and one never labelled.
    nopos = pd.DataFrame(
        {
            "model_version": "v1",
            "score": [0.7, 0.2, 0.5, 0.1],
            "decision": [1, 0, 1, 0],
            "label": [0.0, 0.0, 0.0, 0.0],
            "sex": "female",
            "region": "island",
        }
    )
    unlabelled = pd.DataFrame(
        {
            "model_version": "v1",
            "score": [0.9, 0.3],
            "decision": [1, 0],
            "label": [np.nan, np.nan],
            "sex": "male",
            "region": "moon",
        }
    )
    return pd.concat([frame, nopos, unlabelled], ignore_index=True)


def direct_metrics(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """metric -> (value, denominator) computed on the cohort's rows with plain numpy."""
    labelled = rows[rows["label"].notna()]
    y = labelled["label"].to_numpy(dtype=int)
    d = labelled["decision"].to_numpy()
    s = labelled["score"].to_numpy()

    def ratio(num: float, den: float) -> tuple[float, float]:
        return (num / den if den else np.nan), den

    out = {
        "selection_rate": ratio(rows["decision"].sum(), len(rows)),
        "prevalence": ratio(y.sum(), len(y)),
        "tpr": ratio(((d == 1) & (y == 1)).sum(), (y == 1).sum()),
        "fpr": ratio(((d == 1) & (y == 0)).sum(), (y == 0).sum()),
        "fnr": ratio(((d == 0) & (y == 1)).sum(), (y == 1).sum()),
        "precision": ratio(((d == 1) & (y == 1)).sum(), (d == 1).sum()),
        "accuracy": ratio((d == y).sum(), len(y)),
    }
    if len(y):
        bins = np.minimum(np.floor(s * SCORE_BINS), SCORE_BINS - 1)
        ece = sum(
            (bins == b).sum() / len(y) * abs(s[bins == b].mean() - y[bins == b].mean())
            for b in np.unique(bins)
        )
        out["ece"] = (ece, len(y))
        out["brier"] = (np.mean((s - y) ** 2), len(y))
        out["calibration_in_the_large"] = (np.mean(s - y), len(y))
    else:
        for metric in ("ece", "brier", "calibration_in_the_large"):
            out[metric] = (np.nan, 0)
    return out


def rows_of(frame: pd.DataFrame, attribute: str, value: str) -> pd.DataFrame:
    if attribute == "all":
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for column, v in zip(attribute.split("&"), value.split("&"), strict=True):
        mask &= (frame[column] == v).to_numpy()
    return frame[mask]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(3000, seed=11)


@pytest.fixture(scope="module")
def wide(frame: pd.DataFrame) -> pd.DataFrame:
    stats = compute_confusion_stats(frame, SPEC, score_bins=SCORE_BINS)
    return derive_cohort_metrics(stats, min_cohort_size=30)


def test_every_metric_matches_direct_computation_on_the_cohort_rows(frame, wide):
    z = normal_quantile(0.95)
    for _, row in wide.iterrows():
        rows = rows_of(frame, row["cohort_attribute"], row["cohort_value"])
        for metric, (value, denominator) in direct_metrics(rows).items():
            if np.isnan(value):
                assert np.isnan(row[metric]), (row["cohort_value"], metric)
            else:
                assert row[metric] == pytest.approx(value, rel=1e-9, abs=1e-12), metric
            assert row[f"{metric}_n"] == denominator
        labelled = rows[rows["label"].notna()]
        if len(labelled) >= 2:
            diff = labelled["score"].to_numpy() - labelled["label"].to_numpy()
            half = z * diff.std(ddof=1) / np.sqrt(len(diff))
            assert row["calibration_in_the_large_lower"] == pytest.approx(diff.mean() - half)
            assert row["calibration_in_the_large_upper"] == pytest.approx(diff.mean() + half)


def test_rate_bounds_are_wilson_from_statsmodels(wide):
    for metric in ("selection_rate", "tpr", "fpr", "precision", "accuracy"):
        defined = wide[f"{metric}_n"] > 0
        k = np.round(wide.loc[defined, metric] * wide.loc[defined, f"{metric}_n"])
        lower, upper = proportion_confint(k, wide.loc[defined, f"{metric}_n"], method="wilson")
        np.testing.assert_allclose(wide.loc[defined, f"{metric}_lower"], lower, atol=1e-10)
        np.testing.assert_allclose(wide.loc[defined, f"{metric}_upper"], upper, atol=1e-10)


def test_undefined_metrics_are_nan_never_zero(wide):
    island = wide[wide.cohort_value == "island"].iloc[0]
    assert island["positives"] == 0 and island["tpr_n"] == 0
    for column in ("tpr", "tpr_lower", "tpr_upper", "fnr", "fnr_upper"):
        assert np.isnan(island[column]), column
    assert island["fpr"] == pytest.approx(0.5)  # defined: 4 negatives, 2 flagged
    moon = wide[wide.cohort_value == "moon"].iloc[0]
    assert moon["n_labelled"] == 0
    for column in ("accuracy", "precision", "ece", "brier", "calibration_in_the_large"):
        assert np.isnan(moon[column]), column
    assert moon["selection_rate"] == pytest.approx(0.5)  # needs no label


def test_sufficient_is_labelled_count_at_least_min_size(frame):
    stats = compute_confusion_stats(frame, SPEC, score_bins=SCORE_BINS)
    east_labelled = int(stats.loc[stats.cohort_value == "east", "n_labelled"].iloc[0])
    at = derive_cohort_metrics(stats, min_cohort_size=east_labelled).set_index("cohort_value")
    above = derive_cohort_metrics(stats, min_cohort_size=east_labelled + 1)
    above = above.set_index("cohort_value")
    assert bool(at.loc["east", "sufficient"]) is True
    assert bool(above.loc["east", "sufficient"]) is False
    assert bool(at.loc["island", "sufficient"]) is False  # 4 labelled rows
    assert bool(at.loc["all", "sufficient"]) is True
    with pytest.raises(ValueError, match="min_cohort_size"):
        derive_cohort_metrics(stats, min_cohort_size=0)


def test_each_metric_is_sufficient_on_its_own_denominator():
    # 200 labelled rows, 30 actual positives, 40 predicted positives among labelled,
    # plus 100 unlabelled rows: with a minimum of 50, rates over labelled rows and over
    # negatives are judged, TPR (30 positives), FNR and precision (40) are not.
    labelled = 200
    label = np.r_[np.ones(30), np.zeros(labelled - 30), np.full(100, np.nan)]
    decision = np.r_[np.ones(20), np.zeros(10), np.ones(20), np.zeros(150), np.ones(100)]
    frame = pd.DataFrame(
        {"model_version": "v1", "score": 0.4, "decision": decision.astype(int), "label": label}
    )
    row = derive_cohort_metrics(compute_confusion_stats(frame, CohortSpec()), min_cohort_size=50)
    flags = to_long_format(row).set_index("metric")[["denominator", "sufficient"]]
    assert flags.loc["tpr"].tolist() == [30, False]
    assert flags.loc["fnr"].tolist() == [30, False]
    assert flags.loc["precision"].tolist() == [40, False]
    assert flags.loc["fpr"].tolist() == [170, True]
    assert flags.loc["selection_rate"].tolist() == [300, True]
    for metric in ("accuracy", "prevalence", "ece", "brier", "calibration_in_the_large"):
        assert flags.loc[metric].tolist() == [200, True], metric
    # The cohort-level flag stays on the labelled count.
    assert bool(row["sufficient"].iloc[0]) is True
    row = derive_cohort_metrics(compute_confusion_stats(frame, CohortSpec()), min_cohort_size=250)
    flags = to_long_format(row).set_index("metric")["sufficient"]
    assert flags[flags].index.tolist() == ["selection_rate"]  # 300 predictions >= 250


def test_metrics_of_merged_days_equal_metrics_of_the_window(frame):
    days = [frame.iloc[:1000], frame.iloc[1000:2200], frame.iloc[2200:]]
    merged = merge_stats(compute_confusion_stats(d, SPEC) for d in days)
    window = compute_confusion_stats(frame, SPEC)
    pd.testing.assert_frame_equal(
        derive_cohort_metrics(merged, min_cohort_size=30),
        derive_cohort_metrics(window, min_cohort_size=30),
        check_exact=False,
        rtol=1e-10,
    )


def test_hand_worked_calibration():
    frame = pd.DataFrame(
        {
            "model_version": "v1",
            "score": [0.9, 0.8, 0.3],
            "decision": [1, 1, 0],
            "label": [1, 0, 0],
        }
    )
    row = derive_cohort_metrics(
        compute_confusion_stats(frame, CohortSpec()), min_cohort_size=1
    ).iloc[0]
    # Bins 9, 8, 3 hold one row each: ECE = (0.1 + 0.8 + 0.3) / 3.
    assert row["ece"] == pytest.approx(0.4)
    assert row["brier"] == pytest.approx((0.01 + 0.64 + 0.09) / 3)
    assert row["calibration_in_the_large"] == pytest.approx((2.0 - 1) / 3)
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (1, 1, 1, 0)
    # Brier: squared errors 0.01, 0.64, 0.09; mean +/- z * s / sqrt(3), clipped to [0, 1].
    errors = np.array([0.01, 0.64, 0.09])
    half = normal_quantile(0.95) * errors.std(ddof=1) / np.sqrt(3)
    assert row["brier_lower"] == pytest.approx(max(errors.mean() - half, 0.0))
    assert row["brier_upper"] == pytest.approx(errors.mean() + half)
    # ECE of three rows: the lower bound is 0 (three labels say little); the candidates
    # (the observed gaps scaled) end where every rate is 0 or 1, here at the labels
    # themselves, so the upper bound is the observed 0.4 (a limit of the method that only
    # cells far below any minimum size reach).
    assert row["ece_lower"] == 0.0 and row["ece_upper"] == pytest.approx(0.4)


def test_brier_and_ece_intervals_match_independent_computations(frame, wide):
    checked = 0
    for _, row in wide[wide.n_labelled >= 30].iterrows():
        rows = rows_of(frame, row["cohort_attribute"], row["cohort_value"])
        labelled = rows[rows["label"].notna()]
        s, y = labelled["score"].to_numpy(), labelled["label"].to_numpy()
        lower, upper = DescrStatsW((s - y) ** 2).zconfint_mean(alpha=0.05)
        assert row["brier_lower"] == pytest.approx(lower, rel=1e-9)
        assert row["brier_upper"] == pytest.approx(upper, rel=1e-9)
        bins = np.minimum(np.floor(s * SCORE_BINS), SCORE_BINS - 1).astype(int)
        ece, lower, upper = ece_bounds(
            np.bincount(bins, minlength=SCORE_BINS),
            np.bincount(bins, weights=s, minlength=SCORE_BINS),
            np.bincount(bins, weights=y, minlength=SCORE_BINS),
        )
        assert row["ece"] == pytest.approx(ece, rel=1e-9)
        assert row["ece_lower"] == pytest.approx(lower, abs=1e-3)
        assert row["ece_upper"] == pytest.approx(upper, abs=1e-3)
        checked += 1
    assert checked >= 10


def test_brier_has_no_interval_without_its_sum_of_squares(frame):
    stats = compute_confusion_stats(frame.iloc[:1500], SPEC)
    assert stats["brier_sq_sum"].notna().all()
    older = stats.drop(columns="brier_sq_sum")  # statistics stored before migration 026
    wide = derive_cohort_metrics(older, min_cohort_size=30)
    assert wide["brier"].notna().any() and wide["brier_lower"].isna().all()
    assert wide["brier_upper"].isna().all() and wide["ece_lower"].notna().any()
    # A window summing such a day with a newer one: the sum is unknown, not partial.
    newer = compute_confusion_stats(frame.iloc[1500:], SPEC)
    window = merge_stats([stats.assign(brier_sq_sum=np.nan), newer])
    both = window.cohort_value.isin(stats.cohort_value)  # cohorts on both days
    assert window.loc[both, "brier_sq_sum"].isna().all()
    assert window.loc[~both, "brier_sq_sum"].notna().all()  # only on the newer day
    merged = derive_cohort_metrics(window, min_cohort_size=30)
    assert merged.loc[both, "brier_lower"].isna().all()


def test_long_format_has_one_row_per_cohort_and_metric(wide):
    long = to_long_format(wide)
    assert len(long) == len(wide) * len(METRICS)
    assert list(long.columns) == [
        "model_version",
        "cohort_attribute",
        "cohort_value",
        "metric",
        "value",
        "lower",
        "upper",
        "denominator",
        "sufficient",
    ]
    assert long["denominator"].dtype == np.int64
    indexed = long.set_index(["cohort_attribute", "cohort_value", "metric"])
    for _, row in wide.sample(5, random_state=0).iterrows():
        for metric in METRICS:
            got = indexed.loc[(row["cohort_attribute"], row["cohort_value"], metric)]
            value, lower, upper, n = (row[c] for c in metric_columns(metric))
            np.testing.assert_equal(
                [got["value"], got["lower"], got["upper"]], [value, lower, upper]
            )
            assert got["denominator"] == n
            assert got["sufficient"] == (n >= 30)  # the wide fixture's minimum size


def test_docstring_examples_run():
    result = doctest.testmod(cohort_metrics)
    assert result.attempted > 0 and result.failed == 0
