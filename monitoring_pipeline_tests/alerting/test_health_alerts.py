"""Pipeline-health alerts through error_budget_sensor (build_sensor_context + evaluate_tick on
the real database and a Postgres-backed Dagster instance) and alert_job delivering to a
receiver on 127.0.0.1: hand-made health_checks rows, a controlled wall clock."""

from datetime import UTC, datetime, time, timedelta

import dagster as dg

from monitoring_pipeline.defs.alerts import build_alert_job, build_error_budget_sensor
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.retraining import build_retraining_job
from monitoring_pipeline_tests.alerting.helpers import (
    HEALTH_CHECKS,
    MODEL,
    START,
    WORLD_TAG,
    Daemon,
    alert_config,
    hook,
    keys,
    rows,
    scripted_receiver,
    write_health_day,
)

DAYS = [START + timedelta(days=i) for i in range(8)]
OVERDUE_MESSAGE = f"1 overdue day(s): not materialized: {DAYS[0]} (re-run monitor_models_job)"


class Clock:
    """The sensor's wall clock, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at_noon(self, day) -> None:
        self.now = datetime.combine(day, time(12), tzinfo=UTC)


def definitions(config, database_url: str, clock: Clock) -> dg.Definitions:
    """alert_job, retraining_job (to show health pages never request it) and the sensor."""
    alert_job = build_alert_job(config)
    retraining_job = build_retraining_job(config)
    return dg.Definitions(
        jobs=[alert_job, retraining_job],
        sensors=[build_error_budget_sensor(config, alert_job, retraining_job, clock=clock)],
        resources={"monitoring_db": MonitoringDatabase(database_url=database_url)},
    )


def overdue_fail() -> dict:
    return {
        "status": "fail",
        "observed": 1.0,
        "threshold": 0.0,
        "message": OVERDUE_MESSAGE,
        "details": {"missing": [DAYS[0].isoformat()], "blocked": {}, "incomplete": {}},
    }


def coverage(status: str, lowest: float) -> dict:
    return {
        "status": status,
        "observed": lowest,
        "threshold": 0.8,
        "message": f"labels cover {lowest:.1%}",
        "details": {"low_days": [DAYS[0].isoformat()]} if status == "fail" else {},
    }


def test_failing_checks_alert_once_resolve_and_survive_restarts(
    engine, database_url, dagster_instance, tmp_path
):
    clock = Clock(datetime.now(UTC))
    with scripted_receiver([200]) as receiver:
        config = alert_config(tmp_path, [hook(receiver.url)])
        defs = definitions(config, database_url, clock)
        daemon = Daemon(defs, dagster_instance, database_url, tmp_path.name)
        page_key = f"health_check:{MODEL}:overdue_partitions:page:{DAYS[1]}"
        ticket_key = f"health_check:{MODEL}:label_coverage:ticket:{DAYS[1]}"

        # A warn notifies nothing.
        write_health_day(engine, DAYS[0], {"label_coverage": coverage("warn", 0.85)})
        clock.at_noon(DAYS[1])
        first = daemon.tick(None)
        assert first.run_requests == [] and first.cursor
        assert first.skip_message == (
            f"no alert to send (0 SLO(s) and {len(HEALTH_CHECKS)} health check(s) with new results)"
        )

        # Two checks fail: each raises its own severity, once.
        write_health_day(
            engine,
            DAYS[1],
            {"overdue_partitions": overdue_fail(), "label_coverage": coverage("fail", 0.4)},
        )
        clock.at_noon(DAYS[2])
        fired = daemon.tick(first.cursor)
        assert keys(fired) == [f"alert:{ticket_key}:firing", f"alert:{page_key}:firing"]
        page = next(r for r in fired.run_requests if page_key in r.run_key)
        assert page.tags["check"] == "overdue_partitions" and page.tags["severity"] == "page"
        assert page.run_config["ops"]["send_alert"]["config"]["subject"] == "overdue_partitions"
        # The daemon dies before launching. Restarted with the stored cursor, the sensor asks
        # again for both under the same run keys; with no cursor at all, the same.
        assert keys(daemon.tick(first.cursor)) == keys(fired)
        assert keys(daemon.tick(None)) == keys(fired)
        assert sorted(daemon.launch(fired)) == keys(fired)
        # Launched: repeated ticks, with the cursor or without, request nothing.
        assert daemon.tick(fired.cursor).run_requests == []
        lost = daemon.tick(None)
        assert lost.run_requests == [] and lost.cursor == fired.cursor

        # Still failing the next day: nothing new. A late re-run of the old day: nothing.
        write_health_day(
            engine,
            DAYS[2],
            {"overdue_partitions": overdue_fail(), "label_coverage": coverage("fail", 0.5)},
        )
        write_health_day(engine, DAYS[0], run_id="rerun")
        clock.at_noon(DAYS[3])
        still = daemon.tick(fired.cursor)
        assert still.run_requests == [] and still.cursor > fired.cursor

        # overdue_partitions recovers (resolved page); coverage only improves to warn, which
        # is not a fail: its ticket resolves too.
        write_health_day(engine, DAYS[3], {"label_coverage": coverage("warn", 0.79)})
        clock.at_noon(DAYS[4])
        resolved = daemon.tick(still.cursor)
        assert keys(resolved) == [f"alert:{ticket_key}:resolved", f"alert:{page_key}:resolved"]
        daemon.launch(resolved)
        assert daemon.tick(resolved.cursor).run_requests == []

    summaries = sorted(m["text"].split("\n")[0] for m in receiver.accepted)
    owners = "; owners team:credit-risk, ml-steward@example.com"  # the model's
    assert summaries == [
        f"[PAGE] {MODEL}/overdue_partitions: new page episode; {OVERDUE_MESSAGE}"
        f" (observed 1, threshold 0){owners}",
        f"[RESOLVED page] {MODEL}/overdue_partitions is back to ok as of {DAYS[3]}"
        f" (open since {DAYS[1]}); overdue_partitions ok on {DAYS[3]}{owners}",
        f"[RESOLVED ticket] {MODEL}/label_coverage is back to ok as of {DAYS[3]}"
        f" (open since {DAYS[1]}); labels cover 79.0%{owners}",
        f"[TICKET] {MODEL}/label_coverage: new ticket episode; labels cover 40.0%"
        f" (observed 0.4, threshold 0.8){owners}",
    ]
    page_message = next(m for m in receiver.accepted if m["text"].startswith("[PAGE]"))
    blocks = {b["type"]: b for b in page_message["blocks"] if b["type"] != "section"}
    assert blocks["header"]["text"]["text"] == (
        f"PAGE: {MODEL} / overdue_partitions (pipeline health)"
    )
    # It leads to the model's pipeline_health partition of that day (no runbook: not an SLO).
    assert [b["url"] for b in blocks["actions"]["elements"]] == [
        f"http://127.0.0.1:3000/assets/{MODEL}/pipeline_health?view=partitions&partition={DAYS[1]}"
    ]
    sections = [b for b in page_message["blocks"] if b["type"] == "section"]
    assert [f["text"].split("\n")[0] for f in sections[1]["fields"]] == [
        "*Owners*", "*Report*", "*Dagster partition*",
    ]  # fmt: skip
    assert [f["text"] for f in sections[2]["fields"]] == [
        f"*Status on {DAYS[1]}*\nfail",
        "*Observed / threshold*\n1 / 0",
        "*Raises on fail*\npage",
        f"*Episode*\nsince {DAYS[1]}",
    ]
    assert sections[3]["text"]["text"] == f"*Days named*\n• missing: {DAYS[0]}"
    assert sections[4]["text"]["text"] == f"*Days of the episode*\n{DAYS[1]} fail"

    alerts = rows(
        engine,
        "SELECT dedupe_key, kind, source, subject, as_of, delivery_status, retraining_requested,"
        " affected_partitions, worst_cohorts, evidence FROM monitoring.alerts"
        " ORDER BY subject, as_of",
    )
    assert [(a["subject"], a["kind"], a["as_of"]) for a in alerts] == [
        ("label_coverage", "firing", DAYS[1]),
        ("label_coverage", "resolved", DAYS[3]),
        ("overdue_partitions", "firing", DAYS[1]),
        ("overdue_partitions", "resolved", DAYS[3]),
    ]
    assert {(a["source"], a["delivery_status"]) for a in alerts} == {("health_check", "delivered")}
    assert not any(a["retraining_requested"] for a in alerts)
    assert all(a["worst_cohorts"] is None for a in alerts)
    resolved_page = alerts[3]
    # The episode's days with their statuses; its failing days are the affected partitions.
    assert [(d["day"], d["status"]) for d in resolved_page["evidence"]["episode_days"]] == [
        (DAYS[1].isoformat(), "fail"),
        (DAYS[2].isoformat(), "fail"),
        (DAYS[3].isoformat(), "ok"),
    ]
    assert resolved_page["affected_partitions"] == DAYS[1:3]
    finding = alerts[2]["evidence"]["finding"]
    assert (finding["status"], finding["observed"], finding["threshold"]) == ("fail", 1.0, 0.0)
    assert finding["message"] == OVERDUE_MESSAGE
    assert finding["details"]["missing"] == [DAYS[0].isoformat()]
    retraining = dagster_instance.get_runs(
        filters=dg.RunsFilter(job_name="retraining_job", tags={WORLD_TAG: tmp_path.name})
    )
    assert retraining == []


def test_health_rows_that_stop_coming_page_once_and_resolve(
    engine, database_url, dagster_instance, tmp_path
):
    clock = Clock(datetime.now(UTC))
    with scripted_receiver([200]) as receiver:
        config = alert_config(tmp_path, [hook(receiver.url)])  # schedule lag 1, grace 1
        defs = definitions(config, database_url, clock)
        daemon = Daemon(defs, dagster_instance, database_url, tmp_path.name)
        write_health_day(engine, DAYS[0])
        write_health_day(engine, DAYS[1])

        # Day 3: the schedule's run for day 2 has not come yet (it may be late): no alert.
        clock.at_noon(DAYS[3])
        cursor = daemon.tick(None).cursor
        assert daemon.tick(cursor).run_requests == []
        # Day 4: day 2 should have health rows by now, with a day of grace: page.
        clock.now = datetime.combine(DAYS[4], time(0, 1), tzinfo=UTC)
        missing = daemon.tick(cursor)
        key = f"health_check:{MODEL}:health_checks_missing:page:{DAYS[4]}"
        assert keys(missing) == [f"alert:{key}:firing"]
        assert daemon.launch(missing) == [f"alert:{key}:firing"]
        # Later that day and the next: the episode is open, nothing new.
        clock.at_noon(DAYS[5])
        assert daemon.tick(missing.cursor).run_requests == []
        assert daemon.tick(None).run_requests == []
        # The scheduler is back and catches up: resolved.
        for day in DAYS[2:5]:
            write_health_day(engine, day)
        back = daemon.tick(missing.cursor)
        assert keys(back) == [f"alert:{key}:resolved"]
        daemon.launch(back)

    (page, resolved) = rows(
        engine,
        "SELECT kind, as_of, affected_partitions, evidence FROM monitoring.alerts ORDER BY as_of",
    )
    assert (page["kind"], page["as_of"], resolved["kind"], resolved["as_of"]) == (
        "firing",
        DAYS[4],
        "resolved",
        DAYS[5],
    )
    assert page["affected_partitions"] == [DAYS[2]]
    assert page["evidence"]["finding"]["details"]["newest_day"] == DAYS[1].isoformat()
    texts = [m["text"].split("\n")[0] for m in receiver.accepted]
    assert texts[0].startswith(
        f"[PAGE] {MODEL}/health_checks_missing: new page episode; no pipeline_health rows after"
        f" {DAYS[1]} (expected through {DAYS[2]} on {DAYS[4]}"
    )
    assert texts[0].endswith(
        "(observed 3, threshold 2); owners team:credit-risk, ml-steward@example.com"
    )
    assert texts[1].startswith(
        f"[RESOLVED page] {MODEL}/health_checks_missing is back to ok as of {DAYS[5]}"
    )


def test_missing_health_rows_are_not_judged_while_the_schedule_is_off(
    engine, database_url, dagster_instance, tmp_path
):
    config = alert_config(tmp_path, schedule={"enabled": False})
    clock = Clock(datetime.combine(DAYS[7], time(12), tzinfo=UTC))
    daemon = Daemon(definitions(config, database_url, clock), dagster_instance, database_url, "x")
    write_health_day(engine, DAYS[0])
    assert daemon.tick(None).run_requests == []
    # The same rows with the schedule on: the model pages.
    config = alert_config(tmp_path)
    daemon = Daemon(definitions(config, database_url, clock), dagster_instance, database_url, "x")
    assert keys(daemon.tick(None)) == [
        f"alert:health_check:{MODEL}:health_checks_missing:page:{DAYS[7]}:firing"
    ]
