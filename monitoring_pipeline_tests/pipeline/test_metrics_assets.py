"""cohort_metrics and fairness_disparities as written by the job, against independent
computations on the very rows of labeled_predictions (numpy counts, statsmodels intervals)."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from monitoring_pipeline.demo.incidents import LatencySpike, MinorityDegradation
from monitoring_pipeline_tests.helpers.interval_references import ece_bounds
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day, table

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def day_tables(module_engine, module_database_url, module_dagster_instance, tmp_path_factory):
    """One day of both models, built once for the module (every test only reads it)."""
    engine, tmp_path = module_engine, tmp_path_factory.mktemp("metrics_world")
    day = START + timedelta(days=1)
    incident = MinorityDegradation(
        model="loan_approval", start=day, end=day, attribute="region", group="west", severity=0.9
    )
    # The west region is also served 3x slower that day (operational SLIs).
    slow = LatencySpike(
        model="loan_approval", start=day, end=day, factor=3.0, attribute="region", group="west"
    )
    config, _ = build_world(engine, tmp_path, incidents=[incident, slow], volume=1500)
    assert run_day(
        config,
        module_database_url,
        module_dagster_instance,
        day,
        models=["loan_approval"],
        reports=False,
    ).success
    tables = {
        name: table(engine, name)
        for name in (
            "labeled_predictions",
            "cohort_metrics",
            "fairness_disparities",
            "fairness_disparities_vs_rest",
            "cohort_stats",
            "feature_attributions",
            "operational_metrics",
            "latency_histograms",
            "slo_evaluations",
        )
    }
    event = module_dagster_instance.get_latest_materialization_event(
        dg.AssetKey(["loan_approval", "feature_attributions"])
    )
    tables["attribution_metadata"] = event.asset_materialization.metadata
    return tables


def rows_of(
    labeled: pd.DataFrame, attribute: str | None = None, value: str | None = None
) -> pd.DataFrame:
    mine = labeled[labeled.model_name == "loan_approval"]
    if attribute is None:
        return mine
    return mine[mine.cohorts.map(lambda c: c[attribute]) == value]


def metric(
    metrics: pd.DataFrame, name: str, attribute: str = "all", value: str = "all"
) -> pd.Series:
    (row,) = metrics[
        (metrics.model_name == "loan_approval")
        & (metrics.model_version == "all")
        & (metrics.cohort_attribute == attribute)
        & (metrics.cohort_value == value)
        & (metrics.metric == name)
    ].itertuples()
    return pd.Series(row._asdict())


def test_cohort_rates_and_wilson_intervals_match_an_independent_count(day_tables):
    labeled, metrics = day_tables["labeled_predictions"], day_tables["cohort_metrics"]
    for attribute, value in (
        ("all", "all"),
        ("region", "west"),
        ("sex", "female"),
        ("age_band", "61+"),
    ):
        rows = rows_of(labeled, None if attribute == "all" else attribute, value).dropna(
            subset=["label"]
        )
        y, d = rows.label.to_numpy(int), rows.decision.to_numpy(int)
        tp, fn = int(((d == 1) & (y == 1)).sum()), int(((d == 0) & (y == 1)).sum())
        fp, tn = int(((d == 1) & (y == 0)).sum()), int(((d == 0) & (y == 0)).sum())
        tpr = metric(metrics, "tpr", attribute, value)
        assert tpr.value == pytest.approx(tp / (tp + fn)) and tpr.denominator == tp + fn
        lo, hi = proportion_confint(tp, tp + fn, method="wilson")
        assert (tpr.lower, tpr.upper) == (pytest.approx(lo), pytest.approx(hi))
        assert metric(metrics, "fpr", attribute, value).value == pytest.approx(fp / (fp + tn))
        assert metric(metrics, "accuracy", attribute, value).value == pytest.approx(
            (tp + tn) / len(rows)
        )
        brier = np.mean((rows.score.to_numpy() - y) ** 2)
        assert metric(metrics, "brier", attribute, value).value == pytest.approx(brier)


def test_ece_and_brier_are_published_with_intervals(day_tables):
    labeled, metrics = day_tables["labeled_predictions"], day_tables["cohort_metrics"]
    loan = metrics[metrics.model_name == "loan_approval"]
    calibration = loan[loan.metric.isin(["ece", "brier"]) & (loan.n_labelled >= 2)]
    assert len(calibration) > 20
    assert calibration[["lower", "upper"]].notna().all().all()
    assert ((calibration.lower >= 0) & (calibration.lower <= calibration.upper)).all()
    stats = day_tables["cohort_stats"]
    for attribute, value in (("all", "all"), ("region", "west"), ("sex", "female")):
        rows = rows_of(labeled, None if attribute == "all" else attribute, value).dropna(
            subset=["label"]
        )
        s, y = rows.score.to_numpy(), rows.label.to_numpy(float)
        (stored,) = stats[
            (stats.model_name == "loan_approval")
            & (stats.model_version == "all")
            & (stats.cohort_attribute == attribute)
            & (stats.cohort_value == value)
        ].itertuples()
        assert stored.brier_sq_sum == pytest.approx(np.sum((s - y) ** 4))
        brier = metric(metrics, "brier", attribute, value)
        lo, hi = DescrStatsW((s - y) ** 2).zconfint_mean(alpha=0.05)
        assert (brier.lower, brier.upper) == (pytest.approx(lo), pytest.approx(hi))
        bins = np.minimum(np.floor(s * 10), 9).astype(int)
        ece, lo, hi = ece_bounds(
            np.bincount(bins, minlength=10),
            np.bincount(bins, weights=s, minlength=10),
            np.bincount(bins, weights=y, minlength=10),
        )
        row = metric(metrics, "ece", attribute, value)
        assert row.value == pytest.approx(ece)
        assert (row.lower, row.upper) == (pytest.approx(lo, abs=1e-3), pytest.approx(hi, abs=1e-3))


def test_intersection_and_version_rollup(day_tables):
    labeled, metrics = day_tables["labeled_predictions"], day_tables["cohort_metrics"]
    loan = rows_of(labeled)
    mask = loan.cohorts.map(lambda c: (c["sex"], c["age_band"]) == ("female", "26-40"))
    n = metric(metrics, "selection_rate", "sex&age_band", "female&26-40")
    assert n.n == mask.sum()
    assert n.value == pytest.approx(loan[mask].decision.mean())
    versions = metrics[
        (metrics.model_name == "loan_approval")
        & (metrics.cohort_attribute == "all")
        & (metrics.metric == "tpr")
    ]
    assert set(versions.model_version) == {"all", *loan.model_version.unique()}


def test_sufficiency_follows_each_metrics_own_denominator(day_tables):
    metrics = day_tables["cohort_metrics"]
    loan = metrics[metrics.model_name == "loan_approval"]
    assert (loan.sufficient == (loan.denominator >= 10)).all()  # build_world sets min_size 10
    # The denominators differ within a cohort, so the flags can too.
    tpr = loan[loan.metric == "tpr"].set_index(
        ["model_version", "cohort_attribute", "cohort_value"]
    )
    assert (tpr.denominator < tpr.n_labelled).all()


def test_disparity_against_reference_with_newcombe_interval(day_tables):
    labeled, disparities = day_tables["labeled_predictions"], day_tables["fairness_disparities"]

    def positives(value: str) -> tuple[int, int]:
        rows = rows_of(labeled, "region", value).dropna(subset=["label"])
        actual = rows[rows.label == 1]
        return int((actual.decision == 1).sum()), len(actual)

    (row,) = disparities[
        (disparities.model_name == "loan_approval")
        & (disparities.model_version == "all")
        & (disparities.cohort_attribute == "region")
        & (disparities.cohort_value == "west")
        & (disparities.metric == "tpr_difference")
    ].itertuples()
    reference = row.reference_value
    sizes = rows_of(labeled).cohorts.map(lambda c: c["region"]).value_counts()
    assert reference == sizes.idxmax()  # no configured reference for region: the largest group
    (k1, n1), (k2, n2) = positives("west"), positives(reference)
    assert row.value == pytest.approx(k1 / n1 - k2 / n2)
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (row.lower, row.upper) == (pytest.approx(lo), pytest.approx(hi))
    # The injected degradation of region=west shows as a clear gap, and it is the worst.
    assert row.upper < 0 and row.is_worst


def test_configured_reference_group_is_used(day_tables):
    disparities = day_tables["fairness_disparities"]
    sex = disparities[
        (disparities.model_name == "loan_approval") & (disparities.cohort_attribute == "sex")
    ]
    assert set(sex.reference_value) == {"male"}  # the demo config names it
    assert set(sex.cohort_value) == {"female"}


def test_stats_rows_keep_bins_additive(day_tables):
    stats = day_tables["cohort_stats"]
    row = stats[
        (stats.model_name == "loan_approval")
        & (stats.model_version == "all")
        & (stats.cohort_attribute == "all")
    ].iloc[0]
    assert sum(row.bin_n) == row.n_labelled
    assert sum(row.bin_label_sum) == row.label_pos
    assert row.tp + row.fp + row.tn + row.fn == row.n_labelled


def test_every_gap_of_the_day_is_one_benjamini_hochberg_family(day_tables):
    """Stored p-values adjusted as one family per model and day over both fairness tables
    (statsmodels on the union); the injected west degradation survives the adjustment."""
    from statsmodels.stats.multitest import multipletests

    frames = [
        day_tables[name][day_tables[name].model_name == "loan_approval"]
        for name in ("fairness_disparities", "fairness_disparities_vs_rest")
    ]
    both = pd.concat(frames, ignore_index=True)
    assert both.p_value.notna().all()  # every gap of this day is testable
    own = both[
        both.sufficient & ~both.metric.isin(["disparate_impact_ratio", "equalized_odds_difference"])
    ]
    expected = multipletests(own.p_value.to_numpy(), method="fdr_bh")[1]
    np.testing.assert_allclose(own.p_value_adjusted.to_numpy(), expected, rtol=1e-10)
    assert both.loc[~both.sufficient, ["p_value_adjusted", "significant"]].isna().all().all()
    judged = both[both.sufficient]
    assert (judged.significant == (judged.p_value_adjusted < 0.05)).all()
    west = frames[0][
        (frames[0].model_version == "all")
        & (frames[0].cohort_value == "west")
        & (frames[0].metric == "tpr_difference")
    ].iloc[0]
    assert bool(west.significant) and west.p_value_adjusted < 1e-3


def test_attributions_are_summarised_per_cohort_from_the_stored_rows(day_tables):
    """feature_attributions against a group-by of the day's labeled rows (the logged
    attributions ride in ``features`` under their column names); the degraded region's
    inputs look pessimistic to the model, and its attributions say so."""
    labeled = rows_of(day_tables["labeled_predictions"])
    stored = day_tables["feature_attributions"]
    stored = stored[stored.model_name == "loan_approval"]
    columns = sorted(set(stored.attribution_column))
    assert columns and all(c.startswith("attribution_") for c in columns)
    values = pd.DataFrame(labeled.features.tolist())[columns].astype(float)
    region = labeled.cohorts.map(lambda c: c["region"]).to_numpy()
    for row in stored[stored.cohort_attribute.isin(["all", "region"])].itertuples():
        mine = values if row.cohort_attribute == "all" else values[region == row.cohort_value]
        column = mine[row.attribution_column].dropna()
        assert row.n == len(column)
        assert row.mean_abs == pytest.approx(column.abs().mean(), rel=1e-9)
        assert row.mean == pytest.approx(column.mean(), rel=1e-9, abs=1e-12)
        lower, upper = DescrStatsW(column.abs().to_numpy()).zconfint_mean()
        assert row.lower == pytest.approx(max(lower, 0.0), rel=1e-9)
        assert row.upper == pytest.approx(upper, rel=1e-9)
    shares = stored.groupby(["cohort_attribute", "cohort_value"]).share.sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0, rtol=1e-9)
    total = stored[stored.cohort_attribute == "region"].groupby("cohort_value")["mean"].sum()
    assert total["west"] < total.drop("west").min() - 0.5
    # What Dagster shows: the day's coverage and each feature's share over everyone.
    metadata = day_tables["attribution_metadata"]
    everyone = stored[stored.cohort_attribute == "all"].set_index("feature")
    assert metadata["predictions_with_attributions"].value == everyone.n.max() == len(labeled)
    for feature, row in everyone.iterrows():
        assert metadata[f"share_{feature}"].value == pytest.approx(row.share, rel=1e-3)


def test_latency_percentiles_throughput_and_the_latency_slo(day_tables):
    """operational_metrics against the day's raw latencies (numpy quantiles within one bin,
    the order-statistic interval), throughput against the row count, and the demo's
    latency SLO over every region: the slowed-down west is its bad member."""
    from scipy import stats as sps

    labeled = rows_of(day_tables["labeled_predictions"])
    latency = labeled.features.map(lambda f: f["latency_ms"]).astype(float).to_numpy()
    region = labeled.cohorts.map(lambda c: c["region"]).to_numpy()
    metrics = day_tables["operational_metrics"]
    metrics = metrics[metrics.model_name == "loan_approval"].set_index(
        ["cohort_attribute", "cohort_value", "metric"]
    )
    histograms = day_tables["latency_histograms"]
    histograms = histograms[histograms.model_name == "loan_approval"].set_index(
        ["cohort_attribute", "cohort_value"]
    )
    ratio = 10 ** (1 / 20)  # one bin
    for cohort in ("all", "north", "south", "east", "west"):
        key = ("all", "all") if cohort == "all" else ("region", cohort)
        mine = latency if cohort == "all" else latency[region == cohort]
        assert metrics.loc[(*key, "throughput"), "value"] == len(mine)
        assert histograms.loc[key, "predictions"] == len(mine)
        assert sum(histograms.loc[key, "counts"]) == len(mine)
        for name, q in (("latency_p50", 0.5), ("latency_p95", 0.95)):
            row = metrics.loc[(*key, name)]
            assert row.value / np.quantile(mine, q) == pytest.approx(1.0, abs=ratio - 1)
            ordered = np.sort(mine)
            low = int(sps.binom.ppf(0.025, len(mine), q))
            assert row.lower / ordered[low - 1] == pytest.approx(1.0, abs=ratio - 1)
    west, north = (
        metrics.loc[("region", "west", "latency_p95")],
        metrics.loc[("region", "north", "latency_p95")],
    )
    assert west.lower > 200 > north.upper  # 3x slower: clearly beyond the demo's objective
    slo = day_tables["slo_evaluations"]
    (reading,) = slo[
        (slo.model_name == "loan_approval") & (slo.slo_name == "latency_p95_region")
    ].itertuples()
    assert reading.status == "bad" and reading.sli_subject == "region=west"
    assert list(reading.bad_members) == ["region=west"]
    # Four regions judged together: Bonferroni-adjusted intervals, recomputed from the counts.
    assert reading.interval_confidence == pytest.approx(1 - 0.05 / 4)
    assert reading.lower <= west.lower
