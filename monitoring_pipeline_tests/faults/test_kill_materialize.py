"""kill -9 of `monitoring-pipeline materialize` at three points of a day's write, then a
re-run: after each kill every table holds either its previous contents or a whole finished
write, the re-run equals a clean run, and no killed run stays STARTED in Dagster."""

from __future__ import annotations

import signal
import socket
import time
from dataclasses import dataclass

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.pipeline.labeled_predictions import DOWNSTREAM_TABLES, PARTITION_TABLES
from monitoring_pipeline.run_workers import WORKER_TAG
from monitoring_pipeline.storage.database import create_engine
from monitoring_pipeline.storage.locks import lock_model_table, lock_partitions
from monitoring_pipeline_tests.faults.world import (
    DAY,
    MODEL,
    Fingerprints,
    cli,
    fingerprints,
    materialize_args,
    publish_day,
    wait_for,
)

pytestmark = pytest.mark.e2e

# The day's rows go into its partition of labeled_prediction_rows (storage.day_partitions).
ROWS_COPY = "COPY monitoring_partitions.labeled_prediction_rows_"


@dataclass(frozen=True)
class Kill:
    point: str
    pid: int
    tables_after: Fingerprints


@dataclass(frozen=True)
class World:
    clean: Fingerprints  # a clean run of the day
    before: Fingerprints  # the other database before the killed runs
    kills: list[Kill]
    after_rerun: Fingerprints
    rerun_pid: int
    rerun_stderr: str
    runs_before: frozenset[str]  # run ids of DAY before the kills (no clock: see below)


def _backends(conn: sa.Connection) -> list[sa.Row]:
    return conn.execute(
        sa.text(
            "SELECT state, query, query_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ).all()


def _deleted_but_nothing_copied(conn: sa.Connection) -> bool:
    """A writer's transaction has deleted the day's rows and computes its first chunk."""
    return any(
        state == "idle in transaction" and query.startswith("DELETE FROM monitoring.")
        for state, query, _ in _backends(conn)
    )


def _copying_its_second_chunk(seen: set) -> callable:
    def condition(conn: sa.Connection) -> bool:
        seen.update(start for _, query, start in _backends(conn) if query.startswith(ROWS_COPY))
        return len(seen) >= 2  # one chunk COPYed (uncommitted), the next one on its way

    return condition


def _waiting_for_a_lock(conn: sa.Connection) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar_one()
    )


@pytest.fixture(scope="module")
def world(faults_database, module_dir, clean_day, dagster_storage_url, faults_dagster_instance):
    """Three killed runs and a re-run of the clean run's day, on a database of its own."""
    faulty_url = faults_database()
    config_path = publish_day(faulty_url, module_dir / "faulty")
    before = fingerprints(faulty_url)
    env = {
        "MONITORING_HOME": str(module_dir / "home"),
        "MONITORING_CONFIG": str(config_path),
        "MONITORING_DATABASE_URL": faulty_url,
        "MONITORING_DAGSTER_DATABASE_URL": dagster_storage_url,
    }
    # The runs before the kills by id, not by time: Dagster stamps runs with the database
    # clock, which a test run under libfaketime (the year-ahead check) does not shift.
    runs_before = frozenset(
        r.run_id
        for r in faults_dagster_instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": str(DAY)})
        )
    )
    # Autocommit: pg_stat_activity is read once per transaction, each poll needs a new one.
    engine = create_engine(faulty_url)
    watcher = engine.execution_options(isolation_level="AUTOCOMMIT")
    kills = []

    def kill_when(point: str, condition) -> None:
        process = cli(materialize_args(), env)
        with watcher.connect() as conn:
            wait_for(lambda: condition(conn), process, point)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        time.sleep(0.5)  # the server notices the closed connection and rolls back
        kills.append(Kill(point, process.pid, fingerprints(faulty_url)))

    kill_when("after the DELETE, before any COPY", _deleted_but_nothing_copied)
    kill_when("mid-COPY (one chunk copied, uncommitted)", _copying_its_second_chunk(set()))
    # This test holds every table downstream of labeled_predictions (as another run would):
    # the killed run has committed its rows and waits to write the next asset's.
    with engine.connect() as holder, holder.begin():
        lock_partitions(
            holder,
            tables=[f"monitoring.{t}" for t in [*DOWNSTREAM_TABLES, "health_checks"]],
            model_name=MODEL,
            partition_date=DAY,
        )
        lock_model_table(holder, table="monitoring.feature_bins", model_name=MODEL)
        kill_when("after labeled_predictions committed, before the next asset", _waiting_for_a_lock)
    engine.dispose()

    rerun = cli(materialize_args(), env)
    out, err = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, out + err
    return World(clean_day, before, kills, fingerprints(faulty_url), rerun.pid, err, runs_before)


def test_each_kill_leaves_every_table_as_it_was_or_whole(world):
    first_asset = set(PARTITION_TABLES)
    for kill in world.kills[:2]:  # nothing committed: every table as before the run
        assert kill.tables_after == world.before, kill.point
    last = world.kills[2]  # labeled_predictions' tables whole, every other one untouched
    assert {t: last.tables_after[t] for t in first_asset} == {
        t: world.clean[t] for t in first_asset
    }
    others = set(world.clean) - first_asset
    assert {t: last.tables_after[t] for t in others} == {t: world.before[t] for t in others}
    assert world.clean["labeled_prediction_rows"] != world.before["labeled_prediction_rows"]


def test_a_rerun_after_the_kills_equals_a_clean_run(world):
    assert world.after_rerun == world.clean
    assert "Traceback" not in world.rerun_stderr


def test_killed_runs_are_marked_failed_by_the_next_command(world, faults_dagster_instance):
    host = socket.gethostname()
    runs = [
        run
        for run in faults_dagster_instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": str(DAY)})
        )
        if run.run_id not in world.runs_before
    ]
    by_pid = {}
    for run in runs:
        host_of_run, pid, _ = run.tags[WORKER_TAG].split("/")
        assert host_of_run == host
        by_pid.setdefault(int(pid), []).append(run)
    kills = world.kills
    assert sorted(by_pid) == sorted([k.pid for k in kills] + [world.rerun_pid])
    for kill in kills:
        (run,) = by_pid[kill.pid]
        assert run.status == dg.DagsterRunStatus.FAILURE, kill.point
        (failure,) = [
            e
            for e in faults_dagster_instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
        ]
        assert failure.dagster_event.message.startswith(
            f"The process that executed this run (pid {kill.pid} on {host}) ended without "
            "finishing it"
        )
    (rerun,) = by_pid[world.rerun_pid]
    assert rerun.status == dg.DagsterRunStatus.SUCCESS
