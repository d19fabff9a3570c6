"""alert_job against real webhook receivers on 127.0.0.1 and the real database: evidence,
retries with every attempt recorded, a receiver that never recovers, re-execution."""

from __future__ import annotations

import html
import socket
from datetime import timedelta

import pytest

from monitoring_pipeline.alerting.webhook import deliver_webhook
from monitoring_pipeline.defs.alerts import ALERT_JOB, SEND_ALERT_OP
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline_tests.alerting.helpers import (
    ACCURACY_SLO,
    GAP_SLO,
    HANG,
    MODEL,
    START,
    alert_config,
    hook,
    rows,
    scripted_receiver,
    write_budget_day,
)

DAYS = [START + timedelta(days=i) for i in range(5)]
KEY = f"error_budget:{MODEL}:{GAP_SLO}:page:{DAYS[3]}"


def seed(engine) -> None:
    """Days 0-2 healthy, days 3-4 bad (the gap SLO pages as of day 4)."""
    for i, day in enumerate(DAYS):
        status = "page" if i >= 3 else "ok"
        write_budget_day(engine, day, {GAP_SLO: status, ACCURACY_SLO: "ok"}, bad_gap=i >= 3)


def run_alert(config, database_url, instance, **overrides):
    job = build_definitions(config, database_url=database_url).resolve_job_def(ALERT_JOB)
    op_config = {
        "model_name": MODEL,
        "slo_name": GAP_SLO,
        "severity": "page",
        "kind": "firing",
        "as_of": DAYS[4].isoformat(),
        "dedupe_key": KEY,
        "episode_start": DAYS[3].isoformat(),
        "reason": "new page episode",
    } | overrides
    return job.execute_in_process(
        run_config={"ops": {SEND_ALERT_OP: {"config": op_config}}},
        instance=instance,
        raise_on_error=False,
    )


def attempts(engine, destination: str) -> list[tuple]:
    found = rows(
        engine,
        "SELECT attempt, outcome, http_status, error FROM monitoring.alert_deliveries "
        "WHERE destination = :d ORDER BY attempt",
        d=destination,
    )
    return [(r["attempt"], r["outcome"], r["http_status"], r["error"]) for r in found]


def failure_message(result) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def test_flaky_receiver_gets_the_alert_with_its_evidence_after_retries(
    engine, database_url, dagster_instance, tmp_path
):
    seed(engine)
    with scripted_receiver([500, 503, 200]) as receiver:
        config = alert_config(tmp_path, [hook(receiver.url, max_attempts=4)])
        result = run_alert(config, database_url, dagster_instance)
        assert result.success
    assert attempts(engine, "oncall") == [
        (1, "retry", 500, "HTTP 500 Internal Server Error: no"),
        (2, "retry", 503, "HTTP 503 Service Unavailable: no"),
        (3, "delivered", 200, None),
    ]
    assert attempts(engine, "log") == [(1, "delivered", None, None)]
    (message,) = receiver.accepted
    assert len(receiver.received) == 3  # the same message each time
    assert message["text"].startswith(f"[PAGE] {MODEL}/{GAP_SLO}: new page episode; burn 4.3x")
    # The gap with its sign as fairness_disparities stores it; the SLO judges its size.
    assert "worst region=west vs north -0.300 [95% -0.390, -0.210]" in message["text"]
    assert "(objective |tpr_difference| &lt;= 0.1); owners team:credit-risk" in message["text"]
    assert [b["type"] for b in message["blocks"]] == [
        "header", "section", "section", "actions", "section", "section", "section", "context",
    ]  # fmt: skip
    assert KEY in message["blocks"][-1]["elements"][0]["text"]
    report = (tmp_path / "reports" / MODEL / f"{DAYS[4]}.html").as_uri()
    dagster = (
        f"http://127.0.0.1:3000/assets/{MODEL}/error_budgets?view=partitions&partition={DAYS[4]}"
    )
    runbook = f"https://runbooks.example.com/ml/{GAP_SLO}"
    assert [(e["text"]["text"], e["url"]) for e in message["blocks"][3]["elements"]] == [
        ("Runbook", runbook), ("Dagster partition", dagster),
    ]  # fmt: skip

    (alert,) = rows(engine, "SELECT * FROM monitoring.alerts")
    assert (alert["dedupe_key"], alert["kind"], alert["delivery_status"]) == (
        KEY,
        "firing",
        "delivered",
    )
    # Where it leads, in columns for analysts and in the evidence.
    assert (alert["report_url"], alert["dagster_url"], alert["runbook_url"]) == (
        report,
        dagster,
        runbook,
    )
    assert alert["owners"] == ["team:credit-risk", "ml-steward@example.com"]
    assert alert["evidence"]["links"] == {"report": report, "dagster": dagster, "runbook": runbook}
    assert alert["affected_partitions"] == DAYS[3:]
    assert alert["worst_cohorts"][0] == {
        "cohort": "region=west vs north",
        "value": pytest.approx(-0.30),
        "lower": pytest.approx(-0.39),
        "upper": pytest.approx(-0.21),
        "sufficient": True,
        "beyond_objective": True,
    }
    # South and east are within the objective (their intervals reach 0): listed after west.
    assert [c["cohort"] for c in alert["worst_cohorts"]] == [
        "region=west vs north", "region=south vs north", "region=east vs north",
    ]  # fmt: skip
    assert not any(c["beyond_objective"] for c in alert["worst_cohorts"][1:])
    budget = alert["evidence"]["budget"]
    assert (budget["status"], budget["bad_days"], budget["burn_rate_long"]) == ("page", 3, 4.3)
    assert alert["evidence"]["reading"]["subject"] == "region=west vs north"
    assert alert["run_id"] == result.run_id

    # Re-executing a delivered alert sends nothing and duplicates nothing.
    again = run_alert(config, database_url, dagster_instance)
    assert again.success
    assert len(rows(engine, "SELECT * FROM monitoring.alerts")) == 1
    assert len(attempts(engine, "oncall")) == 3 and len(receiver.accepted) == 1


def test_receiver_that_never_recovers_fails_the_run_and_reexecution_delivers_once(
    engine, database_url, dagster_instance, tmp_path
):
    seed(engine)
    with scripted_receiver([503]) as down:
        config = alert_config(tmp_path, [hook(down.url, max_attempts=2)])
        result = run_alert(config, database_url, dagster_instance)
    assert not result.success
    assert failure_message(result) == (
        f"alert {KEY} (firing) not delivered to oncall (2 attempt(s), last: "
        "HTTP 503 Service Unavailable: no)"
    )
    assert attempts(engine, "oncall") == [
        (1, "retry", 503, "HTTP 503 Service Unavailable: no"),
        (2, "failed", 503, "HTTP 503 Service Unavailable: no"),
    ]
    (alert,) = rows(engine, "SELECT delivery_status, summary FROM monitoring.alerts")
    assert alert["delivery_status"] == "failed"

    # The receiver is back (same URL as far as the config knows: a new server, same evidence).
    with scripted_receiver([200]) as back:
        config = alert_config(tmp_path, [hook(back.url, max_attempts=2)])
        rerun = run_alert(config, database_url, dagster_instance)
        assert rerun.success
        rerun_again = run_alert(config, database_url, dagster_instance)
        assert rerun_again.success
    (message,) = back.accepted  # delivered once, with the evidence gathered the first time
    assert html.unescape(message["text"].split("\n")[0]) == alert["summary"]
    assert attempts(engine, "oncall")[-1] == (3, "delivered", 200, None)
    assert attempts(engine, "log") == [(1, "delivered", None, None)]  # logged once only
    (alert,) = rows(engine, "SELECT delivery_status FROM monitoring.alerts")
    assert alert["delivery_status"] == "delivered"


def test_receiver_down_then_hanging_then_failing_then_back_gets_the_alert_exactly_once(
    engine, database_url, dagster_instance, tmp_path
):
    """One URL throughout: nothing listening (connection refused), then a receiver that
    hangs past the timeout, answers 500, and at last 200; a re-execution sends nothing."""
    seed(engine)
    with socket.socket() as probe:  # a port nobody listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    down = run_alert(
        alert_config(tmp_path, [hook(url, max_attempts=2)]), database_url, dagster_instance
    )
    assert not down.success
    with scripted_receiver([HANG, 500, 200], port=port) as receiver:
        config = alert_config(tmp_path, [hook(url, max_attempts=3, timeout_seconds=1)])
        assert run_alert(config, database_url, dagster_instance).success
        assert run_alert(config, database_url, dagster_instance).success  # nothing more
    made = attempts(engine, "oncall")
    assert [(a, outcome, status) for a, outcome, status, _ in made] == [
        (1, "retry", None), (2, "failed", None),
        (3, "retry", None), (4, "retry", 500), (5, "delivered", 200),
    ]  # fmt: skip
    assert all(error.startswith("cannot connect: ") for *_, error in made[:2])
    assert made[2][3] == "no response within 1s"
    assert len(receiver.received) == 3 and len(receiver.accepted) == 1  # the hang never answered
    assert receiver.accepted[0]["text"].startswith(f"[PAGE] {MODEL}/{GAP_SLO}: new page episode")
    assert attempts(engine, "log") == [(1, "delivered", None, None)]
    (alert,) = rows(engine, "SELECT delivery_status FROM monitoring.alerts")
    assert alert["delivery_status"] == "delivered"


def test_missing_secret_and_unknown_slo_fail_in_one_line(
    engine, database_url, dagster_instance, tmp_path, monkeypatch
):
    seed(engine)
    monkeypatch.delenv("ONCALL_WEBHOOK_URL", raising=False)
    config = alert_config(tmp_path, [{"name": "oncall", "url_env": "ONCALL_WEBHOOK_URL"}])
    result = run_alert(config, database_url, dagster_instance)
    assert failure_message(result) == (
        f"alert {KEY} (firing) not delivered to oncall (environment variable "
        "ONCALL_WEBHOOK_URL is not set)"
    )
    with scripted_receiver([200]) as receiver:
        monkeypatch.setenv("ONCALL_WEBHOOK_URL", receiver.url)
        assert run_alert(config, database_url, dagster_instance).success
    assert len(receiver.accepted) == 1
    bad = run_alert(config, database_url, dagster_instance, slo_name="nope")
    assert failure_message(bad) == "slo_name: model 'loan_approval' has no SLO 'nope'"


def test_ticket_only_destinations_and_resolved_notice(
    engine, database_url, dagster_instance, tmp_path
):
    seed(engine)
    with scripted_receiver([200]) as everything, scripted_receiver([200]) as pages_only:
        config = alert_config(
            tmp_path,
            [
                hook(everything.url, name="team"),
                hook(pages_only.url, name="pager", min_severity="page"),
            ],
        )
        ticket_key = f"error_budget:{MODEL}:{GAP_SLO}:ticket:{DAYS[3]}"
        assert run_alert(
            config, database_url, dagster_instance, severity="ticket", dedupe_key=ticket_key
        ).success
        assert run_alert(
            config, database_url, dagster_instance, kind="resolved", as_of=DAYS[4].isoformat()
        ).success
    assert [m["text"][:30] for m in everything.accepted] == [
        f"[TICKET] {MODEL}/{GAP_SLO}"[:30],
        f"[RESOLVED page] {MODEL}/{GAP_SLO}"[:30],
    ]
    assert [m["text"][:16] for m in pages_only.accepted] == ["[RESOLVED page] "]


def test_each_destination_gets_only_the_severities_it_chose(
    engine, database_url, dagster_instance, tmp_path
):
    """A ticket-only and a page-only channel: each firing goes to the channel of its
    severity; a resolved notice to every channel its episode fired on; the other channel
    is not addressed at all (no delivery row, the alert is delivered)."""
    seed(engine)
    accuracy_key = f"error_budget:{MODEL}:{ACCURACY_SLO}:ticket:{DAYS[3]}"
    gap_ticket_key = f"error_budget:{MODEL}:{GAP_SLO}:ticket:{DAYS[3]}"
    with scripted_receiver([200]) as tickets, scripted_receiver([200]) as pages:
        config = alert_config(
            tmp_path,
            [
                hook(tickets.url, name="ticket_queue", severities=["ticket"]),
                hook(pages.url, name="pager", severities=["page"]),
            ],
        )

        def send(**overrides) -> None:
            assert run_alert(config, database_url, dagster_instance, **overrides).success

        # A ticket episode of one SLO, fired and resolved.
        new_ticket = {"severity": "ticket", "reason": "new ticket episode"}
        send(slo_name=ACCURACY_SLO, dedupe_key=accuracy_key, **new_ticket)
        send(slo_name=ACCURACY_SLO, severity="ticket", dedupe_key=accuracy_key, kind="resolved")
        # An episode of another that tickets, escalates to a page, then resolves (at page).
        send(dedupe_key=gap_ticket_key, **new_ticket)
        send(reason="escalated from ticket to page")
        send(kind="resolved")
    assert [m["text"].split(";")[0] for m in tickets.accepted] == [
        f"[TICKET] {MODEL}/{ACCURACY_SLO}: new ticket episode",
        f"[RESOLVED ticket] {MODEL}/{ACCURACY_SLO} is back to ok as of {DAYS[4]} (open since {DAYS[3]})",
        f"[TICKET] {MODEL}/{GAP_SLO}: new ticket episode",
        f"[RESOLVED page] {MODEL}/{GAP_SLO} is back to ok as of {DAYS[4]} (open since {DAYS[3]})",
    ]
    assert [m["text"].split(";")[0] for m in pages.accepted] == [
        f"[PAGE] {MODEL}/{GAP_SLO}: escalated from ticket to page",
        f"[RESOLVED page] {MODEL}/{GAP_SLO} is back to ok as of {DAYS[4]} (open since {DAYS[3]})",
    ]
    addressed = rows(
        engine,
        "SELECT a.dedupe_key, a.kind, a.delivery_status, "
        "array_agg(d.destination ORDER BY d.destination) AS destinations "
        "FROM monitoring.alerts a JOIN monitoring.alert_deliveries d USING (dedupe_key, kind) "
        "GROUP BY 1, 2, 3",
    )
    assert {(r["dedupe_key"], r["kind"]): tuple(r["destinations"]) for r in addressed} == {
        (accuracy_key, "firing"): ("log", "ticket_queue"),
        (accuracy_key, "resolved"): ("log", "ticket_queue"),
        (gap_ticket_key, "firing"): ("log", "ticket_queue"),
        (KEY, "firing"): ("log", "pager"),
        (KEY, "resolved"): ("log", "pager", "ticket_queue"),
    }
    assert {r["delivery_status"] for r in addressed} == {"delivered"}


def test_permanent_client_error_is_not_retried():
    seen = []
    with scripted_receiver([404, 200]) as receiver:
        ok = deliver_webhook(
            receiver.url, {"text": "x"}, timeout=2, max_attempts=5, backoff_seconds=0,
            on_attempt=seen.append,
        )  # fmt: skip
    assert not ok
    assert [(a.attempt, a.outcome, a.http_status) for a in seen] == [(1, "failed", 404)]


def test_unreachable_receiver_backs_off_between_attempts():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen, waits = [], []
    ok = deliver_webhook(
        f"http://127.0.0.1:{port}/", {"text": "x"}, timeout=1, max_attempts=3,
        backoff_seconds=0.5, on_attempt=seen.append, first_attempt=4, sleep=waits.append,
    )  # fmt: skip
    assert not ok
    assert [(a.attempt, a.outcome, a.http_status) for a in seen] == [
        (4, "retry", None), (5, "retry", None), (6, "failed", None),
    ]  # fmt: skip
    assert seen[0].error.startswith("cannot connect: ")
    assert waits == [0.5, 1.0]
