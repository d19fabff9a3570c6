import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.core import disparities
from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics
from monitoring_pipeline.core.disparities import (
    DISPARITY_METRICS,
    choose_reference_groups,
    compute_disparities,
    compute_disparities_against_rest,
    worst_disparities,
)
from monitoring_pipeline.core.intervals import normal_quantile
from monitoring_pipeline.core.sufficient_stats import CohortSpec, compute_confusion_stats

SPEC = CohortSpec(["sex", "race"], [("sex", "race")])


def make_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    # (version, sex, race, rows, selection boost)
    for version, sex, race, n, boost in [
        ("v1", "male", "a", 900, 0.1),
        ("v1", "female", "a", 600, 0.0),
        ("v1", "male", "b", 300, 0.05),
        ("v1", "female", "b", 250, -0.15),
        ("v2", "male", "a", 400, 0.0),
        ("v2", "female", "a", 500, 0.0),
        ("v2", "female", "b", 100, 0.0),
    ]:
        score = rng.beta(2, 2, size=n)
        parts.append(
            pd.DataFrame(
                {
                    "model_version": version,
                    "score": score,
                    "decision": (score + boost > 0.5).astype(np.int64),
                    "label": (rng.random(n) < score).astype(float),
                    "sex": sex,
                    "race": race,
                }
            )
        )
    # A tiny group with no actual positives: insufficient, undefined TPR.
    parts.append(
        pd.DataFrame(
            {
                "model_version": "v1",
                "score": [0.6, 0.2, 0.7],
                "decision": [1, 0, 1],
                "label": [0.0, 0.0, 0.0],
                "sex": "other",
                "race": "a",
            }
        )
    )
    return pd.concat(parts, ignore_index=True)


def group_rows(frame: pd.DataFrame, version: str, attribute: str, value: str) -> pd.DataFrame:
    mask = (frame["model_version"] == version).to_numpy()
    for column, v in zip(attribute.split("&"), value.split("&"), strict=True):
        mask = mask & (frame[column] == v).to_numpy()
    return frame[mask]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(21)


@pytest.fixture(scope="module")
def wide(frame) -> pd.DataFrame:
    return derive_cohort_metrics(compute_confusion_stats(frame, SPEC), min_cohort_size=50)


def test_default_reference_is_largest_group_and_is_not_compared(wide):
    disparities = compute_disparities(wide)
    refs = disparities.groupby(["model_version", "cohort_attribute"])["reference_value"].unique()
    assert refs[("v1", "sex")].tolist() == ["male"]  # 1200 rows vs 850 and 3
    assert refs[("v1", "race")].tolist() == ["a"]
    assert refs[("v1", "sex&race")].tolist() == ["male&a"]
    assert refs[("v2", "sex")].tolist() == ["female"]  # 600 vs 400
    assert "all" not in set(disparities["cohort_attribute"])
    assert not (disparities["cohort_value"] == disparities["reference_value"]).any()
    per_pair = disparities.groupby(["model_version", "cohort_attribute", "cohort_value"])
    # v1: sex 2, race 1, sex&race 4 groups; v2: sex 1, race 1, sex&race 2 (references excluded)
    assert len(per_pair) == 11
    assert all(metrics == list(DISPARITY_METRICS) for metrics in per_pair["metric"].apply(list))


def test_figures_match_statsmodels_and_direct_computation(frame, wide):
    disparities = compute_disparities(wide).set_index(
        ["model_version", "cohort_attribute", "cohort_value", "metric"]
    )
    z = normal_quantile(0.95)
    checked = 0
    for (version, attribute, value), block in disparities.groupby(level=[0, 1, 2]):
        if value.split("&")[0] == "other":
            continue
        reference = block["reference_value"].iloc[0]
        g = group_rows(frame, version, attribute, value)
        r = group_rows(frame, version, attribute, reference)
        got = block.droplevel([0, 1, 2])

        def check(metric, k1, n1, k2, n2, compare, method, got=got):
            lower, upper = confint_proportions_2indep(
                k1, n1, k2, n2, method=method, compare=compare
            )
            expected = k1 / n1 - k2 / n2 if compare == "diff" else (k1 / n1) / (k2 / n2)
            assert got.loc[metric, "value"] == pytest.approx(expected, rel=1e-10)
            assert got.loc[metric, "lower"] == pytest.approx(lower, rel=1e-8, abs=1e-10)
            assert got.loc[metric, "upper"] == pytest.approx(upper, rel=1e-8, abs=1e-10)

        sel = (g["decision"].sum(), len(g), r["decision"].sum(), len(r))
        check("demographic_parity_difference", *sel, "diff", "newcomb")
        check("disparate_impact_ratio", *sel, "ratio", "log")
        gy, ry = g["label"] == 1, r["label"] == 1
        tpr = (g.decision[gy].sum(), gy.sum(), r.decision[ry].sum(), ry.sum())
        check("tpr_difference", *tpr, "diff", "newcomb")
        gn, rn = g["label"] == 0, r["label"] == 0
        fpr = (g.decision[gn].sum(), gn.sum(), r.decision[rn].sum(), rn.sum())
        check("fpr_difference", *fpr, "diff", "newcomb")

        tpr_diff, fpr_diff = got.loc["tpr_difference"], got.loc["fpr_difference"]
        assert got.loc["equalized_odds_difference", "value"] == pytest.approx(
            max(abs(tpr_diff["value"]), abs(fpr_diff["value"]))
        )

        def abs_bounds(row):
            low, high = row["lower"], row["upper"]
            top = max(abs(low), abs(high))
            return (0.0 if low <= 0 <= high else min(abs(low), abs(high))), top

        (tl, th), (fl, fh) = abs_bounds(tpr_diff), abs_bounds(fpr_diff)
        assert got.loc["equalized_odds_difference", "lower"] == pytest.approx(max(tl, fl))
        assert got.loc["equalized_odds_difference", "upper"] == pytest.approx(max(th, fh))

        dg = (g["score"] - g["label"]).to_numpy()
        dr = (r["score"] - r["label"]).to_numpy()
        gap = dg.mean() - dr.mean()
        half = z * np.sqrt(dg.var(ddof=1) / len(dg) + dr.var(ddof=1) / len(dr))
        assert got.loc["calibration_gap", "value"] == pytest.approx(gap, rel=1e-9)
        assert got.loc["calibration_gap", "lower"] == pytest.approx(gap - half, rel=1e-9)
        assert got.loc["calibration_gap", "upper"] == pytest.approx(gap + half, rel=1e-9)
        checked += 1
    assert checked == 9  # the 11 comparisons minus "other" and "other&a"


def test_undefined_and_insufficient_groups(wide):
    disparities = compute_disparities(wide)
    other = disparities[(disparities.cohort_value == "other")].set_index("metric")
    assert not other["sufficient"].any()  # 3 labelled rows < 50
    assert np.isnan(other.loc["tpr_difference", "value"])  # no actual positives
    assert np.isnan(other.loc["equalized_odds_difference", "value"])
    assert not np.isnan(other.loc["fpr_difference", "value"])
    sufficient = disparities[disparities.cohort_value == "female"]
    assert sufficient["sufficient"].all()


def test_configured_reference_and_missing_reference(wide):
    disparities = compute_disparities(wide, reference={"race": "b", "sex": "nobody"})
    race = disparities[
        (disparities.model_version == "v1") & (disparities.cohort_attribute == "race")
    ]
    assert set(race["cohort_value"]) == {"a"} and set(race["reference_value"]) == {"b"}
    dp = race.set_index("metric").loc["demographic_parity_difference", "value"]
    default = compute_disparities(wide)
    opposite = default[
        (default.model_version == "v1")
        & (default.cohort_attribute == "race")
        & (default.metric == "demographic_parity_difference")
    ]["value"].iloc[0]
    assert dp == pytest.approx(-opposite)
    sex = disparities[disparities.cohort_attribute == "sex"]
    assert sex["value"].isna().all() and not sex["sufficient"].any()
    assert set(sex["reference_value"]) == {"nobody"}


def test_sufficiency_follows_each_metrics_own_denominators():
    # "few_pos" has 400 predictions and 400 labelled rows but 20 actual positives: with a
    # minimum size of 50 its selection-rate and FPR gaps are judged, its TPR gap is not.
    rows = []
    for value, n, positives in (("big", 1000, 500), ("few_pos", 400, 20)):
        rows.append(
            pd.DataFrame(
                {
                    "model_version": "v1",
                    "score": np.linspace(0.01, 0.99, n),
                    "decision": np.arange(n) % 2,
                    "label": (np.arange(n) < positives).astype(float),
                    "g": value,
                }
            )
        )
    stats = compute_confusion_stats(pd.concat(rows, ignore_index=True), CohortSpec(["g"]))
    wide = derive_cohort_metrics(stats, min_cohort_size=50)
    few = wide.set_index("cohort_value").loc["few_pos"]
    assert (few["tpr_n"], few["fpr_n"], few["n"]) == (20, 380, 400)
    flags = compute_disparities(wide).set_index("metric")["sufficient"].to_dict()
    assert flags == {
        "demographic_parity_difference": True,
        "disparate_impact_ratio": True,
        "tpr_difference": False,
        "fpr_difference": True,
        "equalized_odds_difference": False,  # needs both TPR and FPR
        "calibration_gap": True,
    }
    # The reference's denominators count as well: "big" (500 actual positives) against
    # "few_pos" as the reference has an insufficient TPR gap.
    reversed_flags = compute_disparities(wide, reference={"g": "few_pos"})
    assert reversed_flags.set_index("metric")["sufficient"].to_dict() == flags


def _wilson(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score bounds written out (independent of the code under test)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_gap_against_rest_hand_worked():
    # Three groups; "f" against "m" + "x" pooled: selection 30/100 vs 80/200, TPR 25/50 vs
    # 60/100, calibration means (50 - 50)/100 vs (100 - 100)/200.
    wide = pd.DataFrame(
        {
            "cohort_attribute": ["sex"] * 3,
            "cohort_value": ["f", "m", "x"],
            "n": [100, 150, 50],
            "n_labelled": [100, 150, 50],
            "positives": [50, 75, 25],
            "pred_pos": [30, 60, 20],
            "tp": [25, 45, 15],
            "fp": [5, 15, 5],
            "tn": [45, 60, 20],
            "fn": [25, 30, 10],
            "score_sum": [50.0, 75.0, 25.0],
            "brier_sum": [20.0, 30.0, 10.0],
            "selection_rate_sufficient": [True] * 3,
            "tpr_sufficient": [True] * 3,
            "fpr_sufficient": [True] * 3,
            "calibration_in_the_large_sufficient": [True] * 3,
        }
    )
    rest = compute_disparities_against_rest(wide, min_cohort_size=80)
    assert "reference_value" not in rest.columns
    assert set(rest.cohort_value) == {"f", "m", "x"}  # every group, the largest included
    f = rest[rest.cohort_value == "f"].set_index("metric")

    def newcombe(k1, n1, k2, n2):
        l1, u1 = _wilson(k1, n1)
        l2, u2 = _wilson(k2, n2)
        p1, p2 = k1 / n1, k2 / n2
        d = p1 - p2
        return d, d - np.hypot(p1 - l1, u2 - p2), d + np.hypot(u1 - p1, p2 - l2)

    for metric, counts in (
        ("demographic_parity_difference", (30, 100, 80, 200)),
        ("tpr_difference", (25, 50, 60, 100)),
        ("fpr_difference", (5, 50, 20, 100)),
    ):
        expected = newcombe(*counts)
        got = f.loc[metric, ["value", "lower", "upper"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    ratio = (30 / 100) / (80 / 200)
    se = np.sqrt(1 / 30 - 1 / 100 + 1 / 80 - 1 / 200)
    np.testing.assert_allclose(
        f.loc["disparate_impact_ratio", ["value", "lower", "upper"]].to_numpy(dtype=float),
        [ratio, ratio * np.exp(-1.959963984540054 * se), ratio * np.exp(1.959963984540054 * se)],
        rtol=1e-12,
    )
    # Calibration: both means 0; variances (20 - 0)/99 and (40 - 0)/199.
    half = 1.959963984540054 * np.sqrt(20 / 99 / 100 + 40 / 199 / 200)
    np.testing.assert_allclose(
        f.loc["calibration_gap", ["value", "lower", "upper"]].to_numpy(dtype=float),
        [0.0, -half, half],
        atol=1e-12,
    )
    # Sufficiency asks the rest too: "m"'s rest (f + x) has 75 actual positives < 80.
    m = rest[rest.cohort_value == "m"].set_index("metric")["sufficient"]
    assert not m["tpr_difference"] and m["demographic_parity_difference"]


def test_gap_against_rest_matches_statsmodels_on_the_rows(frame, wide):
    rest = compute_disparities_against_rest(wide, min_cohort_size=50).set_index(
        ["model_version", "cohort_attribute", "cohort_value", "metric"]
    )
    checked = 0
    for version, attribute, value in {k[:3] for k in rest.index}:
        mine = group_rows(frame, version, attribute, value)
        same_version = frame[frame.model_version == version]
        others = same_version.drop(index=mine.index)
        got = rest.loc[(version, attribute, value)]
        k1, n1 = mine.decision.sum(), len(mine)
        k2, n2 = others.decision.sum(), len(others)
        lower, upper = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb")
        assert got.loc["demographic_parity_difference", "value"] == pytest.approx(k1 / n1 - k2 / n2)
        assert got.loc["demographic_parity_difference", "lower"] == pytest.approx(lower)
        assert got.loc["demographic_parity_difference", "upper"] == pytest.approx(upper)
        positives, rest_positives = mine[mine.label == 1], others[others.label == 1]
        if len(positives) and len(rest_positives):
            k1, n1 = positives.decision.sum(), len(positives)
            k2, n2 = rest_positives.decision.sum(), len(rest_positives)
            lower, upper = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb")
            assert got.loc["tpr_difference", "lower"] == pytest.approx(lower)
            assert got.loc["tpr_difference", "upper"] == pytest.approx(upper)
        checked += 1
    assert checked == 17  # v1: 3 sexes, 2 races, 5 cells; v2: 2, 2, 3 (every group)


def test_reference_groups_from_sizes_configured_first():
    sizes = pd.DataFrame(
        {
            "cohort_attribute": ["all", "sex", "sex", "sex&age", "sex&age"],
            "cohort_value": ["all", "f", "m", "f&young", "m&old"],
            "n": [1000, 600, 400, 300, 300],
        }
    )
    assert choose_reference_groups(sizes) == {"sex": "f", "sex&age": "f&young"}  # tie: smaller
    assert choose_reference_groups(sizes, {"sex&age": "m&old"})["sex&age"] == "m&old"
    assert choose_reference_groups(sizes.iloc[0:0], {"race": "a"}) == {"race": "a"}


def test_four_fifths_flag():
    wide = pd.DataFrame(
        {
            "cohort_attribute": ["g"] * 3,
            "cohort_value": ["ref", "low", "ok"],
            "n": [1000, 100, 100],
            "n_labelled": [1000, 100, 100],
            "positives": [500, 50, 50],
            "pred_pos": [500, 39, 41],
            "tp": [300, 20, 20],
            "fp": [200, 19, 21],
            "tn": [300, 31, 29],
            "fn": [200, 30, 30],
            "score_sum": [500.0, 50.0, 50.0],
            "brier_sum": [200.0, 20.0, 20.0],
            "selection_rate_sufficient": [True, True, True],
            "tpr_sufficient": [True, True, True],
            "fpr_sufficient": [True, True, True],
            "calibration_in_the_large_sufficient": [True, True, True],
        }
    )
    ratio = compute_disparities(wide)
    ratio = ratio[ratio.metric == "disparate_impact_ratio"].set_index("cohort_value")
    assert ratio.loc["low", "value"] == pytest.approx(0.78)
    assert bool(ratio.loc["low", "passes_four_fifths"]) is False
    assert bool(ratio.loc["ok", "passes_four_fifths"]) is True
    others = compute_disparities(wide)
    assert others.loc[others.metric != "disparate_impact_ratio", "passes_four_fifths"].isna().all()


def test_worst_disparities(wide):
    disparities = compute_disparities(wide)
    worst = worst_disparities(disparities)
    v1 = disparities[(disparities.model_version == "v1") & disparities.sufficient]
    for (attribute, metric), block in v1.groupby(["cohort_attribute", "metric"]):
        chosen = worst[
            (worst.model_version == "v1")
            & (worst.cohort_attribute == attribute)
            & (worst.metric == metric)
        ]
        assert len(chosen) == 1
        values = block["value"].dropna()
        if metric == "disparate_impact_ratio":
            assert chosen["value"].iloc[0] == values.min()
        else:
            assert abs(chosen["value"].iloc[0]) == values.abs().max()
        assert {"lower", "upper"} <= set(chosen.columns)
    # The insufficient "other" group never wins unless asked for.
    assert not worst["cohort_value"].str.startswith("other").any()
    everything = worst_disparities(disparities, sufficient_only=False)
    sex_dp = everything[
        (everything.model_version == "v1")
        & (everything.cohort_attribute == "sex")
        & (everything.metric == "demographic_parity_difference")
    ]
    expected = disparities[
        (disparities.model_version == "v1")
        & (disparities.cohort_attribute == "sex")
        & (disparities.metric == "demographic_parity_difference")
    ]
    assert (
        sex_dp["cohort_value"].iloc[0]
        == expected.loc[expected.value.abs().idxmax(), "cohort_value"]
    )


def test_docstring_examples_run():
    result = doctest.testmod(disparities)
    assert result.attempted > 0 and result.failed == 0


# ---- tests of each gap and their family (issue 13 item 8) ---------------------------------


def test_gap_p_values_match_scipy_on_the_very_rows(frame, wide):
    """Rate gaps and the ratio: Pearson's chi-square of the 2 x 2 table without continuity
    correction; calibration: Welch's z from the rows; equalized odds: Bonferroni of two."""
    from scipy.stats import chi2_contingency, norm

    def pearson(k1, n1, k2, n2) -> float:
        return chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False).pvalue

    gaps = compute_disparities(wide).set_index(
        ["model_version", "cohort_attribute", "cohort_value", "metric"]
    )
    checked = 0
    for (version, attribute, value), block in gaps.groupby(level=[0, 1, 2]):
        if value.split("&")[0] == "other":
            continue
        reference = block["reference_value"].iloc[0]
        g = group_rows(frame, version, attribute, value)
        r = group_rows(frame, version, attribute, reference)
        got = block.droplevel([0, 1, 2])["p_value"]
        selection = pearson(g.decision.sum(), len(g), r.decision.sum(), len(r))
        assert got["demographic_parity_difference"] == pytest.approx(selection, rel=1e-9)
        assert got["disparate_impact_ratio"] == pytest.approx(selection, rel=1e-9)
        gp, rp = g[g.label == 1], r[r.label == 1]
        tpr = pearson(gp.decision.sum(), len(gp), rp.decision.sum(), len(rp))
        gn, rn = g[g.label == 0], r[r.label == 0]
        fpr = pearson(gn.decision.sum(), len(gn), rn.decision.sum(), len(rn))
        assert got["tpr_difference"] == pytest.approx(tpr, rel=1e-9)
        assert got["fpr_difference"] == pytest.approx(fpr, rel=1e-9)
        assert got["equalized_odds_difference"] == pytest.approx(min(1.0, 2 * min(tpr, fpr)))
        residual_g, residual_r = g.score - g.label, r.score - r.label
        se = np.sqrt(residual_g.var(ddof=1) / len(g) + residual_r.var(ddof=1) / len(r))
        z = (residual_g.mean() - residual_r.mean()) / se
        # The interval's variance is the plug-in one (ddof 0): equal to 3 digits here.
        assert got["calibration_gap"] == pytest.approx(2 * norm.sf(abs(z)), rel=2e-2, abs=1e-4)
        checked += 1
    assert checked >= 8


def test_one_family_across_both_tables_matches_statsmodels(wide):
    from statsmodels.stats.multitest import multipletests

    from monitoring_pipeline.core.disparities import fairness_family

    reference = compute_disparities(wide)
    rest = compute_disparities_against_rest(wide, min_cohort_size=50)
    adjusted_reference, adjusted_rest = fairness_family(reference, rest)
    both = pd.concat([adjusted_reference, adjusted_rest], ignore_index=True)
    own = both[
        both.sufficient
        & both.p_value.notna()
        & ~both.metric.isin(["disparate_impact_ratio", "equalized_odds_difference"])
    ]
    expected = multipletests(own.p_value, method="fdr_bh")[1]
    np.testing.assert_allclose(own.p_value_adjusted, expected, rtol=1e-12)
    assert len(own) > 40  # two versions, three attributes, both tables
    # The ratio shares its selection gap's hypothesis; equalized odds is either component.
    keys = ["model_version", "cohort_attribute", "cohort_value", "reference_value"]
    for frame in (adjusted_reference, adjusted_rest):
        wide_p = frame.assign(reference_value=frame.get("reference_value", "rest")).pivot_table(
            index=keys, columns="metric", values="p_value_adjusted", aggfunc="first"
        )
        judged = wide_p.dropna(subset=["disparate_impact_ratio"])
        np.testing.assert_array_equal(
            judged["disparate_impact_ratio"], judged["demographic_parity_difference"]
        )
        odds = wide_p.dropna(subset=["equalized_odds_difference"])
        np.testing.assert_allclose(
            odds["equalized_odds_difference"], odds[["tpr_difference", "fpr_difference"]].min(1)
        )
        flags = frame.significant
        assert (flags[~frame.sufficient].isna()).all()
        decided = frame[frame.p_value_adjusted.notna()]
        assert (decided.significant == (decided.p_value_adjusted < 0.05)).all()
    # The injected gap of the fixture (v1 female&b selects 15 points less) is a discovery.
    row = adjusted_reference[
        (adjusted_reference.model_version == "v1")
        & (adjusted_reference.cohort_value == "female&b")
        & (adjusted_reference.metric == "demographic_parity_difference")
    ].iloc[0]
    assert bool(row.significant) and row.value < 0


def test_a_family_of_noise_flags_about_its_false_discovery_rate():
    """Equal groups, many attributes: BH keeps flags rare although raw p < 0.05 is common."""
    from monitoring_pipeline.core.disparities import fairness_family

    rng = np.random.default_rng(3)
    n = 20_000
    score = rng.beta(2, 2, size=n)
    columns = {f"a{i}": rng.choice(["x", "y", "z", "w"], size=n) for i in range(40)}
    rows = pd.DataFrame(
        {
            "model_version": "v1",
            "score": score,
            "decision": (score > 0.5).astype(np.int64),
            "label": (rng.random(n) < score).astype(float),
            **columns,
        }
    )
    stats = compute_confusion_stats(rows, CohortSpec(list(columns), []))
    noise = compute_disparities(derive_cohort_metrics(stats, min_cohort_size=50))
    (adjusted,) = fairness_family(noise)
    tested = adjusted[adjusted.p_value.notna() & adjusted.sufficient]
    assert (tested.p_value < 0.05).sum() >= 10  # about 5% of ~600 raw tests
    assert adjusted.significant.fillna(False).sum() <= 3
