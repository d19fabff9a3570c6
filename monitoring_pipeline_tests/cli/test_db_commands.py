"""`monitoring-pipeline db ...` on an embedded server of its own, as analysts use it.

One server for the module (`db start` in a fresh MONITORING_HOME, `db stop` at the end);
every command runs as a real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring_pipeline.cli import psql_executable
from monitoring_pipeline.storage.credentials import Credentials, load_credentials

pytestmark = pytest.mark.e2e


def cli(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "monitoring_pipeline.cli", *args],
        env={"PATH": os.environ["PATH"], "MONITORING_HOME": str(home)},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    started = cli("db", "start", home=home)
    assert started.returncode == 0, started.stdout + started.stderr
    yield home
    stopped = cli("db", "stop", home=home)
    assert stopped.stdout.strip() == "stopped"


@pytest.fixture(scope="module")
def credentials(home: Path) -> Credentials:
    stored = load_credentials(home / "credentials.json")
    assert stored is not None
    return stored


def assert_no_password(text: str, credentials: Credentials) -> None:
    assert credentials.superuser_password not in text
    assert credentials.reader_password not in text


@pytest.mark.parametrize(
    "args", [("url",), ("status",), ("url", "--sqlalchemy"), ("url", "--reader"), ("start",)]
)
def test_db_commands_mask_every_password(home, credentials, args):
    done = cli("db", *args, home=home)
    assert done.returncode == 0, done.stderr
    assert_no_password(done.stdout + done.stderr, credentials)
    assert "***@" in done.stdout
    scheme = "postgresql+psycopg2://" if "--sqlalchemy" in args else "postgresql://"
    urls = [line.split()[-1] for line in done.stdout.splitlines() if "://" in line]
    assert urls and all(url.startswith(scheme) for url in urls)


def test_db_url_lists_monitoring_dagster_reader_and_where_passwords_are(home):
    lines = cli("db", "url", home=home).stdout.splitlines()
    roles = {line.split(":")[0]: line.split()[1] for line in lines}
    assert roles["monitoring"].startswith("postgresql://postgres:***@/monitoring?host=")
    assert roles["dagster"].startswith("postgresql://postgres:***@/dagster?host=")
    assert roles["reader"].startswith("postgresql://monitoring_reader:***@/monitoring?host=")
    assert roles["passwords"] == str(home / "credentials.json")


@pytest.mark.parametrize("reader", [True, False])
def test_the_revealed_url_is_one_psql_accepts(home, credentials, reader, tmp_path):
    args = ("db", "url", "--show-password") + (("--reader",) if reader else ())
    done = cli(*args, home=home)
    assert done.returncode == 0, done.stderr
    if reader:
        url = done.stdout.strip()
    else:
        url = next(
            line.split()[-1] for line in done.stdout.splitlines() if line.startswith("monitoring:")
        )
    role = "monitoring_reader" if reader else "postgres"
    assert url.startswith(f"postgresql://{role}:")
    assert credentials.password_of(role) in url
    queried = subprocess.run(
        [psql_executable(embedded=True), url, "-At", "-c", "SELECT current_user, 1"],
        env={"PATH": os.environ["PATH"], "PGPASSFILE": str(tmp_path / "none")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert queried.returncode == 0, queried.stderr
    assert queried.stdout.strip() == f"{role}|1"


def test_db_url_for_sqlalchemy_connects_with_the_revealed_password(home, credentials):
    import sqlalchemy as sa

    url = cli("db", "url", "--reader", "--sqlalchemy", "--show-password", home=home).stdout
    engine = sa.create_engine(url.strip(), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "monitoring_reader"
    engine.dispose()


def test_psql_reader_runs_a_select_on_a_monitoring_table(home, credentials):
    done = cli(
        "db",
        "psql",
        "--reader",
        "-At",
        "-c",
        "SELECT current_user, count(*) > 0 FROM monitoring.schema_migrations",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "monitoring_reader|t"
    assert_no_password(done.stdout + done.stderr, credentials)


def test_psql_reader_reads_commands_from_stdin_and_cannot_write(home):
    done = cli(
        "db",
        "psql",
        "--reader",
        "-At",
        home=home,
        stdin="SELECT version FROM monitoring.schema_migrations ORDER BY version LIMIT 1;\n"
        "SET default_transaction_read_only = off;\n"
        "CREATE TEMP TABLE mine (x int);\n",
    )
    assert done.stdout.splitlines()[0] == "001"
    assert "permission denied to create temporary tables" in done.stderr


def test_psql_as_admin_and_unknown_arguments(home):
    admin = cli("db", "psql", "--", "-At", "-c", "SELECT current_user", home=home)
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.strip() == "postgres"
    wrong = cli("db", "url", "-c", "SELECT 1", home=home)
    assert wrong.returncode == 2
    assert "unrecognized arguments: -c SELECT 1" in wrong.stderr


def test_dagster_instance_configuration_shows_no_password(home, credentials):
    """The instance `ui` and `materialize` open reads Dagster's URL from the environment
    (dagster.yaml: `postgres_url: {env: ...}`); what the UI shows of it has no password."""
    from monitoring_pipeline.orchestrate import dagster_instance
    from monitoring_pipeline.settings import load_settings
    from monitoring_pipeline.storage.database import resolve_server

    settings = load_settings({"MONITORING_HOME": str(home)})
    urls = resolve_server(settings)
    assert credentials.superuser_password in urls.dagster  # the runs do get it
    with dagster_instance(settings, urls) as instance:
        info = instance.info_str()
        assert instance.get_runs() == []  # its Postgres storage answers
    assert "PostgresRunStorage" in info
    assert_no_password(info, credentials)
