"""SLO evaluations and error budgets: SLI extraction, clear-evidence verdicts, budgets
recomputed independently with the SRE-workbook burn-rate formula, and what the Dagster UI
shows of them (one check per SLO on error_budgets, fairness and drift checks, tables)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.pipeline.slo import absolute_interval, read_sli
from monitoring_pipeline.pipeline.verdicts import cohort_view, fairness_view
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline_tests.conftest import _create_database_from_template
from monitoring_pipeline_tests.pipeline.test_monitor_job import START, build_world, run_day, table

DAYS = [START + timedelta(days=i) for i in range(10)]
MODEL = "loan_approval"


@dataclass
class IncidentWorld:
    """Ten days of both models; region west of loan_approval degraded from day 6 on."""

    engine: sa.Engine
    config: MonitoringConfig
    results: dict[date, dg.ExecuteInProcessResult]


@pytest.fixture(scope="module")
def incident_world(pg_admin_url, dagster_storage_url, tmp_path_factory):
    name = f"slo_world_{os.getpid()}"
    _create_database_from_template(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    engine = create_engine(url)
    directory = tmp_path_factory.mktemp("slo_world")
    incident = MinorityDegradation(
        model=MODEL, start=DAYS[5], end=DAYS[-1], attribute="region", group="west", severity=0.9
    )
    with dg.instance_for_test(
        overrides={"storage": {"postgres": {"postgres_url": dagster_storage_url}}},
        temp_dir=str(directory),
    ) as instance:
        config, _ = build_world(engine, directory, incidents=[incident], volume=2500)
        results = {day: run_day(config, url, instance, day) for day in DAYS}
        yield IncidentWorld(engine, config, results)
    engine.dispose()


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
    assert reading.status == "bad" and reading.bad_members == ("region=west vs north",)
    assert reading.value == pytest.approx(0.3)  # |gap|
    # Three members with intervals and no statistics to recompute them from: the published
    # 95% intervals widened by z(1 - 0.05/3) / z(0.95) around the value (Bonferroni).
    scale = 2.393980 / 1.959964
    assert reading.confidence == pytest.approx(1 - 0.05 / 3)
    assert (reading.lower, reading.upper) == (
        pytest.approx(0.3 - 0.1 * scale, rel=1e-5),
        pytest.approx(0.3 + 0.1 * scale, rel=1e-5),
    )
    assert reading.sufficient and reading.members == 3
    # West healthy, east too small and its interval straddles the objective: good on the
    # members that can be judged, east named as not judged.
    healthy_west = disparities.assign(
        value=[-0.02, 0.05, 0.9], lower=[-0.06, -0.02, 0.05], upper=[0.03, 0.12, 1.0]
    )
    reading = read_sli({**frames, "fairness_disparities": healthy_west}, model, slo)
    assert reading.status == "good" and reading.subject == "region=south vs north"
    assert reading.unknown_members == ("region=east vs north",)
    assert "cannot judge region=east vs north" in reading.reason
    # East's gap is clearly beyond the objective though it is below the minimum size: bad,
    # and east is the subject, judged on its interval.
    clear_east = healthy_west.assign(lower=[-0.06, -0.02, 0.7])
    reading = read_sli({**frames, "fairness_disparities": clear_east}, model, slo)
    assert reading.status == "bad" and reading.subject == "region=east vs north"
    assert not reading.sufficient and "judged on its interval" in reading.reason
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
    assert reading.status == "good" and reading.bad_members == ()
    drift_slo = model.slos[2]
    assert read_sli(frames, model, drift_slo).reason == "drift not computed"


def test_small_minority_from_the_issue_is_bad_on_day_one(tmp_path):
    """77 labelled rows (minimum 100), TPR gap -0.51 [-0.64, -0.35], objective 0.15."""
    model = _demo_model(tmp_path)
    slo = model.slos[0].model_copy(
        update={
            "sli": model.slos[0].sli.model_copy(update={"group": "west"}),
            "objective": model.slos[0].objective.model_copy(update={"value": 0.15}),
        }
    )
    frames = {
        "cohort_metrics": pd.DataFrame(),
        "drift": pd.DataFrame(),
        "fairness_disparities": pd.DataFrame(
            {
                "cohort_attribute": ["region"],
                "cohort_value": ["west"],
                "reference_value": ["north"],
                "metric": ["tpr_difference"],
                "value": [-0.51],
                "lower": [-0.64],
                "upper": [-0.35],
                "sufficient": [False],
            }
        ),  # fmt: skip
    }
    reading = read_sli(frames, model, slo, min_cohort_size=100)
    assert reading.status == "bad" and reading.subject == "region=west vs north"
    assert (reading.lower, reading.upper) == (pytest.approx(0.35), pytest.approx(0.64))
    assert reading.reason == (
        "interval wholly beyond <= 0.15; judged on its interval: n below the minimum size 100"
    )


def _demo_model(tmp_path):
    import yaml

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.demo.publish import demo_config

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    return load_config(path).models["loan_approval"]


def test_incident_burns_the_budget_to_page_while_healthy_slos_stay_ok(incident_world):
    engine, days = incident_world.engine, DAYS
    assert all(result.success for result in incident_world.results.values())
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


def _evaluations(world: IncidentWorld, day: date) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (e.asset_key.path[-1], e.check_name): e
        for e in world.results[day].get_asset_check_evaluations()
        if e.asset_key.path[0] == MODEL
    }


def _metadata(world: IncidentWorld, day: date, asset: str) -> dict:
    (materialization,) = world.results[day].asset_materializations_for_node(f"{MODEL}__{asset}")
    return materialization.metadata


def _first_day(budgets: pd.DataFrame, slo: str, status: str) -> date:
    rows = budgets[(budgets.slo_name == slo) & (budgets.status == status)]
    return rows.partition_date.min()


def test_each_slo_is_a_check_on_error_budgets_red_on_page_warn_on_ticket(incident_world):
    budgets = table(incident_world.engine, "error_budgets")
    budgets = budgets[budgets.model_name == MODEL]
    page_day = _first_day(budgets, "tpr_gap_region", "page")
    ticket_day = _first_day(budgets, "tpr_gap_region", "ticket")
    assert ticket_day < page_day  # one bad day tickets before the second pages

    paging = _evaluations(incident_world, page_day)
    assert {name for asset, name in paging if asset == "error_budgets"} == {
        "tpr_gap_region", "accuracy_all", "income_psi",
    }  # fmt: skip
    check = paging[("error_budgets", "tpr_gap_region")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.partition == page_day.isoformat()
    assert not check.blocking
    row = budgets[(budgets.slo_name == "tpr_gap_region") & (budgets.partition_date == page_day)]
    row = row.iloc[0]
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert metadata["status"] == "page"
    assert metadata["budget_remaining_days"] == pytest.approx(row.remaining_days, rel=1e-3)
    assert metadata["budget_remaining_share"] == pytest.approx(row.remaining_fraction, rel=1e-3)
    assert metadata["burn_rate_short_2d"] == pytest.approx(row.burn_rate_short, rel=1e-3)
    assert metadata["burn_rate_long_7d"] == pytest.approx(row.burn_rate_long, rel=1e-3)
    assert metadata["page_burn_rate_threshold"] == 2.0
    assert (metadata["bad_days"], metadata["known_days"]) == (row.bad_days, row.known_days)
    assert metadata["evidence_day"] == row.evidence_through.isoformat()
    # The worst cohort is region west, clearly beyond the objective, with its interval.
    assert metadata["worst_cohort"].startswith("region=west vs ")
    # Gaps keep the sign fairness_disparities stores (west's TPR is below north's).
    assert metadata["worst_lower"] <= metadata["worst_value"] <= metadata["worst_upper"]
    assert metadata["worst_upper"] < -0.1 or metadata["worst_lower"] > 0.1
    cohorts = check.metadata["cohorts"]
    assert cohorts.schema.columns[0].name == "cohort"
    assert cohorts.records[0].data["cohort"] == metadata["worst_cohort"]
    assert cohorts.records[0].data["beyond_objective"] is True

    ticket = _evaluations(incident_world, ticket_day)[("error_budgets", "tpr_gap_region")]
    assert not ticket.passed and ticket.severity == dg.AssetCheckSeverity.WARN
    assert ticket.metadata["status"].value == "ticket"
    ok = paging[("error_budgets", "accuracy_all")]
    assert ok.passed and ok.metadata["status"].value == "ok"
    # Before the incident every SLO check passes.
    assert all(
        e.passed
        for (asset, _), e in _evaluations(incident_world, DAYS[0]).items()
        if asset == "error_budgets"
    )


def test_metadata_tables_put_the_burning_slo_and_the_worst_gap_first(incident_world):
    budgets = table(incident_world.engine, "error_budgets")
    page_day = _first_day(budgets[budgets.model_name == MODEL], "tpr_gap_region", "page")
    metadata = _metadata(incident_world, page_day, "error_budgets")
    assert metadata["page_slos"].value == 1
    table_value = metadata["budgets"]
    assert isinstance(table_value, dg.TableMetadataValue)
    assert [c.name for c in table_value.schema.columns][:3] == ["slo", "status", "sli_subject"]
    first = table_value.records[0].data
    assert (first["slo"], first["status"]) == ("tpr_gap_region", "page")
    assert first["sli_subject"].startswith("region=west vs ")
    assert metadata["budget_remaining_days_tpr_gap_region"].value == first["remaining_days"]

    gaps = _metadata(incident_world, page_day, "fairness_disparities")
    worst = gaps["worst_gaps"].records[0].data
    assert worst["group"].startswith("region=west vs ") and worst["metric"] == "tpr_difference"
    assert worst["clearly_beyond"] is True and worst["objective_source"] == "SLO tpr_gap_region"
    assert gaps["worst_gap"].value == pytest.approx(abs(worst["value"]), rel=1e-3)
    # Floats are rounded for reading: at most 4 significant digits.
    assert worst["lower"] == float(f"{worst['lower']:.4g}")
    fairness = _evaluations(incident_world, page_day)[
        ("fairness_disparities", "no_gap_beyond_objective")
    ]
    assert not fairness.passed and fairness.severity == dg.AssetCheckSeverity.WARN
    assert fairness.metadata["gaps_beyond_objective"].value >= 1

    drift = _evaluations(incident_world, page_day)[("drift", "no_flagged_drift")]
    flagged = table(incident_world.engine, "drift")
    flagged = flagged[
        (flagged.model_name == MODEL)
        & (flagged.partition_date == page_day)
        & flagged.drifted.fillna(False)
    ]
    assert drift.metadata["drift_flags"].value == len(flagged)
    assert drift.passed == flagged.empty


def test_figures_fall_back_to_the_newest_day_with_sufficient_evidence(incident_world):
    engine, last = incident_world.engine, DAYS[-1]
    with engine.connect() as conn:
        sufficient_days = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT partition_date FROM monitoring.fairness_disparities "
                    "WHERE model_name = :m AND model_version = 'all' AND sufficient"
                ),
                {"m": MODEL},
            )
            .scalars()
            .all()
        )
    expected = max(sufficient_days)
    gaps = _metadata(incident_world, last, "fairness_disparities")
    assert gaps["evidence_day"].value == expected.isoformat()
    metrics = _metadata(incident_world, last, "cohort_metrics")
    status = table(engine, "label_status")
    coverage = status[(status.model_name == MODEL) & (status.partition_date == last)].coverage
    assert metrics["label_coverage"].value == pytest.approx(coverage.iloc[0], rel=1e-3)
    # A day with no sufficient comparison (here: none published yet) shows the newest day
    # that has one, and says so, instead of "no sufficient comparison".
    later = last + timedelta(days=2)
    fairness = fairness_view(engine, incident_world.config, MODEL, later)
    assert fairness.evidence_day == expected and len(fairness.gaps) > 0
    top = fairness.gaps.iloc[0]  # the same figures the last partition shows, same order
    shown = f"{top.cohort_attribute}={top.cohort_value} vs {top.reference_value}"
    assert gaps["worst_gaps"].records[0].data["group"] == shown
    cohorts = cohort_view(engine, MODEL, later)
    assert cohorts.label_coverage is None and cohorts.evidence_day == expected
    assert len(cohorts.cohorts) > 0
    assert (cohorts.cohorts.tpr_gap_to_all.abs().diff().dropna() <= 0).all()  # furthest first
