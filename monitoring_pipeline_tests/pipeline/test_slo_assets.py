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
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.pipeline.slo import absolute_interval, read_sli
from monitoring_pipeline.pipeline.verdicts import cohort_view, fairness_view
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline_tests.helpers.databases import create_database_from_template
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day, table

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
    create_database_from_template(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    engine = create_engine(url)
    directory = tmp_path_factory.mktemp("slo_world")
    incident = MinorityDegradation(
        model=MODEL, start=DAYS[5], end=DAYS[-1], attribute="region", group="west", severity=0.9
    )
    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(directory),
    ) as instance:
        config, _ = build_world(engine, directory, incidents=[incident], volume=2500)
        # loan_approval only: every test here reads its tables (a second model would double
        # the cost of the world).
        results = {
            day: run_day(config, url, instance, day, models=[MODEL], reports=False) for day in DAYS
        }
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_each_slo_is_a_check_on_error_budgets_red_on_page_warn_on_ticket(incident_world):
    budgets = table(incident_world.engine, "error_budgets")
    budgets = budgets[budgets.model_name == MODEL]
    page_day = _first_day(budgets, "tpr_gap_region", "page")
    ticket_day = _first_day(budgets, "tpr_gap_region", "ticket")
    assert ticket_day < page_day  # one bad day tickets before the second pages

    paging = _evaluations(incident_world, page_day)
    assert {name for asset, name in paging if asset == "error_budgets"} == {
        "tpr_gap_region", "accuracy_all", "income_psi", "approval_rate_shift",
        "feature_drift_within_groups", "estimated_tpr_gap_region", "latency_p95_region",
        "complaint_rate_region",
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
    # The set's bad members that day, as slo_evaluations stores them, subject first.
    evaluations = table(incident_world.engine, "slo_evaluations")
    reading = evaluations[
        (evaluations.model_name == MODEL)
        & (evaluations.slo_name == "tpr_gap_region")
        & (evaluations.partition_date == row.evidence_through)
    ].iloc[0]
    assert metadata["bad_members"] == (", ".join(reading.bad_members) or "none")
    assert metadata["sli_subject"] == reading.sli_subject
    if reading.status == "bad":
        assert metadata["bad_members"].split(", ")[0] == reading.sli_subject
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


@pytest.mark.e2e
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
    # The day's gaps as one Benjamini-Hochberg family: the burning gap is a discovery.
    assert worst["p_adjusted"] < 0.05
    assert 0 < gaps["gaps_significant_after_fdr"].value <= gaps["gaps_tested"].value
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


@pytest.mark.e2e
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


SET_SLOS = [
    {
        "name": "tpr_gap_every_attribute",
        "sli": {"source": "fairness_disparities", "metric": "tpr_difference", "attribute": "*"},
        "objective": {"op": "<=", "value": 0.1},
    },
    {
        "name": "tpr_every_region",
        "sli": {"source": "cohort_metrics", "metric": "tpr", "cohort": "region=*"},
        "objective": {"op": ">=", "value": 0.6},
    },
    {
        "name": "psi_every_feature",
        "sli": {"source": "drift", "method": "psi", "feature": "*"},
        "objective": {"op": "<=", "value": 0.25},
    },
]


def _with_slos(config: MonitoringConfig, model_name: str, extra: list[dict]) -> MonitoringConfig:
    """``config`` with ``extra`` SLOs added to one model, validated as a file would be."""
    raw = config.model_dump(mode="json", exclude_unset=True)
    raw["models"][model_name]["slos"] = [*raw["models"][model_name].get("slos", []), *extra]
    return MonitoringConfig.model_validate(raw)


def _evaluate(engine, config, days) -> pd.DataFrame:
    from datetime import UTC, datetime

    from monitoring_pipeline.pipeline.slo import build_slo_evaluations
    from monitoring_pipeline.storage.writes import Audit

    audit = Audit("test-slo-sets", datetime.now(UTC))
    for day in days:
        build_slo_evaluations(engine, config, MODEL, day, audit)
    return table(engine, "slo_evaluations").query("model_name == @MODEL")


def _day_rows(engine, name: str, day: date) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(
            sa.text(
                f"SELECT * FROM monitoring.{name} WHERE model_name = :m AND partition_date = :d "
                "AND model_version = 'all'"
            ),
            conn,
            params={"m": MODEL, "d": day},
        )


def test_set_slos_name_the_clearest_violation_on_bonferroni_intervals(incident_world):
    """Set SLOs over the incident world, checked against statsmodels on cohort_stats."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    engine = incident_world.engine
    config = _with_slos(incident_world.config, MODEL, SET_SLOS)
    evaluations = _evaluate(engine, config, DAYS)
    gaps = evaluations[evaluations.slo_name == "tpr_gap_every_attribute"].set_index(
        "partition_date"
    )
    bad = gaps[gaps.status == "bad"]
    # The degraded group shows up as bad after the onset, named first among the bad members.
    assert len(bad) >= 2 and set(bad.index) >= set(
        gaps[gaps.status == "bad"].index.intersection(DAYS[5:])
    )
    incident_bad = bad.loc[bad.index.isin(DAYS[5:])]
    assert len(incident_bad) >= 2
    for row in incident_bad.itertuples():
        assert row.bad_members[0] == row.sli_subject
        assert any("west" in m for m in row.bad_members)
        assert (row.lower > 0.1) and row.members >= len(row.bad_members)
    # Independent recomputation of the subject's interval on one bad day: the Newcombe
    # interval of statsmodels at alpha = 0.05 / m, m = the published comparisons that have
    # an interval that day (every attribute and intersection).
    row = incident_bad.iloc[-1]
    day = incident_bad.index[-1]
    published = _day_rows(engine, "fairness_disparities", day)
    published = published[published.metric == "tpr_difference"]
    m = int((published.lower.notna() & published.upper.notna()).sum())
    assert row.members == len(published) and m > 3
    assert row.interval_confidence == pytest.approx(1 - 0.05 / m)
    member, reference = row.sli_subject.split(" vs ")
    attribute, group = member.split("=")
    stats = _day_rows(engine, "cohort_stats", day).set_index(["cohort_attribute", "cohort_value"])
    g, r = stats.loc[(attribute, group)], stats.loc[(attribute, reference)]
    low, high = confint_proportions_2indep(
        int(g.tp), int(g.tp + g.fn), int(r.tp), int(r.tp + r.fn),
        method="newcomb", compare="diff", alpha=0.05 / m,
    )  # fmt: skip
    expected = sorted([abs(low), abs(high)]) if low * high > 0 else [0.0, max(-low, high)]
    assert (row.lower, row.upper) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    # Wider than the published 95% interval of the same comparison.
    same = published[(published.cohort_attribute == attribute) & (published.cohort_value == group)]
    assert row.upper > max(abs(same.lower.iloc[0]), abs(same.upper.iloc[0]))

    # A cohort-metric set: every region's TPR, Wilson at alpha = 0.05 / 4 from the counts.
    tpr = evaluations[evaluations.slo_name == "tpr_every_region"].set_index("partition_date")
    row = tpr.loc[day]
    regions = [v for a, v in stats.index if a == "region"]
    assert row.members == len(regions) == 4
    assert row.interval_confidence == pytest.approx(1 - 0.05 / 4)
    subject = stats.loc[tuple(row.sli_subject.split("="))]
    low, high = proportion_confint(
        int(subject.tp), int(subject.tp + subject.fn), alpha=0.05 / 4, method="wilson"
    )
    assert (row.lower, row.upper) == (pytest.approx(low), pytest.approx(high))
    if row.status == "bad":
        assert row.upper < 0.6 and "west" in row.sli_subject

    # A drift set over every feature (of the whole population): point values, no interval,
    # no adjustment; the score is not a feature.
    drift = evaluations[evaluations.slo_name == "psi_every_feature"]
    assert drift.interval_confidence.isna().all()
    published = table(engine, "drift").query(
        "model_name == @MODEL and model_version == 'all' and method == 'psi' "
        "and feature != 'score' and cohort_attribute == 'all'"
    )
    # "*" is every configured feature: not the score, nor the attribution columns.
    attribution_rows = published.feature.isin(config.models[MODEL].attribution_columns)
    assert attribution_rows.any()
    published = published[~attribution_rows]
    assert published.feature.nunique() == len(config.models[MODEL].features.all)
    counts = published.groupby("partition_date").size()
    judged = drift.set_index("partition_date").members
    assert judged.reindex(counts.index).tolist() == counts.tolist()
    for row in drift.itertuples():
        day_rows = published[published.partition_date == row.partition_date]
        beyond = day_rows[day_rows.drifted.notna() & (day_rows.statistic > 0.25)]
        assert len(row.bad_members) == len(beyond)
        assert (row.status == "bad") == (len(beyond) > 0)


def test_a_drift_slo_burning_at_page_rate_raises_a_ticket_not_a_page(engine, tmp_path):
    """Seven bad days in a row burn at 10x: a page, except where max_severity caps it."""
    from datetime import UTC, datetime

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.pipeline.alerts import error_budget_signals
    from monitoring_pipeline.pipeline.slo import build_error_budgets
    from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

    _demo_model(tmp_path)  # writes the demo file to tmp_path / "m.yaml"
    config = _with_slos(
        load_config(tmp_path / "m.yaml"),
        MODEL,
        [
            {
                "name": "income_psi_pages",
                "sli": {"source": "drift", "method": "psi", "feature": "income"},
                "objective": {"op": "<=", "value": 0.25},
                "max_severity": "page",
            },
            {
                "name": "accuracy_ticket_only",
                "sli": {"source": "cohort_metrics", "metric": "accuracy"},
                "objective": {"op": ">=", "value": 0.7},
                "max_severity": "ticket",
            },
        ],
    )
    names = ["income_psi", "income_psi_pages", "accuracy_ticket_only", "accuracy_all"]
    audit = Audit("test-severity", datetime.now(UTC))
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(7)]
    for day in days:
        frame = pd.DataFrame(
            {
                "slo_name": names, "sli_source": "x", "sli_metric": "x", "sli_subject": "all",
                "value": 1.0, "lower": None, "upper": None, "objective_op": "<=",
                "objective_value": 0.25, "sufficient": True, "status": "bad", "reason": "test",
                "bad_members": "{all}", "unknown_members": "{}", "members": 1,
                "interval_confidence": None, "partition_date": day, "model_name": MODEL,
            }
        )  # fmt: skip
        replace_partitions(
            engine, model_name=MODEL, partition_date=day,
            rows=[TableRows("slo_evaluations", frame)], audit=audit,
        )  # fmt: skip
    budgets = build_error_budgets(engine, config, MODEL, days[-1], audit).set_index("slo_name")
    assert (budgets.loc[names, "burn_rate_long"] >= 2).all()  # page rate everywhere
    # income_psi: drift is ticket-only by default; income_psi_pages lifts that with its own
    # max_severity; accuracy_ticket_only caps a source that would page.
    assert budgets.loc[names, "status"].tolist() == ["ticket", "page", "ticket", "page"]
    assert budgets.loc[names, "max_severity"].tolist() == ["ticket", "page", "ticket", "page"]
    stored = table(engine, "error_budgets").set_index("slo_name")
    assert stored.loc[names, "max_severity"].tolist() == ["ticket", "page", "ticket", "page"]
    signals = {s.subject: s.level for s in error_budget_signals(budgets.reset_index(), config)}
    assert signals["income_psi"] == "ticket" and signals["income_psi_pages"] == "page"
    # defaults.max_severity per SLI source: drift may page again, cohort metrics only ticket.
    raw = config.model_dump(mode="json", exclude_unset=True)
    raw["defaults"] = {"max_severity": {"drift": "page", "cohort_metrics": "ticket"}}
    relaxed = MonitoringConfig.model_validate(raw)
    budgets = build_error_budgets(engine, relaxed, MODEL, days[-1], audit).set_index("slo_name")
    assert budgets.loc[names, "status"].tolist() == ["page", "page", "ticket", "ticket"]
