"""The demo's story does not depend on the date it runs: its days, the labels it has seen,
the sensors' clock and which Dagster partitions exist all follow the scenario's calendar.

The core of the demo (simulation, publishing, the monitoring runs, error_budget_sensor's
tick and the alert summary) is played twice on fresh databases, with Dagster's "now"
injected before the scenario begins and a year after it ends: the budgets, the pages and
the summary lines are the same."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.demo.alerting import local_receiver, local_webhook_url
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.demo.scenario import SCENARIO_END, DemoCalendar, simulated_clock
from monitoring_pipeline.demo.script import DemoOptions, tick_error_budget_sensor
from monitoring_pipeline.demo.summary import alert_lines
from monitoring_pipeline.orchestrate import days_between, run_days
from monitoring_pipeline.storage.database import create_engine

MODEL = "loan_approval"
START = date(2026, 10, 1)
END = START + timedelta(days=2)
# Dagster's "now" for partitions: the day before the scenario starts (none of its days would
# exist yet by the wall clock), and a year after it ends.
RUN_DATES = (datetime(2026, 9, 30, 12, tzinfo=UTC), datetime(2027, 10, 4, 12, tzinfo=UTC))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_default_scenario_keeps_its_own_calendar():
    assert DemoOptions().calendar() == DemoCalendar(
        start=date(2026, 10, 22), retrain_day=date(2026, 11, 18), end=SCENARIO_END
    )


def play(tmp_path: Path, database_url: str, dagster_url: str, run_date: datetime) -> dict:
    """A three-day incident on loan_approval through the demo's core; what it decided."""
    (tmp_path / "dagster").mkdir(parents=True)
    raw = demo_config(START, tmp_path / "data", webhook_port=free_port())
    del raw["models"]["job_screening"]
    # Pages only: the retrainer (a subprocess fitting a model) is not what this is about.
    raw["models"][MODEL]["slos"][0]["retrain_on_page"] = False
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    incident = MinorityDegradation(
        model=MODEL, start=START, end=END, attribute="region", group="west", severity=0.9
    )
    now = simulated_clock(END)
    traffic = {
        MODEL: generate_traffic(
            MODEL, START, END, now=now, seed=5, incidents=[incident], daily_volume=2500
        ),
        # publish_demo_sources writes both models' sources; job_screening is not monitored here.
        "job_screening": generate_traffic("job_screening", START, START, now=now, daily_volume=10),
    }
    engine = create_engine(database_url)
    storage = instance_storage_config(dagster_url)
    try:
        with (
            dg.partition_loading_context(effective_dt=run_date),
            dg.instance_for_test(overrides=storage, temp_dir=str(tmp_path / "dagster")) as instance,
        ):
            publish_demo_sources(engine, traffic, tmp_path / "data")
            runs = run_days(
                config, instance, days_between(START, END), database_url=database_url, as_of=now
            )
            with local_receiver(local_webhook_url(config), out=None, say=lambda _: None):
                tick = tick_error_budget_sensor(
                    config, instance, database_url=database_url, day=END, cursor=None
                )
        with engine.connect() as conn:
            budgets = conn.execute(
                sa.text(
                    "SELECT partition_date, slo_name, status, known_days, bad_days, "
                    "round(remaining_days::numeric, 6), round(burn_rate_long::numeric, 6) "
                    "FROM monitoring.error_budgets ORDER BY 1, 2"
                )
            ).all()
        return {
            "runs": [(run.partition_key, run.success) for run in runs],
            "sensor runs": sorted((run.run_key, run.success) for run in tick.runs),
            "budgets": budgets,
            "alerts": alert_lines(engine, start=START, end=END),
        }
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_the_same_scenario_tells_the_same_story_on_any_run_date(tmp_path, make_database_url):
    before, after = (
        play(tmp_path / str(i), make_database_url(), make_database_url(), run_date)
        for i, run_date in enumerate(RUN_DATES)
    )
    assert before["runs"] == [(day.isoformat(), True) for day in days_between(START, END)]
    page = f"alert:error_budget:{MODEL}:tpr_gap_region:page:{END}:firing"
    assert (page, True) in before["sensor runs"]
    (paged,) = [line for line in before["alerts"] if "[PAGE]" in line]
    assert paged.startswith(f"  [PAGE] {MODEL}/tpr_gap_region as of {END}: delivered; worst ")
    assert after == before
