"""The demo's alerting loop on the real embedded PostgreSQL: error_budget_sensor evaluated
in-process after a short incident launches one page per violated SLO (delivered to the
demo's local receiver thread) and the retraining request the demo's second phase follows,
under run keys the Dagster daemon will not launch again."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import PRIORITY_TAG, RUN_KEY_TAG, SENSOR_NAME_TAG

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.alerts import ALERT_JOB, ERROR_BUDGET_SENSOR
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import RESPONSE_PRIORITY
from monitoring_pipeline.defs.retraining import RETRAINING_JOB
from monitoring_pipeline.demo.alerting import evaluate_alerts, local_receiver, local_webhook_url
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.demo.retraining import retraining_outcomes, simulated_clock
from monitoring_pipeline.demo.summary import alert_lines
from monitoring_pipeline.orchestrate import days_between, run_days
from monitoring_pipeline_tests.alerting.helpers import rows
from monitoring_pipeline_tests.helpers.worlds import START

MODEL = "loan_approval"
END = START + timedelta(days=2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def short_incident_config(tmp_path, port: int):
    """The demo config with loan_approval alone, its webhook on ``port``."""
    raw = demo_config(START, tmp_path / "data")
    del raw["models"]["job_screening"]
    raw["alerting"]["webhooks"][0]["url"] = f"http://127.0.0.1:{port}/demo-alerts"
    # Days materialized by hand long before today: with the schedule on, the missing health
    # rows since then would rightly page too (health_checks_missing).
    raw["schedule"] = {"enabled": False}
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


@pytest.mark.e2e
def test_in_demo_sensor_tick_pages_once_per_violated_slo_and_requests_retraining(
    engine, database_url, dagster_instance, tmp_path, monkeypatch
):
    config = short_incident_config(tmp_path, free_port())
    # The reference retrainer (a subprocess) reads the same config and database.
    monkeypatch.setenv("MONITORING_CONFIG", str(tmp_path / "monitored_models.yaml"))
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path / "home"))
    incident = MinorityDegradation(
        model=MODEL, start=START, end=END, attribute="region", group="west", severity=0.9
    )
    traffic = {
        MODEL: generate_traffic(
            MODEL, START, END, now=simulated_clock(END), seed=5, incidents=[incident],
            daily_volume=2500,
        ),
        # publish_demo_sources writes both models' sources; job_screening is not monitored here.
        "job_screening": generate_traffic("job_screening", START, START, now=simulated_clock(END), daily_volume=10),
    }  # fmt: skip
    publish_demo_sources(engine, traffic, tmp_path / "data")
    runs = run_days(config, dagster_instance, days_between(START, END), database_url=database_url)
    assert all(run.success for run in runs)
    defs = build_definitions(config, database_url=database_url)

    said: list[str] = []
    out = tmp_path / "alerts.jsonl"
    with local_receiver(local_webhook_url(config), out=out, say=said.append) as listening:
        assert listening
        tick = evaluate_alerts(defs, dagster_instance, database_url=database_url, cursor=None)
        # The same tick again, and a daemon starting with no cursor: nothing more to send.
        again = evaluate_alerts(
            defs, dagster_instance, database_url=database_url, cursor=tick.cursor
        )
        fresh = evaluate_alerts(defs, dagster_instance, database_url=database_url, cursor=None)

    violated = {
        b["slo_name"]
        for b in rows(
            engine,
            "SELECT slo_name FROM monitoring.error_budgets WHERE partition_date = :d "
            "AND status = 'page'",
            d=END,
        )
    }
    assert violated == {"tpr_gap_region"}
    pages = [
        r
        for r in tick.runs
        if r.job_name == ALERT_JOB and r.run_key.endswith(":firing") and ":page:" in r.run_key
    ]
    assert sorted(r.run_key for r in pages) == [
        f"alert:error_budget:{MODEL}:{slo}:page:{END}:firing" for slo in sorted(violated)
    ]
    (retrain,) = [r for r in tick.runs if r.job_name == RETRAINING_JOB]
    assert retrain.run_key == f"retrain:error_budget:{MODEL}:tpr_gap_region:page:{END}"
    assert all(r.success and r.run_id for r in tick.runs), [r.error for r in tick.runs]
    assert again.runs == [] and fresh.runs == []

    # Launched as the daemon launches: run key and sensor name tags, no remote origin. The
    # daemon's fetch_existing_runs (dagster/_daemon/sensor.py) treats exactly such runs as
    # already launched for this sensor, so a later daemon tick does not run them again.
    for sensor_run in tick.runs:
        (stored,) = dagster_instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: sensor_run.run_key})
        )
        assert stored.run_id == sensor_run.run_id and stored.is_success
        assert stored.tags[SENSOR_NAME_TAG] == ERROR_BUDGET_SENSOR
        assert stored.remote_job_origin is None
        # Queued ahead of monitor runs (a late-label backlog must not delay a page).
        assert stored.tags[PRIORITY_TAG] == RESPONSE_PRIORITY

    # The receiver thread got the page once, with its evidence.
    received = [json.loads(line)["message"]["text"] for line in out.read_text().splitlines()]
    page_texts = [t for t in received if t.startswith("[PAGE]")]
    assert len(page_texts) == 1 and "region=west vs north" in page_texts[0], page_texts
    assert any(
        "webhook /demo-alerts received: [PAGE] loan_approval/tpr_gap_region" in s for s in said
    )

    # Phase 2 follows the request the sensor's retraining_job created: the reference
    # retrainer fitted a version, which then rolls out from the next day.
    (outcome,) = retraining_outcomes(engine, END, canary_days=3, canary_share=0.5)
    (request,) = rows(engine, "SELECT * FROM monitoring.retraining_requests")
    assert request["alert_dedupe_key"] == f"error_budget:{MODEL}:tpr_gap_region:page:{END}"
    assert outcome.request_id == request["request_id"] and outcome.status == "completed"
    assert outcome.new_version == request["result_version"] == f"v1.4.0-rt{request['request_id']}"
    assert outcome.rollout.version == outcome.new_version
    assert outcome.rollout.canary_from == END + timedelta(days=1)

    (line,) = [x for x in alert_lines(engine, start=START, end=END) if "[PAGE]" in x]
    # The budget burns from the first day (west judged bad on its interval); the evidence
    # day's own worst is a sufficient group within the objective, which the line shows.
    assert line.startswith(f"  [PAGE] {MODEL}/tpr_gap_region as of {END}: delivered; worst region=")
    assert line.endswith("; retraining requested")


def test_a_busy_receiver_port_is_one_line_and_the_demo_goes_on(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        url = f"http://127.0.0.1:{taken.getsockname()[1]}/demo-alerts"
        said: list[str] = []
        with local_receiver(url, out=None, say=said.append) as listening:
            assert not listening
    (line,) = said
    assert line.startswith(
        f"- webhook receiver: cannot listen on 127.0.0.1:{url.split(':')[2].split('/')[0]} ("
    )
    assert "delivery is recorded as failed" in line


def test_no_alerts_is_said(engine):
    assert alert_lines(engine, start=START, end=END) == ["  no alerts"]
