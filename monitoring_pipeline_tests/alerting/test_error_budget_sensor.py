"""error_budget_sensor through build_sensor_context + evaluate_tick on the real database and
a Postgres-backed Dagster instance: cursor carried over, restarts with the stored cursor or
none, run keys, escalation, recovery, retraining requests."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from monitoring_pipeline.defs.alerts import (
    ALERT_JOB,
    ERROR_BUDGET_SENSOR,
    RETRAINING_JOB,
    build_error_budget_sensor,
)
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.pipeline.alerts import evaluate_error_budgets
from monitoring_pipeline_tests.alerting.helpers import (
    ACCURACY_SLO,
    GAP_SLO,
    MODEL,
    START,
    WORLD_TAG,
    Daemon,
    alert_config,
    hook,
    keys,
    rows,
    scripted_receiver,
    write_budget_day,
)

DAYS = [START + timedelta(days=i) for i in range(6)]


class RetrainingRequest(dg.Config):
    """The contract with the retraining job (built elsewhere); only its shape matters here."""

    model_name: str
    slo_name: str
    as_of: str
    alert_dedupe_key: str


def test_pages_escalate_resolve_and_survive_restarts(
    engine, database_url, dagster_instance, tmp_path
):
    with scripted_receiver([200]) as receiver:
        config = alert_config(tmp_path, [hook(receiver.url)])
        defs = build_definitions(config, database_url=database_url)
        daemon = Daemon(defs, dagster_instance, database_url, tmp_path.name)
        ticket_key = f"error_budget:{MODEL}:{GAP_SLO}:ticket:{DAYS[1]}"
        page_key = f"error_budget:{MODEL}:{GAP_SLO}:page:{DAYS[1]}"

        write_budget_day(engine, DAYS[0], {GAP_SLO: "ok", ACCURACY_SLO: "ok"})
        first = daemon.tick(None)
        assert first.run_requests == [] and first.cursor
        assert first.skip_message == (
            "no alert to send (2 SLO(s) and 0 health check(s) with new results)"
        )

        write_budget_day(engine, DAYS[1], {GAP_SLO: "ticket", ACCURACY_SLO: "ok"})
        ticket = daemon.tick(first.cursor)
        assert keys(ticket) == [f"alert:{ticket_key}:firing"]
        (request,) = ticket.run_requests
        assert request.job_name == ALERT_JOB
        assert request.tags["severity"] == "ticket"
        assert daemon.launch(ticket) == [f"alert:{ticket_key}:firing"]
        # Nothing new: a repeated tick launches nothing.
        assert daemon.tick(ticket.cursor).run_requests == []

        # Escalation to page: the page alerts again and requests retraining.
        write_budget_day(engine, DAYS[2], {GAP_SLO: "page", ACCURACY_SLO: "ok"})
        page = daemon.tick(ticket.cursor)
        assert keys(page) == [f"alert:{page_key}:firing", f"retrain:{page_key}"]
        retrain = next(r for r in page.run_requests if r.job_name == RETRAINING_JOB)
        assert retrain.run_config["ops"]["request_retraining"]["config"] == {
            "model_name": MODEL,
            "slo_name": GAP_SLO,
            "as_of": DAYS[2].isoformat(),
            "alert_dedupe_key": page_key,
        }
        # The daemon dies before launching anything. Restarted with the stored cursor, the
        # sensor asks again for the recorded alert under the same run keys: nothing is lost.
        restarted = Daemon(defs, dagster_instance, database_url, tmp_path.name)
        again = restarted.tick(first.cursor)
        assert keys(again) == keys(page)
        assert sorted(restarted.launch(again)) == keys(page)
        # ... and a second restart, now with no cursor at all, duplicates nothing.
        lost = Daemon(defs, dagster_instance, database_url, tmp_path.name).tick(None)
        assert lost.run_requests == []
        assert lost.cursor == page.cursor

        # A late-label re-run of an old day rewrites it (new produced_at): it is not current,
        # so it neither re-fires nor resolves anything.
        write_budget_day(engine, DAYS[0], {GAP_SLO: "ok", ACCURACY_SLO: "ok"}, run_id="rerun")
        rerun = daemon.tick(page.cursor)
        assert rerun.run_requests == [] and rerun.cursor > page.cursor

        # De-escalation to ticket: no new alert; recovery: one resolved notice.
        write_budget_day(engine, DAYS[3], {GAP_SLO: "ticket", ACCURACY_SLO: "ok"})
        assert daemon.tick(rerun.cursor).run_requests == []
        write_budget_day(engine, DAYS[4], {GAP_SLO: "ok", ACCURACY_SLO: "ok"})
        resolved = daemon.tick(rerun.cursor)
        assert keys(resolved) == [f"alert:{page_key}:resolved"]
        daemon.launch(resolved)

    texts = [m["text"].split(";")[0] for m in receiver.accepted]
    assert texts == [
        f"[TICKET] {MODEL}/{GAP_SLO}: new ticket episode",
        f"[PAGE] {MODEL}/{GAP_SLO}: escalated from ticket to page",
        f"[RESOLVED page] {MODEL}/{GAP_SLO} is back to ok as of {DAYS[4]} (open since {DAYS[1]})",
    ]
    alerts = rows(
        engine,
        "SELECT dedupe_key, kind, severity, as_of, delivery_status, retraining_requested "
        "FROM monitoring.alerts ORDER BY as_of",
    )
    assert [(a["dedupe_key"], a["kind"], a["as_of"]) for a in alerts] == [
        (ticket_key, "firing", DAYS[1]),
        (page_key, "firing", DAYS[2]),
        (page_key, "resolved", DAYS[4]),
    ]
    assert {a["delivery_status"] for a in alerts} == {"delivered"}
    assert [a["retraining_requested"] for a in alerts] == [False, True, False]
    retraining_runs = dagster_instance.get_runs(
        filters=dg.RunsFilter(job_name=RETRAINING_JOB, tags={WORLD_TAG: tmp_path.name})
    )
    assert len(retraining_runs) == 1


def test_a_tick_that_dies_after_recording_loses_nothing(
    engine, database_url, dagster_instance, tmp_path
):
    config = alert_config(tmp_path)
    defs = build_definitions(config, database_url=database_url)  # no retraining job
    write_budget_day(engine, DAYS[0], {GAP_SLO: "page", ACCURACY_SLO: "ticket"})
    # The sensor's work up to recording, then a crash before its run requests reach Dagster.
    crashed = evaluate_error_budgets(engine, config, None, datetime.now(UTC))
    assert len(crashed.newly_recorded) == 2
    # The next tick has nothing new to read (cursor past every row), yet requests both.
    daemon = Daemon(defs, dagster_instance, database_url, tmp_path.name)
    cursor = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    result = daemon.tick(cursor)
    assert keys(result) == [
        f"alert:error_budget:{MODEL}:{ACCURACY_SLO}:ticket:{DAYS[0]}:firing",
        f"alert:error_budget:{MODEL}:{GAP_SLO}:page:{DAYS[0]}:firing",
        f"retrain:error_budget:{MODEL}:{GAP_SLO}:page:{DAYS[0]}",
    ]
    assert len(daemon.launch(result)) == 3
    assert daemon.tick(cursor).run_requests == []
    statuses = rows(engine, "SELECT delivery_status FROM monitoring.alerts")
    assert [s["delivery_status"] for s in statuses] == ["delivered", "delivered"]


def test_sensor_definition_follows_the_config(tmp_path):
    config = alert_config(tmp_path, check_every_seconds=45)
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def(ERROR_BUDGET_SENSOR)
    assert sensor.minimum_interval_seconds == 45
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {t.job_name for t in sensor.targets} == {ALERT_JOB, RETRAINING_JOB}
    alone = build_error_budget_sensor(config, defs.resolve_job_def(ALERT_JOB), None)
    assert {t.job_name for t in alone.targets} == {ALERT_JOB}
