"""late_labels_sensor through build_sensor_context + evaluate_tick, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.sensors import LATE_LABELS_SENSOR
from monitoring_pipeline.defs.tags import LABELS_AS_OF_TAG
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline_tests.helpers.worlds import START, table

pytestmark = pytest.mark.e2e

DAYS = [START + timedelta(days=i) for i in range(3)]


def publish(engine, tmp_path, now: datetime) -> None:
    traffic = {
        model: generate_traffic(model, DAYS[0], DAYS[-1], now=now, seed=5, daily_volume=300)
        for model in ("loan_approval", "job_screening")
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")


def tick(defs: dg.Definitions, instance, database_url: str):
    sensor = defs.resolve_sensor_def(LATE_LABELS_SENSOR)
    with dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        resources={"monitoring_db": MonitoringDatabase(database_url=database_url)},
    ) as context:
        return sensor.evaluate_tick(context)


def test_late_labels_rerun_exactly_the_days_that_gained_labels(
    engine, database_url, dagster_instance, tmp_path
):
    first_look = datetime.combine(DAYS[-1] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    publish(engine, tmp_path, first_look)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(demo_config(DAYS[0], tmp_path / "data")))
    config = load_config(path)
    # The sensor's "now" is the test's own (the days are fixed; the wall clock moves on).
    now = [first_look]
    defs = build_definitions(config, database_url=database_url, clock=lambda: now[0])
    job = defs.resolve_job_def(MONITOR_MODELS_JOB)
    for day in DAYS:
        assert job.execute_in_process(
            partition_key=day.isoformat(), instance=dagster_instance
        ).success

    # Nothing new yet: the sensor skips.
    assert tick(defs, dagster_instance, database_url).run_requests == []

    # Two weeks later most labels of the recent days have arrived (and some were corrected).
    now[0] = first_look + timedelta(days=14)
    publish(engine, tmp_path, now[0])
    result = tick(defs, dagster_instance, database_url)
    requested = {(r.tags["model"], r.partition_key) for r in result.run_requests}
    used = (
        table(engine, "labeled_predictions")
        .groupby(["model_name", "partition_date"])
        .label_revisions.sum()
    )
    assert requested == {(m, d.isoformat()) for (m, d) in used.index} - _barely_changed(
        engine, used
    )
    assert ("loan_approval", DAYS[-1].isoformat()) in requested
    request = next(r for r in result.run_requests if r.tags["model"] == "loan_approval")
    assert {key.path[0] for key in request.asset_selection} == {"loan_approval"}
    selected = {key.path[1] for key in request.asset_selection}
    assert selected >= {"labeled_predictions", "label_status", "cohort_metrics", "error_budgets"}
    # Drift reads no label: a late-label re-run leaves it as it is.
    assert "drift" not in selected
    assert LABELS_AS_OF_TAG not in request.tags  # production joins every label

    # A repeated tick asks for the same runs under the same keys: Dagster launches each once.
    again = tick(defs, dagster_instance, database_url)
    assert sorted(r.run_key for r in again.run_requests) == sorted(
        r.run_key for r in result.run_requests
    )

    # Once the requested runs have landed, there is nothing left to do.
    for r in result.run_requests:
        run = job.get_subset(asset_selection=set(r.asset_selection)).execute_in_process(
            partition_key=r.partition_key, instance=dagster_instance
        )
        assert run.success
    assert tick(defs, dagster_instance, database_url).run_requests == []
    status = table(engine, "label_status").set_index(["model_name", "partition_date"])
    assert status.loc[("loan_approval", DAYS[-1]), "coverage"] > 0.5


def _barely_changed(engine, used) -> set[tuple[str, str]]:
    """Days whose label rows grew by less than 2% of their predictions (not requested)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        loan_now = dict(
            conn.execute(
                sa.text(
                    "SELECT lp.partition_date, count(*) FROM monitoring.labeled_predictions lp "
                    "JOIN demo_source.loan_labels l ON l.prediction_id = lp.prediction_id "
                    "WHERE lp.model_name = 'loan_approval' GROUP BY 1"
                )
            ).all()
        )
        predictions = dict(
            conn.execute(
                sa.text(
                    "SELECT partition_date, count(*) FROM monitoring.labeled_predictions "
                    "WHERE model_name = 'loan_approval' GROUP BY 1"
                )
            ).all()
        )
    small = set()
    for day, rows in loan_now.items():
        if (rows - used[("loan_approval", day)]) / predictions[day] < 0.02:
            small.add(("loan_approval", day.isoformat()))
    return small
