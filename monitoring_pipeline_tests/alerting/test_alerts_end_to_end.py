"""End to end on demo data: the monitoring job day by day, the sensor ticking after each
day as the daemon would, and the requested alert runs executed: the demo incident pages
exactly once per violated SLO; a healthy stretch pages nothing."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline_tests.alerting.helpers import (
    RETRAINER_LOG,
    WORLD_TAG,
    Daemon,
    hook,
    rows,
    scripted_receiver,
    use_recording_retrainer,
)
from monitoring_pipeline_tests.helpers.privacy import person_ids, rows_holding

pytestmark = pytest.mark.e2e

START = date(2026, 11, 1)
MODEL = "loan_approval"


QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def world(
    engine, tmp_path, days: int, *, incidents=(), volume: int, webhook_url: str, min_size=50,
    labels_after: int = 1,
):  # fmt: skip
    """``days`` of traffic from START, with the labels recorded by 00:00 ``labels_after``
    days after the last day."""
    end = START + timedelta(days=days - 1)
    now = datetime.combine(end + timedelta(days=labels_after), datetime.min.time(), tzinfo=UTC)
    traffic = {
        model: generate_traffic(
            model, START, end, now=now, seed=3, incidents=incidents, daily_volume=volume
        )
        for model in ("loan_approval", "job_screening")
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")
    raw = demo_config(START, tmp_path / "data")
    raw["alerting"]["webhooks"] = [hook(webhook_url)]
    # These worlds are materialized by hand, weeks before the wall clock: with the schedule
    # on, the sensor would rightly page health_checks_missing for them.
    raw["schedule"] = {"enabled": False}
    use_recording_retrainer(raw, tmp_path)
    raw["models"][MODEL]["cohorts"]["min_size"] = min_size
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path), [START + timedelta(days=i) for i in range(days)]


def run_days_and_tick(config, database_url, instance, days, world: str, *, models=(MODEL,)):
    """Each day: the model's chain (one run), then a sensor tick and its alert runs."""
    defs = build_definitions(config, database_url=database_url)
    graph = defs.resolve_asset_graph()
    selection = [
        key
        for key in graph.get_all_asset_keys()
        # The HTML report is not what alerts read (they link to its path).
        if key.path[0] in models and graph.get(key).is_materializable and key.path[-1] != "report"
    ]
    job = defs.resolve_job_def(MONITOR_MODELS_JOB).get_subset(asset_selection=set(selection))
    daemon = Daemon(defs, instance, database_url, world)
    cursor = None
    for day in days:
        run = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, run_config=QUIET
        )
        assert run.success
        result = daemon.tick(cursor)
        cursor = result.cursor
        daemon.launch(result)
    return daemon


def test_demo_incident_pages_once_per_violated_slo(
    engine, database_url, dagster_instance, tmp_path
):
    incident = MinorityDegradation(
        model=MODEL, start=START + timedelta(days=2), end=START + timedelta(days=6),
        attribute="region", group="west", severity=0.9,
    )  # fmt: skip
    with scripted_receiver([200]) as receiver:
        config, days = world(
            engine, tmp_path, 7, incidents=[incident], volume=2500, webhook_url=receiver.url
        )
        run_days_and_tick(config, database_url, dagster_instance, days, tmp_path.name)
    budgets = rows(
        engine,
        "SELECT slo_name, status FROM monitoring.error_budgets WHERE partition_date = :d",
        d=days[-1],
    )
    violated = {b["slo_name"] for b in budgets if b["status"] == "page"}
    assert violated == {"tpr_gap_region"}
    pages = rows(
        engine,
        "SELECT model_name, subject, delivery_status, affected_partitions, worst_cohorts "
        "FROM monitoring.alerts WHERE severity = 'page' AND kind = 'firing'",
    )
    assert [(p["model_name"], p["subject"]) for p in pages] == [(MODEL, "tpr_gap_region")]
    (page,) = pages
    assert page["delivery_status"] == "delivered"
    assert min(page["affected_partitions"]) >= incident.start
    assert page["worst_cohorts"][0]["cohort"] == "region=west vs north"
    assert page["worst_cohorts"][0]["beyond_objective"]
    # Nothing at all for the healthy SLOs; the receiver got the page once. The same gap
    # estimated from scores raised a ticket (its cap), marked as estimated.
    subjects = {a["subject"] for a in rows(engine, "SELECT subject FROM monitoring.alerts")}
    assert subjects == {"tpr_gap_region", "estimated_tpr_gap_region"}
    estimated = [m for m in receiver.accepted if "estimated_tpr_gap_region" in m["text"]]
    assert estimated and all(m["text"].startswith("[TICKET]") for m in estimated)
    assert "estimated from scores" in estimated[0]["text"]
    page_messages = [m for m in receiver.accepted if m["text"].startswith("[PAGE]")]
    assert len(page_messages) == 1
    assert "region=west vs north" in page_messages[0]["text"]
    retraining = dagster_instance.get_runs(
        filters=dg.RunsFilter(job_name="retraining_job", tags={WORLD_TAG: tmp_path.name})
    )
    assert len(retraining) == 1 and retraining[0].is_success
    # The real retraining_job recorded the request with the page's key and ran its action.
    (request,) = rows(
        engine, "SELECT request_id, alert_dedupe_key, status FROM monitoring.retraining_requests"
    )
    assert request["alert_dedupe_key"].startswith(f"error_budget:{MODEL}:tpr_gap_region:page:")
    assert request["status"] == "triggered"
    assert (tmp_path / RETRAINER_LOG).read_text().split() == [str(request["request_id"])]
    # No prediction id reached the alert, its evidence or the request (README, "Privacy").
    assert rows_holding(engine, person_ids(engine)) == {}


def test_a_healthy_week_pages_nothing(engine, database_url, dagster_instance, tmp_path):
    with scripted_receiver([200]) as receiver:
        # A week whose labels have all arrived: every day is judged on evidence.
        config, days = world(
            engine, tmp_path, 7, volume=500, webhook_url=receiver.url, min_size=20,
            labels_after=30,
        )  # fmt: skip
        run_days_and_tick(config, database_url, dagster_instance, days, tmp_path.name)
    assert rows(engine, "SELECT * FROM monitoring.alerts") == []
    assert rows(engine, "SELECT * FROM monitoring.retraining_requests") == []
    assert receiver.received == []
    # Not vacuous: the SLOs were judged on evidence, day after day.
    judged = rows(
        engine,
        "SELECT slo_name, count(*) AS good FROM monitoring.slo_evaluations "
        "WHERE status = 'good' GROUP BY slo_name",
    )
    assert {j["slo_name"] for j in judged if j["good"] >= 5} >= {"tpr_gap_region", "accuracy_all"}
