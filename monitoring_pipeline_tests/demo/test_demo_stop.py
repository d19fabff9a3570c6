"""SIGTERM stops `monitoring-pipeline demo` as a whole: a real process on its own
MONITORING_HOME (so its own embedded PostgreSQL), stopped once it has logged its first day."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from monitoring_pipeline.demo.scenario import SCENARIO_END, DemoCalendar
from monitoring_pipeline.storage.database import (
    create_engine,
    ensure_embedded_server,
    stop_embedded_server,
    with_database,
)

pytestmark = pytest.mark.e2e

DAYS = 3
DAY_LINE = re.compile(r"^\s+\[\s*(\d+)/(\d+)\] (\d{4}-\d\d-\d\d) ")
# Every table a day's run writes, keyed by (model, day); each is replaced in one transaction.
DAILY_TABLES = (
    "ingestion_stats",
    "labeled_prediction_rows",
    "quality_results",
    "label_status",
    "cohort_stats",
    "cohort_metrics",
    "fairness_disparities",
    "drift",
    "slo_evaluations",
    "error_budgets",
    "health_checks",
)
STOP_WITHIN_SECONDS = 120  # the day in flight finishes first; a busy shared machine is slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def in_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group and alive(pid)
    except ProcessLookupError:
        return False


@pytest.fixture
def stopped_demo(tmp_path: Path):
    """A demo of 3 days sent SIGTERM after its first day: (output, exit code, its process
    group, the pids seen while it ran: its descendants and the embedded server it started,
    its home, seconds from the signal to its exit)."""
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"] + ":/usr/sbin", "MONITORING_HOME": str(home)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", "demo", "--days", str(DAYS)]
        + ["--after-retrain-days", "0", "--webhook-port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: what is left of it can be found
    )
    lines: list[str] = []
    seen: set[int] = set()
    try:
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            seen.update(child.pid for child in psutil.Process(demo.pid).children(recursive=True))
            if (pid := postmaster_pid(home / "pgdata")) is not None:
                seen.add(pid)
            if DAY_LINE.match(line):
                demo.send_signal(signal.SIGTERM)
                break
        else:
            pytest.fail("the demo ended before materializing a day:\n" + "\n".join(lines))
        sent = time.monotonic()
        rest, _ = demo.communicate(timeout=STOP_WITHIN_SECONDS)
        took = time.monotonic() - sent
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    return lines + rest.splitlines(), demo.returncode, demo.pid, seen, home, took


def test_sigterm_stops_the_demo_after_whole_days_and_leaves_no_process(stopped_demo):
    output, code, group, seen, home, took = stopped_demo
    assert code == 143, "\n".join(output)
    assert took < STOP_WITHIN_SECONDS
    days = [DAY_LINE.match(line).group(3) for line in output if DAY_LINE.match(line)]
    # The day in flight when the signal came may finish; no further day starts.
    assert 1 <= len(days) < DAYS, output
    calendar = DemoCalendar.of(days=DAYS, after_retrain_days=0, end=SCENARIO_END)
    assert days == [d.isoformat() for d in calendar.first_phase_days()[: len(days)]]
    stopped = [line for line in output if line.startswith("monitoring-pipeline demo: stopped")]
    assert stopped == [
        f"monitoring-pipeline demo: stopped by SIGTERM after {days[-1]}: {len(days)} of {DAYS} "
        f"days materialized ({days[0]}..{days[-1]}), each whole; no further day started"
    ]
    assert output[-1] == stopped[0]  # no summary after it
    assert not any("Traceback" in line for line in output)

    # Nothing left behind: no descendant, not the embedded server the demo started, nothing
    # in the demo's process group.
    pgdata = home / "pgdata"
    assert seen, "no child process was observed"
    assert [pid for pid in seen if alive(pid)] == []
    assert postmaster_pid(pgdata) is None  # removed by a clean server shutdown
    assert [pid for pid in psutil.pids() if in_group(pid, group)] == []

    # Only whole days: each daily table holds exactly the days said, and each day's rows
    # are all of that day's predictions.
    admin = ensure_embedded_server(pgdata)
    engine = create_engine(with_database(admin, "monitoring"))
    try:
        with engine.connect() as conn:
            for table in DAILY_TABLES:
                found = conn.execute(
                    sa.text(
                        f"SELECT DISTINCT model_name, partition_date::text FROM monitoring.{table}"
                    )
                ).all()
                assert {day for _, day in found} == set(days), table
                assert {model for model, _ in found} == {"loan_approval", "job_screening"}, table
            mismatched = conn.execute(
                sa.text(
                    "SELECT s.model_name, s.partition_date FROM monitoring.ingestion_stats s "
                    "LEFT JOIN (SELECT model_name, partition_date, count(*) AS n "
                    "  FROM monitoring.labeled_prediction_rows GROUP BY 1, 2) r "
                    "USING (model_name, partition_date) WHERE r.n IS DISTINCT FROM s.rows_written"
                )
            ).all()
            assert mismatched == []
    finally:
        engine.dispose()
        stop_embedded_server(pgdata)
