"""`backtest` on a small world of the demo simulator (both models, both kinds of source):
labels as of each replayed day, late-label re-runs of the label-dependent assets only,
alerts recorded in the replay's own database and never delivered, production untouched."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from monitoring_pipeline.backtest import (
    alert_timeline,
    first_alert_day,
    replay_clock,
    replayed_day,
    report_lines,
    restrict_models,
    run_backtest,
)
from monitoring_pipeline.config import load_config
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.defs.tags import LABELS_AS_OF_TAG
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline.storage.replay import backtest_url
from monitoring_pipeline_tests.helpers.databases import create_database_from_template

pytestmark = pytest.mark.e2e

START = date(2026, 10, 1)
DAYS = [START + timedelta(days=i) for i in range(4)]
ONSET = DAYS[1]
# Every label the simulator will ever emit for these days: the source holds the future,
# and the replay alone must hide it.
LONG_AFTER = datetime(2027, 1, 1, tzinfo=UTC)


def table(engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(f"SELECT * FROM monitoring.{name}"), conn)


@pytest.fixture(scope="module")
def world(pg_admin_url, dagster_storage_url, tmp_path_factory):
    name = f"backtest_world_{os.getpid()}"
    create_database_from_template(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    engine = create_engine(url)
    directory = tmp_path_factory.mktemp("backtest_world")
    incident = MinorityDegradation(
        model="loan_approval", start=ONSET, end=DAYS[-1], attribute="region", group="west",
        severity=0.9,
    )  # fmt: skip
    traffic = {
        "loan_approval": generate_traffic(
            "loan_approval", DAYS[0], DAYS[-1], now=LONG_AFTER, seed=5, incidents=[incident],
            daily_volume=2500,
        ),
        "job_screening": generate_traffic(
            "job_screening", DAYS[0], DAYS[-1], now=LONG_AFTER, seed=5, daily_volume=300
        ),
    }  # fmt: skip
    publish_demo_sources(engine, traffic, directory / "data")
    raw = demo_config(DAYS[0], directory / "data")
    raw["schedule"] = {"enabled": False}
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(directory),
    ) as instance:
        result = run_backtest(
            config, monitoring_url=url, start=DAYS[0], end=DAYS[-1], instance=instance
        )
        yield engine, url, config, traffic, result, instance
    engine.dispose()


@pytest.fixture(scope="module")
def replay_engine(world):
    engine = create_engine(backtest_url(world[1]))
    yield engine
    engine.dispose()


def test_every_day_replayed_and_production_untouched(world):
    engine, url, _, _, result, _ = world
    assert result.success
    assert [d.day for d in result.days] == DAYS
    assert f"{make_url(url).database}_backtest" in result.database
    # The production database holds the sources only: no day materialized, no alert.
    assert table(engine, "labeled_predictions").empty
    assert table(engine, "alerts").empty


def test_each_day_joins_only_the_labels_recorded_by_its_end(world, replay_engine):
    _, _, _, traffic, result, instance = world
    rows = table(replay_engine, "labeled_predictions")
    newest = rows.groupby(["model_name", "partition_date"]).labelled_at.max()
    # No day saw a label recorded after the end of the replay.
    assert (newest.dropna() <= pd.Timestamp(replay_clock(DAYS[-1]))).all()
    # The last day was built once, at its own end: it has fewer labels than the source.
    last = rows[(rows.model_name == "loan_approval") & (rows.partition_date == DAYS[-1])]
    labels = traffic["loan_approval"].labels
    in_source = labels.prediction_id.isin(last.prediction_id).sum()
    assert 0 < last.label.notna().sum() < in_source
    assert (last.labelled_at.dropna() <= pd.Timestamp(replay_clock(DAYS[-1]))).all()
    # The day's own run says so in its tags (the cutoff never comes from the wall clock).
    run = instance.get_run_by_id(result.days[-1].run.run_id)
    assert run.tags[LABELS_AS_OF_TAG] == replay_clock(DAYS[-1]).isoformat()


def test_late_labels_rerun_earlier_days_but_not_their_drift(world, replay_engine):
    _, _, _, _, result, _ = world
    every = [name for day in result.days for name in day.reruns]
    reruns = [name for name in every if not name.endswith(" (complaints)")]
    assert reruns, "labels arrive over days: earlier days must have been re-run"
    # So do complaints: late_complaints_sensor re-counts earlier days too.
    assert len(every) > len(reruns)
    assert result.runs_per_day > 1
    model, day = reruns[0].split(" ")
    day = date.fromisoformat(day)
    lp = table(replay_engine, "labeled_predictions")
    drift = table(replay_engine, "drift")
    run_of = lambda frame: set(  # noqa: E731
        frame[(frame.model_name == model) & (frame.partition_date == day)].run_id
    )
    # The re-run rewrote the day's labeled rows and error budgets (or a complaint re-run
    # of the same tick did, after it), not its drift.
    assert run_of(lp) != run_of(drift)
    assert run_of(table(replay_engine, "error_budgets")) != run_of(drift)
    # The re-run joined labels recorded after the day's own end.
    rows = lp[(lp.model_name == model) & (lp.partition_date == day)]
    assert (rows.labelled_at > pd.Timestamp(replay_clock(day))).any()


def test_alerts_are_recorded_never_delivered(world, replay_engine):
    _, _, _, _, result, _ = world
    alerts = table(replay_engine, "alerts")
    assert not alerts.empty
    assert set(alerts.delivery_status) == {"pending"}
    assert table(replay_engine, "alert_deliveries").empty
    # Each was decided at the end of a replayed day, never at the wall clock's time.
    assert {replayed_day(t.to_pydatetime()) for t in alerts.decided_at} <= set(DAYS)
    page_day = first_alert_day(result.alerts, "loan_approval", since=ONSET, severities=["page"])
    assert page_day is not None and page_day <= ONSET + timedelta(days=2)
    timeline = alert_timeline(result.alerts).set_index(["model_name", "subject"])
    assert timeline.loc[("loan_approval", "tpr_gap_region"), "first_page"] == page_day
    printed = "\n".join(report_lines(result))
    assert "tpr_gap_region" in printed and page_day.isoformat() in printed


def test_replay_clock_and_its_inverse():
    assert replay_clock(date(2026, 11, 3)) == datetime(2026, 11, 4, tzinfo=UTC)
    assert replayed_day(replay_clock(date(2026, 11, 3))) == date(2026, 11, 3)


def test_restrict_models_names_the_unknown_model(world):
    config = world[2]
    assert list(restrict_models(config, ["job_screening"]).models) == ["job_screening"]
    with pytest.raises(ValueError, match="no model \\['nope'\\]"):
        restrict_models(config, ["nope"])
