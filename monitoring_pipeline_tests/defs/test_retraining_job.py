"""retraining_job on the real embedded PostgreSQL: one request per dedupe key, with its
evidence; a real command (placeholders and environment) and a real local webhook;
failures recorded and failing the run in one line; the cooldown."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.retraining import RETRAINING_JOB, retraining_run_config
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.storage.reads import read_frame
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

AS_OF = date(2026, 10, 20)
PERIOD_START = date(2026, 10, 1)
# Writes its argv and the MONITORING_RETRAIN_* environment to the file named first, one
# JSON line per run (no braces in the code: they would read as placeholders).
RECORDER = (
    "import os, sys, json; "
    "line = json.dumps(dict(argv=sys.argv[2:], env=dict((k, v) for k, v in os.environ.items() "
    "if k.startswith('MONITORING_RETRAIN_') or k == 'MONITORING_DATABASE_URL'))); "
    "open(sys.argv[1], 'a').write(line + chr(10)); print('handed over')"
)


def make_config(tmp_path: Path, action: dict | None, **retraining):
    raw = demo_config(PERIOD_START, tmp_path / "data")
    loan = raw["models"]["loan_approval"]
    loan.pop("retraining", None)  # the demo's own action runs the reference retrainer
    if action is not None:
        loan["retraining"] = {"action": action, "training_window_days": 14, **retraining}
    path = tmp_path / f"models_{len(list(tmp_path.glob('models_*')))}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def publish_evidence(engine) -> None:
    """A paging budget for tpr_gap_region on AS_OF, three bad days and the day's gaps."""
    audit = Audit(run_id="seed", produced_at=datetime.now(UTC))
    bad_days = [AS_OF - timedelta(days=k) for k in (0, 1, 3)]
    for day in [AS_OF - timedelta(days=k) for k in range(5)]:
        status = "bad" if day in bad_days else "good"
        evaluation = pd.DataFrame(
            [
                {
                    "partition_date": day,
                    "model_name": "loan_approval",
                    "slo_name": "tpr_gap_region",
                    "sli_source": "fairness_disparities",
                    "sli_metric": "tpr_difference",
                    "sli_subject": "region=west vs north",
                    "value": 0.3 if status == "bad" else 0.02,
                    "lower": 0.2 if status == "bad" else 0.0,
                    "upper": 0.4 if status == "bad" else 0.08,
                    "objective_op": "<=",
                    "objective_value": 0.1,
                    "sufficient": True,
                    "status": status,
                    "reason": "seeded",
                }
            ]
        )
        replace_partitions(
            engine,
            model_name="loan_approval",
            partition_date=day,
            rows=[TableRows("slo_evaluations", evaluation)],
            audit=audit,
        )
    budget = pd.DataFrame(
        [
            {
                "partition_date": AS_OF,
                "model_name": "loan_approval",
                "slo_name": "tpr_gap_region",
                "target": 0.9,
                "period_days": 28,
                "known_days": 5,
                "good_days": 2,
                "bad_days": 3,
                "unknown_days": 23,
                "budget_days": 0.5,
                "consumed_days": 3,
                "remaining_days": -2.5,
                "remaining_fraction": -5.0,
                "burn_rate_short": 10.0,
                "burn_rate_long": 6.0,
                "short_window_days": 2,
                "long_window_days": 7,
                "status": "page",
                "retrain_on_page": True,
                "evidence_through": AS_OF,
            }
        ]
    )
    gaps = pd.DataFrame(
        {
            "partition_date": AS_OF,
            "model_name": "loan_approval",
            "model_version": "all",
            "cohort_attribute": "region",
            "cohort_value": ["north", "south", "east", "west"],
            "reference_value": "north",
            "metric": "tpr_difference",
            "value": [0.0, -0.02, 0.05, -0.31],
            "lower": [0.0, -0.07, -0.01, -0.42],
            "upper": [0.0, 0.03, 0.11, -0.2],
            "sufficient": True,
            "passes_four_fifths": None,
            "is_worst": [False, False, False, True],
        }
    )
    replace_partitions(
        engine,
        model_name="loan_approval",
        partition_date=AS_OF,
        rows=[TableRows("error_budgets", budget), TableRows("fairness_disparities", gaps)],
        audit=audit,
    )


def run_job(config, database_url, instance, *, key: str, as_of: date = AS_OF, slo="tpr_gap_region"):
    job = build_definitions(config, database_url=database_url).resolve_job_def(RETRAINING_JOB)
    return job.execute_in_process(
        run_config=retraining_run_config(
            model_name="loan_approval",
            slo_name=slo,
            as_of=as_of.isoformat(),
            alert_dedupe_key=key,
        ),
        instance=instance,
        raise_on_error=False,
    )


def requests(engine) -> pd.DataFrame:
    return read_frame(engine, "SELECT * FROM monitoring.retraining_requests ORDER BY request_id")


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    # The Failure's description: the one line the UI shows for the run.
    return failures[0].step_failure_data.user_failure_data.description


def test_command_action_runs_once_per_dedupe_key_with_placeholders_and_environment(
    engine, database_url, dagster_instance, tmp_path
):
    publish_evidence(engine)
    out = tmp_path / "calls.jsonl"
    action = {
        "kind": "command",
        "command": [
            sys.executable,
            "-c",
            RECORDER,
            str(out),
            "{request_id}",
            "{model_name}",
            "--day={as_of}",
            "{training_start}..{training_end}",
        ],  # fmt: skip
        "timeout_seconds": 60,
    }
    config = make_config(tmp_path, action)
    first = run_job(config, database_url, dagster_instance, key="page:loan:tpr:2026-10-20")
    assert first.success
    again = run_job(config, database_url, dagster_instance, key="page:loan:tpr:2026-10-20")
    assert again.success

    rows = requests(engine)
    assert len(rows) == 1  # the re-executed run recorded nothing twice ...
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(calls) == 1  # ... and did not act twice
    request = rows.iloc[0]
    request_id = str(request.request_id)
    assert calls[0]["argv"] == [
        request_id,
        "loan_approval",
        "--day=2026-10-20",
        "2026-10-07..2026-10-20",
    ]
    env = calls[0]["env"]
    assert env["MONITORING_RETRAIN_REQUEST_ID"] == request_id
    assert env["MONITORING_RETRAIN_SLO_NAME"] == "tpr_gap_region"
    assert env["MONITORING_RETRAIN_ALERT_DEDUPE_KEY"] == "page:loan:tpr:2026-10-20"
    assert env["MONITORING_DATABASE_URL"] == database_url
    assert request.status == "triggered" and request.exit_code == 0
    assert request.attempts == 1 and request.output_tail == "handed over"
    assert (request.training_start, request.training_end) == (date(2026, 10, 7), AS_OF)

    evidence = request.evidence
    assert evidence["budget"]["status"] == "page"
    assert evidence["budget"]["bad_days"] == 3 and evidence["budget"]["burn_rate_long"] == 6.0
    assert [d["partition_date"] for d in evidence["bad_days"]] == [
        "2026-10-17", "2026-10-19", "2026-10-20"
    ]  # fmt: skip
    assert evidence["first_bad_day"] == "2026-10-17"
    worst = evidence["worst_cohorts"]
    # The reference group itself is no finding; the largest absolute gap comes first.
    assert [w["cohort_value"] for w in worst] == ["west", "east", "south"]
    assert (worst[0]["value"], worst[0]["lower"], worst[0]["upper"]) == (-0.31, -0.42, -0.2)
    assert evidence["training_window"]["start"] == "2026-10-07"

    metadata = first.output_for_node("request_retraining")
    assert metadata == request.request_id


def test_failed_command_is_recorded_fails_the_run_in_one_line_and_a_rerun_retries(
    engine, database_url, dagster_instance, tmp_path
):
    marker = tmp_path / "ok"
    # Fails until the marker file exists: the second execution succeeds.
    code = (
        "import os, sys; ok = os.path.exists(sys.argv[1]); "
        "print('trainer: no GPU available' if not ok else 'queued'); sys.exit(0 if ok else 3)"
    )
    config = make_config(
        tmp_path, {"kind": "command", "command": [sys.executable, "-c", code, str(marker)]}
    )
    result = run_job(config, database_url, dagster_instance, key="k1")
    assert not result.success
    message = failure_message(result)
    assert message == "retraining request 1: command exited with code 3: trainer: no GPU available"
    row = requests(engine).iloc[0]
    assert row.status == "failed" and row.exit_code == 3
    assert row.status_reason == "command exited with code 3: trainer: no GPU available"

    marker.write_text("")
    assert run_job(config, database_url, dagster_instance, key="k1").success
    rows = requests(engine)
    assert len(rows) == 1
    assert rows.iloc[0].status == "triggered" and rows.iloc[0].attempts == 2

    missing = make_config(
        tmp_path, {"kind": "command", "command": ["/nonexistent/retrain", "{request_id}"]}
    )
    result = run_job(
        missing, database_url, dagster_instance, key="k2", as_of=AS_OF + timedelta(days=30)
    )
    assert (
        failure_message(result) == "retraining request 2: command not found: /nonexistent/retrain"
    )


class _Receiver(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict, dict]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((body, dict(self.headers)))
        code = type(self).answers.pop(0) if type(self).answers else 202
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"queued": true}' if code < 300 else b"overloaded")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.answers, _Receiver.received = [], []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_posts_the_request_retrying_server_errors(
    engine, database_url, dagster_instance, tmp_path, receiver, monkeypatch
):
    publish_evidence(engine)
    port = receiver.server_address[1]
    monkeypatch.setenv("RETRAIN_HOOK", f"http://127.0.0.1:{port}/hooks/retrain?token=secret")
    config = make_config(
        tmp_path,
        {"kind": "webhook", "url_env": "RETRAIN_HOOK", "max_attempts": 3, "retry_wait_seconds": 0},
    )
    _Receiver.answers = [503, 202]
    result = run_job(config, database_url, dagster_instance, key="hook-1")
    assert result.success
    assert len(_Receiver.received) == 2  # one 503, retried, then accepted
    body, headers = _Receiver.received[-1]
    assert body["request_id"] == 1 and body["model_name"] == "loan_approval"
    assert body["as_of"] == "2026-10-20" and body["evidence"]["budget"]["status"] == "page"
    assert headers["Idempotency-Key"] == "hook-1"
    row = requests(engine).iloc[0]
    assert row.status == "triggered" and row.http_status == 202 and row.attempts == 2
    assert row.action_target == f"http://127.0.0.1:{port}"  # no token in the table
    assert row.output_tail == '{"queued": true}'

    _Receiver.answers = [400]
    result = run_job(
        config, database_url, dagster_instance, key="hook-2", as_of=AS_OF + timedelta(days=30)
    )
    assert (
        failure_message(result)
        == f"retraining request 2: webhook http://127.0.0.1:{port} answered 400 Bad Request"
    )
    assert len(_Receiver.received) == 3  # a 4xx is not retried
    assert requests(engine).iloc[1].status == "failed"


def test_cooldown_suppresses_a_second_request_and_missing_action_fails(
    engine, database_url, dagster_instance, tmp_path
):
    config = make_config(
        tmp_path, {"kind": "command", "command": [sys.executable, "-c", "pass"]}, cooldown_days=7
    )
    assert run_job(config, database_url, dagster_instance, key="a").success
    assert run_job(
        config, database_url, dagster_instance, key="b", as_of=AS_OF + timedelta(days=6)
    ).success
    assert run_job(
        config, database_url, dagster_instance, key="c", as_of=AS_OF + timedelta(days=7)
    ).success
    rows = requests(engine)
    assert list(rows.status) == ["triggered", "suppressed", "triggered"]
    assert rows.status_reason.iloc[1].startswith(
        "cooldown: request 1 (tpr_gap_region, as of 2026-10-20"
    )
    assert list(rows.attempts) == [1, 0, 1]

    unconfigured = make_config(tmp_path, None)
    result = run_job(
        unconfigured, database_url, dagster_instance, key="d", as_of=AS_OF + timedelta(days=60)
    )
    assert failure_message(result) == (
        "retraining request 4: no retraining action configured for loan_approval "
        "(models.loan_approval.retraining)"
    )
    assert requests(engine).status.iloc[-1] == "failed"

    result = run_job(config, database_url, dagster_instance, key="e", slo="no_such_slo")
    assert failure_message(result).startswith("model loan_approval has no SLO 'no_such_slo'")


def test_job_contract_single_op_with_exact_config(tmp_path):
    config = make_config(tmp_path, {"kind": "command", "command": ["true"]})
    job = build_definitions(config).resolve_job_def(RETRAINING_JOB)
    assert job.partitions_def is None
    assert [node.name for node in job.graph.nodes] == ["request_retraining"]
    fields = job.graph.node_named("request_retraining").definition.config_schema.config_type.fields
    assert set(fields) == {"model_name", "slo_name", "as_of", "alert_dedupe_key"}


def test_a_request_being_acted_on_is_not_acted_on_twice_until_its_attempt_is_stale(
    engine, tmp_path
):
    import sqlalchemy as sa

    from monitoring_pipeline.pipeline.retraining import request_retraining
    from monitoring_pipeline.storage import retraining as store

    out = tmp_path / "calls.jsonl"
    action = {"kind": "command", "command": [sys.executable, "-c", RECORDER, str(out)]}
    config = make_config(tmp_path, action)
    now = datetime.now(UTC)
    request, _ = store.record_request(
        engine, model_name="loan_approval", slo_name="tpr_gap_region", as_of=AS_OF,
        alert_dedupe_key="k", evidence={}, training_start=AS_OF, training_end=AS_OF,
        status="requested", status_reason=None, run_id="first", now=now,
    )  # fmt: skip
    # A first run claimed the request and is still running its action.
    assert store.claim_action(
        engine, request.request_id, kind="command", target="x", run_id="first", now=now,
        stale_before=now,
    )  # fmt: skip
    kwargs = dict(
        model_name="loan_approval", slo_name="tpr_gap_region", as_of=AS_OF, alert_dedupe_key="k"
    )
    second = request_retraining(engine, config, run_id="second", **kwargs)
    assert not second.acted and not out.exists()
    assert "another run is acting on it" in second.summary

    # The first run died: once its attempt is older than the action's deadline
    # (timeout_seconds + 60 s), a re-execution claims the request and acts.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE monitoring.retraining_requests SET triggered_at = now() - interval '2 hours'"
            )
        )
    third = request_retraining(engine, config, run_id="third", **kwargs)
    assert third.acted and len(out.read_text().splitlines()) == 1
    assert third.request.status == "triggered" and third.request.attempts == 2
