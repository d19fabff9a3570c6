"""Health findings as signals, the missing-rows judgement, health alert messages and the
alert_job request rules for the health_check source (no database)."""

from datetime import date, timedelta

import pytest

from monitoring_pipeline.alerting.decisions import AlertRecord, Cooldown, decide
from monitoring_pipeline.alerting.decisions import history_from_records as history
from monitoring_pipeline.alerting.health_signals import (
    health_check_level,
    health_check_signal,
    judge_missing_health,
    missing_health_signal,
)
from monitoring_pipeline.alerting.messages import named_days, slack_payload, summary_line
from monitoring_pipeline.pipeline.alerts import AlertRequest, AlertRequestError
from monitoring_pipeline_tests.alerting.helpers import MODEL, alert_config

DAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("status", "severity", "level"),
    [
        ("fail", "page", "page"),
        ("fail", "ticket", "ticket"),
        ("warn", "page", "ok"),  # tolerated by the thresholds: never notifies
        ("ok", "page", "ok"),
    ],
)
def test_a_fail_raises_its_severity_anything_else_is_ok(status, severity, level):
    assert health_check_level(status, severity) == level


def test_bad_health_rows_fail_clearly():
    with pytest.raises(ValueError, match="health status must be 'ok', 'warn' or 'fail', got 'x'"):
        health_check_level("x", "page")
    with pytest.raises(ValueError, match="health severity must be 'ticket' or 'page'"):
        health_check_level("fail", "urgent")


def test_a_failing_check_follows_the_episode_rules_and_never_requests_retraining():
    signal = health_check_signal(MODEL, "overdue_partitions", DAY, "fail", "page")
    (firing,) = decide(signal, history([]), Cooldown()).notifications
    assert firing.dedupe_key == f"health_check:{MODEL}:overdue_partitions:page:{DAY}"
    assert not firing.request_retraining
    opened = history([AlertRecord("firing", "page", DAY, DAY)])
    later = health_check_signal(MODEL, "overdue_partitions", DAY + timedelta(1), "fail", "page")
    assert decide(later, opened, Cooldown()).notifications == ()
    warn = health_check_signal(MODEL, "overdue_partitions", DAY + timedelta(2), "warn", "page")
    (resolved,) = decide(warn, opened, Cooldown()).notifications
    assert (resolved.kind, resolved.severity, resolved.episode_start) == ("resolved", "page", DAY)


@pytest.mark.parametrize(
    ("newest", "level", "missing"),
    [
        (DAY - timedelta(days=1), "ok", []),  # yesterday's run is in
        (DAY - timedelta(days=2), "ok", []),  # today's run may still come: the day of grace
        (DAY - timedelta(days=3), "page", [DAY - timedelta(days=2)]),
        (DAY - timedelta(days=5), "page", [DAY - timedelta(days=d) for d in (4, 3, 2)]),
        (None, "ok", []),  # never ran: not judged (a model just added)
    ],
)
def test_health_rows_are_missing_after_lag_plus_grace_days(newest, level, missing):
    judged = judge_missing_health(newest, DAY, lag_days=1, grace_days=1)
    assert judged.expected_through == DAY - timedelta(days=2)
    assert (judged.level, list(judged.missing_days)) == (level, missing)


def test_missing_rows_raise_the_configured_severity_on_the_wall_clock_day():
    judged = judge_missing_health(DAY - timedelta(days=4), DAY, lag_days=2, grace_days=0)
    assert judged.missing_days == (DAY - timedelta(days=3), DAY - timedelta(days=2))
    ticket = judge_missing_health(
        DAY - timedelta(3), DAY, lag_days=1, grace_days=1, severity="ticket"
    )
    signal = missing_health_signal(MODEL, ticket, DAY)
    assert (signal.subject, signal.level, signal.as_of) == ("health_checks_missing", "ticket", DAY)
    assert not signal.retrain_on_page


def test_named_days_lists_each_days_key_with_a_limit():
    details = {
        "judged_from": "2026-11-01",
        "missing": [f"2026-11-{d:02d}" for d in range(1, 8)],
        "blocked": {"2026-11-09": ["keys_and_ranges", "schema"]},
        "coverage_by_day": {"2026-11-10": 0.41234},
        "incomplete": {},
    }
    assert named_days(details, limit=3) == [
        ("missing", "2026-11-01, 2026-11-02, 2026-11-03 and 4 more"),
        ("blocked", "2026-11-09 (keys_and_ranges, schema)"),
        ("coverage_by_day", "2026-11-10 0.4123"),
    ]


def test_a_health_alert_without_a_stored_finding_still_formats():
    evidence = {
        "source": "health_check",
        "kind": "firing",
        "severity": "ticket",
        "model_name": MODEL,
        "subject": "label_lag",
        "reason": "launched by hand",
        "as_of": DAY.isoformat(),
        "episode_start": DAY.isoformat(),
        "finding": None,
        "episode_days": [],
    }
    assert summary_line(evidence) == f"[TICKET] {MODEL}/label_lag: launched by hand"
    payload = slack_payload(evidence, "k")
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]


def test_alert_requests_name_a_health_check_or_an_slo(tmp_path):
    config = alert_config(tmp_path)
    base = dict(
        model_name=MODEL, slo_name="", severity="page", kind="firing", as_of=DAY,
        dedupe_key="k", episode_start=DAY, reason="r",
    )  # fmt: skip
    health = AlertRequest(**base, source="health_check", subject="overdue_partitions")
    assert health.validate(config) is None and health.watched == "overdue_partitions"
    with pytest.raises(AlertRequestError, match="subject: 'tpr_gap_region' is not a health check"):
        AlertRequest(**base, source="health_check", subject="tpr_gap_region").validate(config)
    with pytest.raises(AlertRequestError, match="slo_name: required for error_budget alerts"):
        AlertRequest(**base).validate(config)
    with pytest.raises(AlertRequestError, match="source must be 'error_budget' or 'health_check'"):
        AlertRequest(**base, source="pager").validate(config)
    budget = AlertRequest(**base | {"slo_name": "tpr_gap_region"}, subject="tpr_gap_region")
    assert budget.validate(config).name == "tpr_gap_region"
