"""SLO evaluations and error budgets: SLI extraction, clear-evidence verdicts, and budgets
recomputed independently with the SRE-workbook burn-rate formula."""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import pytest

from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.pipeline.slo import absolute_interval, read_sli
from monitoring_pipeline_tests.pipeline.test_monitor_job import START, build_world, run_day, table


def test_absolute_interval_of_a_gap():
    assert absolute_interval(-0.3, -0.4, -0.2) == (0.3, 0.2, 0.4)
    assert absolute_interval(0.05, -0.1, 0.2) == (0.05, 0.0, 0.2)
    value, lower, upper = absolute_interval(0.1, math.nan, math.nan)
    assert value == 0.1 and math.isnan(lower) and math.isnan(upper)


def test_read_sli_picks_worst_group_and_named_group(tmp_path):
    from datetime import date

    import yaml

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.demo.publish import demo_config

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    model = load_config(path).models["loan_approval"]
    slo = model.slos[0]  # tpr_gap_region, worst group
    disparities = pd.DataFrame(
        {
            "cohort_attribute": ["region"] * 3,
            "cohort_value": ["west", "south", "east"],
            "reference_value": ["north"] * 3,
            "metric": ["tpr_difference"] * 3,
            "value": [-0.3, 0.05, 0.9],
            "lower": [-0.4, -0.02, 0.1],
            "upper": [-0.2, 0.12, 1.0],
            "sufficient": [True, True, False],
            "is_worst": [True, False, False],
        }
    )
    frames = {
        "cohort_metrics": pd.DataFrame(),
        "fairness_disparities": disparities,
        "drift": pd.DataFrame(),
    }
    reading = read_sli(frames, model, slo)
    assert reading.subject == "region=west vs north"
    assert reading.value == pytest.approx(0.3)  # |gap|
    assert (reading.lower, reading.upper) == (pytest.approx(0.2), pytest.approx(0.4))
    assert reading.sufficient
    # West healthy, east too small to judge: no verdict, since east may hide a violation.
    healthy_west = disparities.assign(
        value=[-0.02, 0.05, 0.9], lower=[-0.06, -0.02, 0.1], upper=[0.03, 0.12, 1.0]
    )
    reading = read_sli({**frames, "fairness_disparities": healthy_west}, model, slo)
    assert not reading.sufficient
    assert reading.reason == "cannot judge east: below the minimum size or undefined"
    # Every group sufficient and within the objective: good, reported on the worst group.
    all_fine = healthy_west.assign(
        sufficient=True,
        value=[-0.02, 0.05, 0.04],
        lower=[-0.06, -0.02, -0.01],
        upper=[0.03, 0.12, 0.09],
    )
    reading = read_sli({**frames, "fairness_disparities": all_fine}, model, slo)
    assert reading.sufficient and reading.subject == "region=south vs north"
    assert reading.value == pytest.approx(0.05) and reading.lower == 0.0
    drift_slo = model.slos[2]
    assert read_sli(frames, model, drift_slo).reason == "drift not computed"


def test_incident_burns_the_budget_to_page_while_healthy_slos_stay_ok(
    engine, database_url, dagster_instance, tmp_path
):
    days = [START + timedelta(days=i) for i in range(10)]
    incident = MinorityDegradation(
        model="loan_approval",
        start=days[5],
        end=days[-1],
        attribute="region",
        group="west",
        severity=0.9,
    )
    config, _ = build_world(engine, tmp_path, incidents=[incident], volume=2500)
    for day in days:
        assert run_day(config, database_url, dagster_instance, day).success
    evaluations = table(engine, "slo_evaluations")
    budgets = table(engine, "error_budgets")
    gap = (
        evaluations[evaluations.slo_name == "tpr_gap_region"]
        .set_index("partition_date")
        .sort_index()
    )
    # Bad only on clear evidence: the interval of the gap lies wholly above the objective.
    bad = gap[gap.status == "bad"]
    assert (bad.lower > bad.objective_value).all()
    assert set(bad.index) <= set(days[5:])
    assert len(bad) >= 3
    assert gap.loc[days[:5], "status"].isin(["good", "unknown"]).all()

    region = budgets[budgets.slo_name == "tpr_gap_region"].set_index("partition_date").sort_index()
    assert "page" in set(region.status)
    assert set(region.loc[days[:5], "status"]) == {"ok"}
    accuracy = budgets[budgets.slo_name == "accuracy_all"]
    assert set(accuracy.status) == {"ok"}

    # Independent recomputation of one day's budget from the stored verdicts.
    day = days[-1]
    row = region.loc[day]
    statuses = gap.status.reindex(pd.date_range(day - timedelta(days=27), day).date).fillna(
        "unknown"
    )
    known = statuses[statuses != "unknown"]
    target = 0.9
    assert row.bad_days == (known == "bad").sum() and row.known_days == len(known)
    assert row.budget_days == pytest.approx((1 - target) * len(known))
    # Burn rates are judged as of the last day with a verdict (later days await labels).
    evidence_through = known.index.max()
    assert row.evidence_through == evidence_through
    last7 = statuses.loc[evidence_through - timedelta(days=6) : evidence_through]
    known7 = last7[last7 != "unknown"]
    assert row.burn_rate_long == pytest.approx(
        ((known7 == "bad").sum() / len(known7)) / (1 - target)
    )
    assert bool(row.retrain_on_page)
