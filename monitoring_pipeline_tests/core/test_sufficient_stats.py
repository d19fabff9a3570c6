import doctest
import re

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core import sufficient_stats
from monitoring_pipeline.core.sufficient_stats import (
    ERROR_COLUMNS_DIFFER,
    ERROR_DECISION,
    ERROR_EMPTY_BASELINE,
    ERROR_LABEL,
    ERROR_SCORE,
    MISSING_COHORT_VALUE,
    NULL_BIN,
    OTHER_BIN,
    CohortSpec,
    NumericBins,
    categorical_histogram,
    compute_confusion_stats,
    compute_feature_histograms,
    fit_categories,
    fit_numeric_bins,
    histogram_numeric,
    merge_stats,
)

SPEC = CohortSpec(["sex", "age_band"], [("sex", "age_band")])


def random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    score[:3] = [0.0, 1.0, 0.5]  # edges of the score bins
    label = (rng.random(n) < score).astype(float)
    label[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "model_version": rng.choice(["v1", "v2"], n),
            "score": score,
            "decision": (rng.random(n) < score).astype(np.int64),
            "label": label,
            "sex": rng.choice(["female", "male", "other"], n, p=[0.45, 0.45, 0.1]),
            "age_band": rng.choice(["18-25", "26-40", "41+"], n),
            "income": rng.lognormal(size=n),
            "channel": rng.choice(["web", "app", "branch", None], n),
        }
    )


def reference_stats(rows: pd.DataFrame, score_bins: int) -> dict[str, float]:
    """Statistics of one cohort's rows computed directly, the slow obvious way."""
    labelled = rows[rows["label"].notna()]
    y = labelled["label"].to_numpy(dtype=int)
    d = labelled["decision"].to_numpy()
    s = labelled["score"].to_numpy()
    expected = {
        "n": len(rows),
        "n_labelled": len(labelled),
        "label_pos": int(y.sum()),
        "pred_pos": int(rows["decision"].sum()),
        "pred_pos_labelled": int(d.sum()),
        "tp": int(((y == 1) & (d == 1)).sum()),
        "fp": int(((y == 0) & (d == 1)).sum()),
        "tn": int(((y == 0) & (d == 0)).sum()),
        "fn": int(((y == 1) & (d == 0)).sum()),
        "brier_sum": float(((s - y) ** 2).sum()),
        "brier_sq_sum": float(((s - y) ** 4).sum()),
    }
    bins = np.minimum(np.floor(s * score_bins), score_bins - 1)
    for b in range(score_bins):
        in_bin = bins == b
        expected[f"bin_n_{b}"] = int(in_bin.sum())
        expected[f"bin_score_sum_{b}"] = float(s[in_bin].sum())
        expected[f"bin_label_sum_{b}"] = int(y[in_bin].sum())
    return expected


def split_rows(frame: pd.DataFrame, cuts) -> list[pd.DataFrame]:
    bounds = [0, *cuts, len(frame)]
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def cohort_rows(frame: pd.DataFrame, attribute: str, value: str) -> pd.DataFrame:
    if attribute == "all":
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for column, v in zip(attribute.split("&"), value.split("&"), strict=True):
        mask &= (frame[column] == v).to_numpy()
    return frame[mask]


def test_cohort_spec_normalises_and_validates():
    spec = CohortSpec(["sex", "age_band"], [["sex", "age_band"]])
    assert spec.intersections == (("sex", "age_band"),)
    assert spec.cohort_attribute_names() == ("all", "sex", "age_band", "sex&age_band")
    with pytest.raises(ValueError, match="2\\+ distinct"):
        CohortSpec(["sex"], [("sex",)])
    with pytest.raises(ValueError, match="reserved"):
        CohortSpec(["all"])


def test_hand_worked_small_frame():
    frame = pd.DataFrame(
        {
            "model_version": ["v1"] * 5,
            "score": [0.95, 0.15, 0.65, 0.35, 1.0],
            "decision": [1, 0, 1, 0, 1],
            "label": [1, 1, 0, None, None],
            "sex": ["f", "f", "m", "m", "f"],
        }
    )
    stats = compute_confusion_stats(frame, CohortSpec(["sex"]), score_bins=2).set_index(
        "cohort_value"
    )
    f = stats.loc["f"]
    # f rows: (0.95, d1, y1) tp; (0.15, d0, y1) fn; (1.0, d1, unlabelled).
    assert (f["n"], f["n_labelled"], f["label_pos"], f["pred_pos"]) == (3, 2, 2, 2)
    assert (f["pred_pos_labelled"], f["tp"], f["fp"], f["tn"], f["fn"]) == (1, 1, 0, 0, 1)
    assert f["brier_sum"] == pytest.approx(0.05**2 + 0.85**2)
    assert f["brier_sq_sum"] == pytest.approx(0.05**4 + 0.85**4)
    assert (f["bin_n_0"], f["bin_n_1"], f["bin_label_sum_0"], f["bin_label_sum_1"]) == (1, 1, 1, 1)
    assert f["bin_score_sum_1"] == pytest.approx(0.95)
    m = stats.loc["m"]
    assert (m["n"], m["n_labelled"], m["fp"], m["tp"], m["label_pos"]) == (2, 1, 1, 0, 0)
    everything = stats.loc["all"]
    assert (everything["n"], everything["tp"], everything["fn"], everything["fp"]) == (5, 1, 1, 1)


def test_every_cohort_matches_a_direct_computation_on_its_rows():
    frame = random_frame(3000, seed=1)
    stats = compute_confusion_stats(frame, SPEC, score_bins=5)
    expected_cohorts = {("all", "all")}
    expected_cohorts |= {("sex", v) for v in frame["sex"].unique()}
    expected_cohorts |= {("age_band", v) for v in frame["age_band"].unique()}
    expected_cohorts |= {
        ("sex&age_band", f"{s}&{a}") for s, a in zip(frame["sex"], frame["age_band"], strict=True)
    }
    assert len(stats) == 2 * len(expected_cohorts)
    for row in stats.itertuples(index=False):
        assert (row.cohort_attribute, row.cohort_value) in expected_cohorts
        rows = cohort_rows(frame[frame["model_version"] == row.model_version], *row[1:3])
        expected = reference_stats(rows, score_bins=5)
        for column, value in expected.items():
            assert getattr(row, column) == pytest.approx(value, rel=1e-9), column
    count_columns = ["n", "n_labelled", "tp", "fp", "tn", "fn", "bin_n_0", "bin_label_sum_4"]
    assert all(stats[c].dtype == np.int64 for c in count_columns)


def test_sparse_key_space_is_compacted_without_mixing_keys():
    # 3000 versions x 4 cohort values exceed the dense bincount size: the compact path.
    rng = np.random.default_rng(12)
    n = 3000
    frame = pd.DataFrame(
        {
            "model_version": [f"m{i:04d}" for i in range(n)],
            "score": rng.random(n),
            "decision": rng.integers(0, 2, n),
            "label": rng.integers(0, 2, n).astype(float),
            "sex": rng.choice(["a", "b", "c", "d"], n),
        }
    )
    stats = compute_confusion_stats(frame, CohortSpec(["sex"]))
    assert len(stats) == 2 * n and (stats["n"] == 1).all()
    by_version = stats[stats.cohort_attribute == "sex"].set_index("model_version")
    expected = frame.set_index("model_version")
    assert (by_version["cohort_value"] == expected["sex"]).all()
    tp = ((expected["label"] == 1) & (expected["decision"] == 1)).astype(int)
    assert (by_version["tp"] == tp).all()
    hist = compute_feature_histograms(
        frame.assign(x=frame["score"]), {"x": NumericBins((0.5,))}, {}, CohortSpec(["sex"])
    )
    high = hist[(hist.cohort_attribute == "sex") & (hist.bin == "001")].set_index("model_version")
    assert (high["count"] == (expected["score"] >= 0.5).astype(int)).all()


def test_score_one_falls_in_last_bin_and_zero_in_first():
    frame = pd.DataFrame(
        {"model_version": "v", "score": [0.0, 1.0], "decision": [0, 1], "label": [0, 1]}
    )
    stats = compute_confusion_stats(frame, CohortSpec(), score_bins=4)
    assert stats.loc[0, ["bin_n_0", "bin_n_1", "bin_n_2", "bin_n_3"]].tolist() == [1, 0, 0, 1]
    assert stats["cohort_attribute"].tolist() == ["all"]


def test_merging_chunks_equals_stats_on_concatenated_rows():
    frame = random_frame(4000, seed=2)
    whole = compute_confusion_stats(frame, SPEC)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, len(frame)), size=4, replace=False))
    chunks = split_rows(frame, cuts)
    # A chunk that lacks a cohort entirely must merge as zeros.
    chunks.append(frame[frame["sex"] != "other"].head(50))
    whole_plus = compute_confusion_stats(pd.concat([frame, chunks[-1]]), SPEC)
    merged = merge_stats(compute_confusion_stats(c, SPEC) for c in chunks)
    pd.testing.assert_frame_equal(merged, whole_plus, check_exact=False, rtol=1e-12)
    assert not merged.equals(whole)  # the extra chunk did count


def test_merge_of_days_sums_and_keeps_keys_seen_on_one_day_only():
    day1 = compute_confusion_stats(random_frame(500, seed=4), SPEC)
    day2 = compute_confusion_stats(random_frame(500, seed=5).assign(model_version="v3"), SPEC)
    merged = merge_stats([day1, day2])
    assert set(merged["model_version"]) == {"v1", "v2", "v3"}
    v3_all = merged[(merged.model_version == "v3") & (merged.cohort_attribute == "all")]
    assert int(v3_all["n"].iloc[0]) == 500
    assert int(merged.loc[merged.cohort_attribute == "all", "n"].sum()) == 1000
    pd.testing.assert_frame_equal(merge_stats([day1]), day1)
    # An unknown addend (a sum a stored day lacks) leaves the sum unknown, not partial.
    unknown = merge_stats([day1.assign(brier_sq_sum=np.nan), day2])
    v1 = unknown.model_version == "v1"
    assert unknown.loc[v1, "brier_sq_sum"].isna().all()
    assert unknown.loc[unknown.model_version == "v3", "brier_sq_sum"].notna().all()
    assert (unknown.loc[v1, "n"].to_numpy() == merged.loc[merged.model_version == "v1", "n"]).all()
    with pytest.raises(ValueError, match="different columns"):
        merge_stats([day1, day1.drop(columns="tp")])
    assert "different columns" in ERROR_COLUMNS_DIFFER


def test_missing_cohort_values_and_null_model_version_are_kept():
    frame = pd.DataFrame(
        {
            "model_version": ["v1", None, "v1"],
            "score": [0.2, 0.4, 0.6],
            "decision": [0, 0, 1],
            "label": [0, 1, 1],
            "sex": ["f", "f", None],
        }
    )
    stats = compute_confusion_stats(frame, CohortSpec(["sex"]))
    v1 = stats[stats.model_version == "v1"].set_index("cohort_value")
    assert int(v1.loc[MISSING_COHORT_VALUE, "n"]) == 1
    null_version = stats[stats.model_version.isna()]
    assert null_version["n"].tolist() == [1, 1]  # all + f
    assert int(stats.loc[stats.cohort_attribute == "all", "n"].sum()) == 3


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("score", 1.5, ERROR_SCORE),
        ("score", np.nan, ERROR_SCORE),
        ("decision", 2, ERROR_DECISION),
        ("label", 3, ERROR_LABEL),
    ],
)
def test_invalid_inputs_raise(column, value, message):
    frame = random_frame(20, seed=6)
    frame[column] = frame[column].astype("float64")
    frame.loc[5, column] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_confusion_stats(frame, SPEC)


def test_missing_columns_and_ambiguous_intersection_values_raise():
    frame = random_frame(20, seed=7)
    with pytest.raises(ValueError, match="lacks required columns"):
        compute_confusion_stats(frame.drop(columns="label"), SPEC)
    frame.loc[0, "sex"] = "fe&male"
    with pytest.raises(ValueError, match="separates intersection values"):
        compute_confusion_stats(frame, SPEC)
    # Without an intersection the "&" is harmless.
    assert len(compute_confusion_stats(frame, CohortSpec(["sex"]))) > 0


def test_fit_numeric_bins_uses_baseline_quantiles():
    values = np.arange(1, 101, dtype=float)
    bins = fit_numeric_bins(values, n_bins=4)
    np.testing.assert_allclose(bins.inner_edges, np.quantile(values, [0.25, 0.5, 0.75]))
    assert bins.n_bins == 4
    assert bins.edges[0] == -np.inf and bins.edges[-1] == np.inf
    counts = histogram_numeric(values, bins).counts
    assert counts.tolist() == [25, 25, 25, 25]


def test_fit_numeric_bins_deduplicates_ties_and_ignores_nulls():
    baseline = np.r_[np.zeros(60), np.arange(1, 41), [np.nan] * 5]
    bins = fit_numeric_bins(baseline, n_bins=10)
    assert bins.n_bins < 10
    assert len(set(bins.inner_edges)) == len(bins.inner_edges)
    assert fit_numeric_bins([3.0] * 10, n_bins=5).inner_edges == (3.0,)
    with pytest.raises(ValueError, match=ERROR_EMPTY_BASELINE):
        fit_numeric_bins([np.nan, None])
    with pytest.raises(ValueError, match="n_bins"):
        fit_numeric_bins([1.0, 2.0], n_bins=0)


@pytest.mark.parametrize("n_bins", [7, 40])  # assigned by comparisons / by searchsorted
def test_histogram_numeric_matches_pandas_cut_and_counts_every_value(n_bins):
    rng = np.random.default_rng(8)
    baseline = rng.normal(size=1000)
    bins = fit_numeric_bins(baseline, n_bins=n_bins)
    current = np.r_[rng.normal(0.5, 2, size=500), [np.inf, -np.inf, np.nan, np.nan]]
    current = np.r_[current, bins.inner_edges]  # values exactly on edges go to the upper bin
    hist = histogram_numeric(current, bins)
    expected = pd.Series(pd.cut(current, bins.edges, right=False)).value_counts(sort=False)
    expected_counts = expected.to_numpy().copy()
    expected_counts[-1] += 1  # pd.cut's [a, inf) misses +inf itself
    assert hist.counts.tolist() == expected_counts.tolist()
    assert hist.null_count == 2
    assert hist.total == len(current)


@pytest.mark.parametrize("dtype", ["str", "string", "object"])  # by Arrow, Arrow, pandas
def test_categorical_histogram_has_other_and_null_buckets(dtype):
    values = pd.Series(["a", "b", "a", "zz", None, np.nan, "c"], dtype=dtype)
    hist = categorical_histogram(values, ["a", "b"])
    assert hist.counts.tolist() == [2, 1, 2]
    assert hist.null_count == 2
    assert fit_categories(["b", "a", "b", None, "c", "a", "a"]) == ["a", "b", "c"]
    assert fit_categories(["b", "a", "b", "c"], max_categories=1) == ["b"]
    with pytest.raises(ValueError, match="reserved"):
        categorical_histogram(["a"], ["a", OTHER_BIN])


def test_feature_histograms_match_per_cohort_histograms_and_merge():
    frame = random_frame(2000, seed=9)
    frame.loc[frame.index[:40], "income"] = np.nan
    bins = {"income": fit_numeric_bins(frame["income"], n_bins=5)}
    categories = {"channel": ["web", "app"]}
    hist = compute_feature_histograms(frame, bins, categories, SPEC)
    assert set(hist.columns) == {
        "model_version",
        "cohort_attribute",
        "cohort_value",
        "feature",
        "feature_kind",
        "bin",
        "count",
    }
    for (version, attribute, value), block in hist.groupby(
        ["model_version", "cohort_attribute", "cohort_value"]
    ):
        rows = cohort_rows(frame[frame.model_version == version], attribute, value)
        income = block[block.feature == "income"].set_index("bin")["count"]
        expected = histogram_numeric(rows["income"], bins["income"])
        assert income.drop(NULL_BIN).tolist() == expected.counts.tolist()
        assert income[NULL_BIN] == expected.null_count
        channel = block[block.feature == "channel"].set_index("bin")["count"]
        expected = categorical_histogram(rows["channel"], ["web", "app"])
        assert channel[["web", "app", OTHER_BIN]].tolist() == expected.counts.tolist()
        assert channel[NULL_BIN] == expected.null_count
        assert set(block.loc[block.feature == "channel", "feature_kind"]) == {"categorical"}
    # Zero-count bins are present: every cohort has every bin.
    sizes = hist.groupby(["model_version", "cohort_attribute", "cohort_value", "feature"]).size()
    assert set(sizes.xs("income", level="feature")) == {bins["income"].n_bins + 1}
    merged = merge_stats(
        [
            compute_feature_histograms(c, bins, categories, SPEC)
            for c in split_rows(frame, [700, 1500])
        ]
    )
    pd.testing.assert_frame_equal(merged, hist)


def test_numeric_bins_validate_edges():
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericBins((1.0, 1.0))
    assert NumericBins((0.5,)).describe() == ["[-inf, 0.5)", "[0.5, inf)"]


def test_docstring_examples_run():
    result = doctest.testmod(sufficient_stats)
    assert result.attempted > 0 and result.failed == 0
