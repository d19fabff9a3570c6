"""SIGINT and SIGTERM stop `materialize`, `ui` and `webhook-receiver` as a whole: the day in
flight is finished, nothing the command started is left running, exit 128 + the signal."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from datetime import timedelta

import psutil
import pytest
import sqlalchemy as sa

from monitoring_pipeline.pipeline.labeled_predictions import PARTITION_TABLES
from monitoring_pipeline.storage.database import create_engine
from monitoring_pipeline.storage.locks import lock_partitions
from monitoring_pipeline_tests.faults.world import (
    DAY,
    MODEL,
    cli,
    fingerprints,
    publish_day,
    wait_for,
)

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> set[psutil.Process]:
    try:
        return set(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return set()


@pytest.fixture(scope="module")
def world(faults_database, module_dir, dagster_storage_url):
    """The fault tests' day in a database of its own, and the environment pointing at it."""
    url = faults_database()
    config = publish_day(url, module_dir)
    env = {
        "MONITORING_HOME": str(module_dir / "home"),
        "MONITORING_CONFIG": str(config),
        "MONITORING_DATABASE_URL": url,
        "MONITORING_DAGSTER_DATABASE_URL": dagster_storage_url,
    }
    return url, env


def test_sigint_lets_materialize_finish_the_day_in_flight_and_start_no_other(world, clean_day):
    url, env = world
    engine = create_engine(url)
    next_day = DAY + timedelta(days=1)
    # The test holds the day's first write, so the signal surely comes while the day is in
    # flight; the run finishes it once let go.
    with engine.connect() as holder:
        with holder.begin():
            lock_partitions(
                holder,
                tables=[f"monitoring.{t}" for t in PARTITION_TABLES],
                model_name=MODEL,
                partition_date=DAY,
            )
            process = cli(["materialize", "--start", str(DAY), "--end", str(next_day)], env)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
                wait_for(
                    lambda: (
                        watcher.execute(
                            sa.text(
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND NOT granted"
                            )
                        ).scalar_one()
                        > 0
                    ),
                    process,
                    "the run waiting to write the day",
                )
            children = descendants(process.pid)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=240)
    engine.dispose()
    assert process.returncode == 130, stdout + stderr
    lines = stdout.splitlines()
    assert lines[0].startswith(f"  [ 1/2] {DAY}  ")
    assert lines[-1] == (
        f"monitoring-pipeline materialize: stopped by SIGINT after {DAY}: 1 of 2 days "
        "materialized, each whole; no further day started"
    )
    assert "Traceback" not in stderr
    assert fingerprints(url) == clean_day  # the day in flight whole, the next one not begun
    assert [p for p in children if alive(p)] == []


def test_sigterm_stops_the_ui_and_every_process_it_started(world):
    _, env = world
    port = free_port()
    process = cli(["ui", "--port", str(port)], env)
    seen: set[psutil.Process] = set()
    try:

        def listening() -> bool:
            seen.update(descendants(process.pid))
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, process, "the UI listening", timeout=180)
        time.sleep(1)
        seen.update(descendants(process.pid))
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=90)
    finally:
        for leftover in [process, *seen]:
            if isinstance(leftover, psutil.Process) and alive(leftover):
                leftover.kill()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stdout
    assert stdout.splitlines()[-1] == "monitoring-pipeline ui: stopped by SIGTERM"
    # The webserver, the daemon and the code servers were all seen, and none is left.
    assert len(seen) >= 3, seen
    assert [p for p in seen if alive(p)] == []


def test_sigterm_stops_the_webhook_receiver_after_what_it_received(tmp_path):
    port = free_port()
    out = tmp_path / "alerts.jsonl"
    process = cli(["webhook-receiver", "--port", str(port), "--out", str(out)], {})
    assert process.stdout.readline().startswith(f"Webhook receiver on http://127.0.0.1:{port}/")
    message = {"text": "[PAGE] loan_approval/tpr_gap_region: new page episode"}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hook",
        data=json.dumps(message).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stdout + stderr
    assert stderr == ""
    assert [json.loads(line)["message"] for line in out.read_text().splitlines()] == [message]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # no longer listening
