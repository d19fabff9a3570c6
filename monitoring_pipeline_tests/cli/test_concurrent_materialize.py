"""Two `monitoring-pipeline materialize` processes of the same day at once (a backfill, the
late-label sensor and a manual run can overlap): they take turns at each partition write,
and the day holds one copy of each row (issue 14: it used to hold two)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.pipeline.labeled_predictions import PARTITION_TABLES
from monitoring_pipeline.storage.locks import lock_partitions

DAY = date(2026, 10, 1)
NOW = datetime(2026, 10, 3, tzinfo=UTC)
MODEL = "loan_approval"


def _waiting_advisory_locks(conn: sa.Connection) -> int:
    return conn.execute(
        sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    ).scalar_one()


def _materialize(home: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", "materialize", "--start", str(DAY),
         "--end", str(DAY)],
        env={"PATH": os.environ["PATH"], "MONITORING_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


@pytest.mark.e2e
def test_two_materializations_of_one_day_at_once_store_each_row_once(
    tmp_path: Path, engine, database_url, dagster_storage_url, dagster_instance
):
    traffic = {  # the demo publishes both models; only MODEL is configured
        m: generate_traffic(m, DAY, DAY, now=NOW, daily_volume=150)
        for m in (MODEL, "job_screening")
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")
    raw = demo_config(DAY, tmp_path / "data")
    raw["models"] = {MODEL: raw["models"][MODEL]}  # one model: half the work, same race
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {
        "MONITORING_CONFIG": str(config),
        "MONITORING_DATABASE_URL": database_url,
        # Dagster's tables exist already (the dagster_instance fixture made them), so the two
        # processes do not race to create them.
        "MONITORING_DAGSTER_DATABASE_URL": dagster_storage_url,
    }
    # Runs before this test's, by id: Dagster stamps runs with the database clock, which a
    # run under libfaketime (the year-ahead check) does not shift.
    partition_runs = dg.RunsFilter(tags={"dagster/partition": str(DAY)})
    runs_before = {r.run_id for r in dagster_instance.get_runs(filters=partition_runs)}
    # This test holds the day's first write (labeled_predictions), as a third run would,
    # until both processes queue behind it: their writes of that partition then surely
    # overlap, whatever the machine's speed.
    with engine.connect() as holder:
        with holder.begin():
            lock_partitions(
                holder,
                tables=[f"monitoring.{t}" for t in PARTITION_TABLES],
                model_name=MODEL,
                partition_date=DAY,
            )
            runs = [_materialize(tmp_path / f"home{i}", env) for i in (1, 2)]
            deadline = time.monotonic() + 240
            with engine.connect() as watcher:
                while _waiting_advisory_locks(watcher) < 2:
                    finished = [r for r in runs if r.poll() is not None]
                    assert not finished, finished[0].communicate()
                    assert time.monotonic() < deadline, "the two runs never reached the write"
                    time.sleep(0.2)
        outputs = [run.communicate(timeout=240) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr
        assert f"[ 1/1] {DAY}  ok" in stdout
        # Said on the terminal as it happened, once per lock waited for.
        waits = [line for line in stderr.splitlines() if "waiting for another run" in line]
        assert waits and all(
            line.startswith(f"monitoring-pipeline: waiting for another run writing {MODEL} {DAY} ")
            for line in waits
        ), stderr

    with engine.connect() as conn:
        (model, day, rows, distinct_ids, runs_of_rows, written, predictions) = conn.execute(
            sa.text(
                "SELECT r.model_name, r.partition_date, count(*), "
                "count(DISTINCT r.prediction_id), count(DISTINCT r.run_id), "
                "min(s.rows_written), min(l.predictions) "
                "FROM monitoring.labeled_prediction_rows r "
                "JOIN monitoring.ingestion_stats s USING (model_name, partition_date) "
                "JOIN monitoring.label_status l USING (model_name, partition_date) "
                "GROUP BY r.model_name, r.partition_date"
            )
        ).one()
    assert (model, day, runs_of_rows) == (MODEL, DAY, 1)
    assert rows == distinct_ids == written == predictions
    assert written > 0.9 * len(traffic[MODEL].predictions)  # the day was really written

    # Both runs said in their event log (the UI's run page) why their step paused.
    run_ids = [
        run.run_id
        for run in dagster_instance.get_runs(filters=partition_runs)
        if run.run_id not in runs_before
    ]
    assert len(run_ids) == 2
    waiting = f"waiting for another run writing {MODEL} {DAY} monitoring."
    for run_id in run_ids:
        messages = [entry.user_message for entry in dagster_instance.all_logs(run_id)]
        assert any(waiting in message for message in messages), run_id
