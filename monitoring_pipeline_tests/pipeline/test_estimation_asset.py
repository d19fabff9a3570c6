"""performance_estimates and estimated_disparities as the job writes them, against a
row-level computation on labeled_predictions (the reference window's rows, each day
calibrated without itself), and the estimated-gap SLO judging them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core.estimation import ESTIMATION_SCORE_BINS, SHRINKAGE_SCORE_MASS
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day, table

pytestmark = pytest.mark.e2e

MODEL = "loan_approval"
DAYS = [START + timedelta(days=k) for k in range(4)]
ONSET = DAYS[2]


@pytest.fixture(scope="module")
def world(module_engine, module_database_url, module_dagster_instance, tmp_path_factory):
    """Four days of loan_approval; west's features degrade (severity 0.9) from day 3."""
    engine, tmp_path = module_engine, tmp_path_factory.mktemp("estimation_world")
    incident = MinorityDegradation(
        model=MODEL, start=ONSET, end=DAYS[-1], attribute="region", group="west", severity=0.9
    )
    config, _ = build_world(engine, tmp_path, incidents=[incident], volume=1200)
    for day in DAYS:
        result = run_day(
            config, module_database_url, module_dagster_instance, day, models=[MODEL],
            reports=False,
        )  # fmt: skip
        assert result.success
    tables = {
        name: table(engine, name)
        for name in (
            "labeled_predictions", "estimation_stats", "performance_estimates",
            "estimated_disparities", "slo_evaluations", "fairness_disparities",
        )
    }  # fmt: skip
    return config, tables


def labeled_rows(tables) -> pd.DataFrame:
    rows = tables["labeled_predictions"]
    rows = rows[rows.model_name == MODEL].copy()
    rows["region"] = rows.cohorts.map(lambda c: c["region"])
    bins = np.minimum((rows.score * ESTIMATION_SCORE_BINS).astype(int), ESTIMATION_SCORE_BINS - 1)
    return rows.assign(bin=bins)


def test_estimation_stats_are_the_days_score_sums(world):
    _, tables = world
    rows = labeled_rows(tables)
    stats = tables["estimation_stats"]
    day = DAYS[-1]
    west = rows[(rows.partition_date == day) & (rows.region == "west") & (rows.decision == 1)]
    (stored,) = stats[
        (stats.partition_date == day) & (stats.model_version == "all")
        & (stats.cohort_attribute == "region") & (stats.cohort_value == "west")
        & (stats.decision == 1)
    ].itertuples()  # fmt: skip
    by_bin = west.groupby("bin")
    assert stored.n == by_bin.size().reindex(range(ESTIMATION_SCORE_BINS), fill_value=0).tolist()
    assert np.allclose(
        stored.score_sum, by_bin.score.sum().reindex(range(ESTIMATION_SCORE_BINS), fill_value=0)
    )
    labelled = west[west.label.notna()].groupby("bin")
    assert stored.label_sum == (
        labelled.label.sum()
        .reindex(range(ESTIMATION_SCORE_BINS), fill_value=0)
        .astype(int)
        .tolist()
    )


def row_level_tpr(rows: pd.DataFrame, day, region: str) -> float:
    """CBPE by hand: bin ratios from the labelled rows of the reference days stored when
    ``day`` ran (the days before it: days run in order), shrunk to the population's; each
    row's probability, expected positives per decision (capped per bin at its rows), TPR."""
    reference = rows[(rows.partition_date < day) & rows.label.notna()]
    population = reference.groupby("bin").label.sum() / reference.groupby("bin").score.sum()
    population = population.reindex(range(ESTIMATION_SCORE_BINS)).fillna(1.0)
    mine = reference[reference.region == region]
    labels = mine.groupby("bin").label.sum().reindex(range(ESTIMATION_SCORE_BINS), fill_value=0)
    mass = mine.groupby("bin").score.sum().reindex(range(ESTIMATION_SCORE_BINS), fill_value=0)
    ratio = (labels + SHRINKAGE_SCORE_MASS * population) / (mass + SHRINKAGE_SCORE_MASS)
    today = rows[(rows.partition_date == day) & (rows.region == region)]
    expected = (
        today.assign(p=ratio.to_numpy()[today.bin] * today.score)
        .groupby(["decision", "bin"])
        .agg(p=("p", "sum"), n=("p", "size"))
    )
    capped = np.minimum(expected.p, expected.n).groupby(level="decision").sum()
    return capped.get(1, 0.0) / (capped.get(1, 0.0) + capped.get(0, 0.0))


def test_estimates_match_a_row_level_computation_on_the_stored_rows(world):
    _, tables = world
    rows = labeled_rows(tables)
    estimates = tables["performance_estimates"]
    first = estimates[estimates.partition_date == DAYS[0]]
    # The first day ran before any other: nothing to calibrate on, nothing estimated.
    assert (first.status == "no_reference").all() and first.value.isna().all()
    for day in (DAYS[1], DAYS[-1]):
        for region in ("west", "north"):
            (stored,) = estimates[
                (estimates.partition_date == day) & (estimates.cohort_attribute == "region")
                & (estimates.cohort_value == region) & (estimates.metric == "tpr")
            ].itertuples()  # fmt: skip
            assert stored.status == "estimated"
            assert stored.value == pytest.approx(row_level_tpr(rows, day, region), rel=1e-9)
            assert stored.lower < stored.value < stored.upper
            assert (stored.reference_from, stored.reference_to) == (
                START,
                START + timedelta(days=13),
            )
            labelled = rows[(rows.partition_date == day) & (rows.region == region)
                            & rows.label.notna()]  # fmt: skip
            positives = labelled[labelled.label == 1]
            assert stored.realised == pytest.approx((positives.decision == 1).mean())
            assert stored.realised_denominator == len(positives)


def test_estimated_gaps_flag_the_degraded_region_from_its_onset(world):
    config, tables = world
    gaps = tables["estimated_disparities"]
    estimates = tables["performance_estimates"].set_index(
        ["partition_date", "cohort_attribute", "cohort_value", "metric"]
    )
    west = gaps[(gaps.cohort_value == "west") & (gaps.metric == "tpr_difference")]
    west = west.set_index("partition_date").sort_index()
    reference = west.reference_value.iloc[0]
    for day in DAYS[1:]:
        row = west.loc[day]
        expected = (
            estimates.loc[(day, "region", "west", "tpr"), "value"]
            - estimates.loc[(day, "region", reference, "tpr"), "value"]
        )
        assert row.value == pytest.approx(expected)
        assert row.lower < row.value < row.upper
    # A healthy day: the interval holds 0; from the onset it lies wholly below 0, and
    # beyond the SLO's 0.1 once the incident has a second day.
    assert west.loc[DAYS[1], "lower"] < 0 < west.loc[DAYS[1], "upper"]
    assert (west.loc[DAYS[2:], "upper"] < 0).all() and west.loc[DAYS[-1], "upper"] < -0.1
    # The published realised gaps use the same reference group.
    realised = tables["fairness_disparities"]
    assert set(realised[realised.cohort_attribute == "region"].reference_value) == {reference}

    evaluations = tables["slo_evaluations"]
    slo = evaluations[evaluations.slo_name == "estimated_tpr_gap_region"].set_index(
        "partition_date"
    )
    assert (slo.sli_source == "estimated_disparities").all()
    assert slo.loc[DAYS[-1], "status"] == "bad"
    assert slo.loc[DAYS[0], "status"] == "unknown" and slo.loc[DAYS[1], "status"] == "good"
    assert "west" in slo.loc[DAYS[-1], "sli_subject"]


def test_a_day_after_the_reference_window_is_calibrated_on_the_window_only(world, module_engine):
    """A fixed reference window of the first two days; the fourth day, outside it, is
    estimated from the window's sums and its own (not the third day's)."""
    from datetime import UTC, datetime

    from monitoring_pipeline.pipeline.estimation import build_performance_estimates
    from monitoring_pipeline.storage.estimation import estimation_figures
    from monitoring_pipeline.storage.writes import Audit

    config, tables = world
    model = config.models[MODEL]
    fixed = model.baseline.model_copy(
        update={"preceding_days": None, "start": DAYS[0], "end": DAYS[1]}
    )
    narrowed = config.model_copy(
        update={"models": {**config.models, MODEL: model.model_copy(update={"baseline": fixed})}}
    )
    audit = Audit("window-test", datetime(2026, 12, 1, tzinfo=UTC))
    build_performance_estimates(module_engine, narrowed, MODEL, DAYS[-1], audit)
    stored = estimation_figures(module_engine, MODEL, DAYS[-1])
    (west,) = stored[
        (stored.cohort_attribute == "region") & (stored.cohort_value == "west")
        & (stored.metric == "tpr")
    ].itertuples()  # fmt: skip
    rows = labeled_rows(tables)
    in_window = rows[(rows.partition_date <= DAYS[1]) | (rows.partition_date == DAYS[-1])]
    assert west.value == pytest.approx(row_level_tpr(in_window, DAYS[-1], "west"), rel=1e-9)
    assert (west.reference_from, west.reference_to) == (DAYS[0], DAYS[1])
