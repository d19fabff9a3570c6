"""complaint_metrics as the job writes it, against an independent count of the simulated
complaints (pandas, statsmodels' Wilson interval), for the table source (loans) and the
file source (job screening); then a late complaint through late_complaints_sensor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from statsmodels.stats.proportion import proportion_confint

from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.sensors import LATE_COMPLAINTS_SENSOR
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.demo.publish import DEMO_SCHEMA
from monitoring_pipeline.pipeline.late_complaints import find_stale_complaint_days
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day, table

pytestmark = pytest.mark.e2e

DAY = START + timedelta(days=1)
ATTRIBUTE = {"loan_approval": "region", "job_screening": "gender"}


@pytest.fixture(scope="module")
def world(module_engine, module_database_url, module_dagster_instance, tmp_path_factory):
    engine, tmp_path = module_engine, tmp_path_factory.mktemp("complaints_world")
    # West's qualified applicants are turned down that day: they complain more.
    incident = MinorityDegradation(
        model="loan_approval", start=DAY, end=DAY, attribute="region", group="west", severity=0.9
    )
    config, traffic = build_world(engine, tmp_path, incidents=[incident], volume=600)
    assert run_day(config, module_database_url, module_dagster_instance, DAY, reports=False).success
    return {
        "engine": engine,
        "config": config,
        "traffic": traffic,
        "url": module_database_url,
        "instance": module_dagster_instance,
        "rates": table(engine, "complaint_metrics"),
        "rows": table(engine, "labeled_predictions"),
    }


def expected_counts(world, model: str) -> pd.DataFrame:
    """Per cohort: predictions of the day and those with a complaint in its 14-day window,
    counted from the simulated complaints and the stored rows."""
    rows = world["rows"]
    rows = rows[(rows.model_name == model) & (rows.partition_date == DAY)]
    complaints = world["traffic"][model].complaints
    start = pd.Timestamp(DAY, tz="UTC")
    in_window = complaints[
        (complaints.complained_at >= start)
        & (complaints.complained_at < start + pd.Timedelta(days=15))
    ]
    attribute = ATTRIBUTE[model]
    frame = pd.DataFrame(
        {
            "group": rows.cohorts.map(lambda c: c[attribute]),
            "complained": rows.prediction_id.isin(set(in_window.prediction_id)),
        }
    )
    per_group = frame.groupby("group").complained.agg(["size", "sum"])
    per_group.loc["all"] = [len(frame), frame.complained.sum()]
    return per_group


@pytest.mark.parametrize("model", ["loan_approval", "job_screening"])
def test_rates_and_wilson_intervals_match_an_independent_count(world, model):
    rates = world["rates"]
    rates = rates[(rates.model_name == model) & (rates.partition_date == DAY)]
    shown = rates[rates.cohort_attribute.isin(["all", ATTRIBUTE[model]])]
    expected = expected_counts(world, model)
    assert set(shown.cohort_value) == set(expected.index)
    for row in shown.itertuples():
        n, k = expected.loc[row.cohort_value]
        lower, upper = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (row.n, row.complaints) == (n, k), row.cohort_value
        assert row.value == pytest.approx(k / n)
        assert (row.lower, row.upper) == (pytest.approx(lower), pytest.approx(upper))
    assert expected.loc["all", "sum"] > 10  # the count is not trivially empty
    # The run counted in December: the October day's window has closed, its rate is final.
    assert rates.window_complete.all()
    closes = pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(days=15)
    assert (rates.window_closes_at == closes).all() and (rates.counted_as_of == closes).all()


def test_the_complaint_slo_judges_every_region_and_finds_the_wronged_one(world):
    rates = world["rates"].set_index(["model_name", "cohort_attribute", "cohort_value"])
    west = rates.loc[("loan_approval", "region", "west")]
    others = rates.loc[("loan_approval", "region")].drop(index=["west"], errors="ignore")
    assert west.value > others.value.max()  # turned down although qualified: they complain
    evaluations = table(world["engine"], "slo_evaluations")
    (slo,) = evaluations[
        (evaluations.model_name == "loan_approval")
        & (evaluations.slo_name == "complaint_rate_region")
    ].itertuples()
    assert slo.sli_source == "complaint_metrics" and slo.members >= 4
    if slo.status == "bad":
        assert slo.sli_subject == "region=west" and slo.lower > 0.04
    else:  # a small region on one day: its Bonferroni interval may still reach 4%
        assert slo.status == "good" and slo.lower <= 0.04


def test_a_late_complaint_reruns_the_day_and_is_counted(world):
    engine, config = world["engine"], world["config"]
    rows = world["rows"]
    day_ids = rows[(rows.model_name == "loan_approval") & (rows.partition_date == DAY)]
    complained = set(world["traffic"]["loan_approval"].complaints.prediction_id)
    quiet = day_ids[~day_ids.prediction_id.isin(complained)].prediction_id.iloc[:3].tolist()
    before = (
        world["rates"].set_index(["model_name", "cohort_attribute"]).loc[("loan_approval", "all")]
    )
    late = pd.DataFrame(
        {
            "prediction_id": quiet,
            # In the window; after it (not counted); no time at all (not counted).
            "complained_at": pd.to_datetime(
                ["2026-10-05T09:00Z", "2026-10-30T09:00Z", None], utc=True
            ),
        }
    )
    with engine.begin() as conn:
        late.to_sql("loan_complaints", conn, schema=DEMO_SCHEMA, if_exists="append", index=False)
    # The sensor looks back over the window (and 2 days): its clock is within it.
    now = datetime(2026, 10, 12, tzinfo=UTC)
    (stale,) = find_stale_complaint_days(engine, config, "loan_approval", now)
    assert (stale.partition_date, stale.complaints_now) == (DAY, int(before.complaints) + 1)

    defs = build_definitions(config, database_url=world["url"], clock=lambda: now)
    sensor = defs.resolve_sensor_def(LATE_COMPLAINTS_SENSOR)
    with dg.build_sensor_context(
        instance=world["instance"],
        definitions=defs,
        resources={"monitoring_db": MonitoringDatabase(database_url=world["url"])},
    ) as context:
        (request,) = sensor.evaluate_tick(context).run_requests
    assert request.partition_key == DAY.isoformat()
    assert {key.path[-1] for key in request.asset_selection} == {
        "complaint_metrics", "slo_evaluations", "error_budgets", "report",
    }  # fmt: skip
    job = defs.resolve_job_def(MONITOR_MODELS_JOB).get_subset(
        asset_selection=set(request.asset_selection) - {dg.AssetKey(["loan_approval", "report"])}
    )
    result = job.execute_in_process(
        partition_key=request.partition_key, instance=world["instance"], tags=request.tags
    )
    assert result.success
    after = table(engine, "complaint_metrics").set_index(["model_name", "cohort_attribute"])
    assert int(after.loc[("loan_approval", "all")].complaints) == int(before.complaints) + 1
    metadata = (
        world["instance"]
        .get_latest_materialization_event(dg.AssetKey(["loan_approval", "complaint_metrics"]))
        .asset_materialization.metadata
    )
    assert metadata["complaint_rows_after_window"].value == 1
    assert metadata["complaint_rows_undated"].value == 1
    # Counted again: nothing is stale any more.
    assert find_stale_complaint_days(engine, config, "loan_approval", now) == []
    with engine.connect() as conn:
        evaluated = conn.execute(
            sa.text(
                "SELECT count(*) FROM monitoring.slo_evaluations WHERE model_name = 'loan_approval'"
                " AND partition_date = :d AND slo_name = 'complaint_rate_region'"
            ),
            {"d": DAY},
        ).scalar_one()
    assert evaluated == 1
