"""The built wheel is enough: installed outside the checkout it creates the schema and runs a day.

The wheel is built from the checkout and installed without dependencies into a fresh venv
that borrows this venv's third-party packages through a plain path entry (a ``.pth`` line
adds a directory but runs none of the ``.pth`` files in it, so this checkout's editable
install stays invisible). What is imported then is the wheel's copy of the package only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with only the wheel of monitoring_pipeline installed."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(CHECKOUT)],
        check=True,
        capture_output=True,
        cwd=root,
    )
    (wheel,) = wheels.glob("monitoring_pipeline-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(
        sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)})
    )
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args),
        cwd=cwd,
        env={"PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}:/usr/sbin", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_wheel_ships_its_migrations_and_dagster_instance(installed: Path, tmp_path: Path):
    done = run(
        installed,
        str(installed / "bin" / "python"),
        "-c",
        "import monitoring_pipeline, monitoring_pipeline.runtime as r, "
        "monitoring_pipeline.storage.migrations as m; "
        "print(monitoring_pipeline.__file__); print(len(m.discover_migrations())); "
        "print((r.DAGSTER_HOME / 'dagster.yaml').is_file(), (r.DAGSTER_HOME / 'workspace.yaml').is_file())",
        cwd=tmp_path,
        env={},
    )
    assert done.returncode == 0, done.stderr
    location, migrations, instance_files = done.stdout.splitlines()
    assert location.startswith(str(installed)), location  # the wheel's copy, not the checkout
    assert int(migrations) == len(list((CHECKOUT / "sql").glob("*.sql")))
    assert instance_files == "True True"


def test_the_installed_command_creates_the_schema_and_runs_a_day(
    installed: Path, tmp_path: Path, database_url: str, engine
):
    day = date(2026, 10, 1)
    traffic = {
        m: generate_traffic(m, day, day, now=datetime(2026, 10, 3, tzinfo=UTC), daily_volume=60)
        for m in ("loan_approval", "job_screening")
    }
    with engine.begin() as conn:  # an empty database: the installed package must build it all
        conn.execute(sa.text("DROP SCHEMA monitoring CASCADE"))
    publish_demo_sources(engine, traffic, tmp_path / "data")
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump(demo_config(day, tmp_path / "data")))
    done = run(
        installed,
        "monitoring-pipeline",
        "materialize",
        "--start",
        day.isoformat(),
        "--end",
        day.isoformat(),
        cwd=tmp_path,
        env={
            "MONITORING_CONFIG": str(config),
            "MONITORING_HOME": str(tmp_path / "home"),
            "MONITORING_DATABASE_URL": database_url,
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"[ 1/1] {day}  ok" in done.stdout
    with engine.connect() as conn:
        applied = conn.execute(
            sa.text("SELECT count(*) FROM monitoring.schema_migrations")
        ).scalar()
        written = dict(
            conn.execute(
                sa.text("SELECT model_name, rows_written FROM monitoring.ingestion_stats")
            ).all()
        )
    assert applied == len(list((CHECKOUT / "sql").glob("*.sql")))
    assert written == {m: len(t.predictions) for m, t in traffic.items()}
