"""The command line: clear one-line errors, and `materialize` on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.demo.publish import demo_config


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "monitoring_pipeline.cli", *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_config_prints_the_file_and_key(tmp_path: Path):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    raw["models"]["loan_approval"]["threshold"] = "high"
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = cli(
        "materialize",
        "--end",
        "2026-10-02",
        env={"MONITORING_CONFIG": str(path), "MONITORING_HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"monitoring-pipeline: {path}: invalid monitored-models config")
    assert "models.loan_approval.threshold: Input should be a valid number" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_database_is_one_line_naming_the_url(tmp_path: Path):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    url = f"postgresql://monitor:hunter2@/monitoring?host={tmp_path}/nowhere"
    done = cli(
        "materialize",
        "--end",
        "2026-10-02",
        env={
            "MONITORING_CONFIG": str(path),
            "MONITORING_HOME": str(tmp_path),
            "MONITORING_DATABASE_URL": url,
        },
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "monitoring-pipeline: cannot use PostgreSQL at postgresql+psycopg2://monitor:***@/monitoring"
    )
    assert "hunter2" not in done.stderr
    assert not (tmp_path / "pgdata").exists()


def test_missing_config_says_how_to_get_one(tmp_path: Path):
    done = cli("materialize", env={"MONITORING_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "Run `monitoring-pipeline demo`" in done.stderr


@pytest.mark.e2e
def test_materialize_a_day_on_a_real_database(tmp_path: Path, database_url: str, engine):
    from datetime import UTC, datetime

    from monitoring_pipeline.demo.generator import generate_traffic
    from monitoring_pipeline.demo.publish import publish_demo_sources

    day = date(2026, 10, 1)
    now = datetime(2026, 10, 3, tzinfo=UTC)
    traffic = {
        m: generate_traffic(m, day, day, now=now, daily_volume=80)
        for m in ("loan_approval", "job_screening")
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(demo_config(day, tmp_path / "data")))
    done = cli(
        "materialize",
        "--start",
        "2026-10-01",
        "--end",
        "2026-10-01",
        env={
            "MONITORING_CONFIG": str(path),
            "MONITORING_HOME": str(tmp_path / "home"),
            "MONITORING_DATABASE_URL": database_url,
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ 1/1] 2026-10-01  ok" in done.stdout
    with engine.connect() as conn:
        import sqlalchemy as sa

        counts = dict(
            conn.execute(
                sa.text("SELECT model_name, rows_written FROM monitoring.ingestion_stats")
            ).all()
        )
    assert counts == {m: len(t.predictions) for m, t in traffic.items()}
    assert_no_password_stored_by_dagster(database_url, done.stdout + done.stderr)


def assert_no_password_stored_by_dagster(database_url: str, output: str) -> None:
    """Neither the command's output nor what Dagster recorded of its runs (run config, tags,
    job and execution plan snapshots, which the UI shows, and every event) holds the
    password of the URL the runs used."""
    import dagster as dg
    from sqlalchemy.engine import make_url

    password = make_url(database_url).password
    assert password and len(password) >= 16
    assert password not in output
    with dg.instance_for_test(overrides=instance_storage_config(database_url)) as instance:
        runs = instance.get_runs()
        assert runs
        for run in runs:
            stored = [
                dg.serialize_value(run),
                dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
                dg.serialize_value(
                    instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
                ),
                *(dg.serialize_value(event) for event in instance.all_logs(run.run_id)),
            ]
            assert "monitoring_db" in stored[1]
            for text in stored:
                assert password not in text
