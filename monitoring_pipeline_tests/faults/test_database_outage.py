"""The embedded PostgreSQL stopped (`monitoring-pipeline db stop`, from another process)
while `materialize` writes a day, then started again: the run ends at once with one line,
its Dagster run ends FAILURE, and a re-run equals a clean run. An unparsable URL: one line."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.run_workers import WORKER_TAG
from monitoring_pipeline.settings import load_settings
from monitoring_pipeline.storage.database import (
    create_engine,
    redact,
    resolve_server,
    stop_embedded_server,
)
from monitoring_pipeline_tests.faults.world import (
    DAY,
    Fingerprints,
    cli,
    fingerprints,
    materialize_args,
    publish_day,
    wait_for,
)

pytestmark = pytest.mark.e2e

EXIT_WITHIN_SECONDS = 30  # Dagster's storage alone would retry each event for ~6 s


@dataclass(frozen=True)
class Outage:
    returncode: int
    stdout: str
    stderr: str
    seconds_to_exit: float
    pid: int
    monitoring_url: str
    statuses_before_rerun: dict[int, dg.DagsterRunStatus]
    rerun_pid: int
    rerun_output: str
    statuses: dict[int, dg.DagsterRunStatus]
    after_rerun: Fingerprints


def _statuses(dagster_url: str) -> dict[int, dg.DagsterRunStatus]:
    """The status of each run of the day, by the pid of the process that executed it."""
    with dg.instance_for_test(overrides=instance_storage_config(dagster_url)) as i:
        return {
            int(run.tags[WORKER_TAG].split("/")[1]): run.status
            for run in i.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": str(DAY)}))
        }


@pytest.fixture(scope="module")
def outage(module_dir) -> Iterator[Outage]:
    # Not under pytest's temporary folder: every pytest session starting on the machine makes
    # /tmp/pytest-of-<user> private again, and the server's own user could no longer reach
    # its data folder to start again.
    home = Path(tempfile.mkdtemp(prefix="monitoring-outage-"))
    env = {
        "MONITORING_HOME": str(home),
        "MONITORING_CONFIG": str(module_dir / "monitored_models.yaml"),
    }
    started = cli(["db", "start"], env)
    assert started.wait(timeout=120) == 0, started.communicate()
    try:
        urls = resolve_server(load_settings(env))
        config = publish_day(urls.monitoring, module_dir)
        assert str(config) == env["MONITORING_CONFIG"]

        run = cli(materialize_args(), env)
        watcher = create_engine(urls.monitoring).execution_options(isolation_level="AUTOCOMMIT")
        with watcher.connect() as conn:
            wait_for(
                lambda: (
                    conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND query LIKE 'COPY monitoring_partitions.labeled_prediction_rows_%'"
                        )
                    ).scalar_one()
                    > 0
                ),
                run,
                "the day's rows being copied",
            )
        watcher.engine.dispose()
        stop = cli(["db", "stop"], env)
        assert stop.wait(timeout=60) == 0, stop.communicate()
        stopped_at = time.monotonic()
        stdout, stderr = run.communicate(timeout=120)
        seconds_to_exit = time.monotonic() - stopped_at

        again = cli(["db", "start"], env)
        assert again.wait(timeout=120) == 0, again.communicate()
        statuses_before_rerun = _statuses(urls.dagster)
        rerun = cli(materialize_args(), env)
        rerun_out, rerun_err = rerun.communicate(timeout=240)
        assert rerun.returncode == 0, rerun_out + rerun_err
        yield Outage(
            run.returncode,
            stdout,
            stderr,
            seconds_to_exit,
            run.pid,
            redact(urls.monitoring),
            statuses_before_rerun,
            rerun.pid,
            rerun_out + rerun_err,
            _statuses(urls.dagster),
            fingerprints(urls.monitoring),
        )
    finally:
        stop_embedded_server(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)


def test_a_run_losing_its_database_ends_at_once_in_one_line(outage):
    assert outage.returncode == 2
    assert outage.stdout == ""
    lines = outage.stderr.splitlines()
    assert len(lines) == 1, outage.stderr  # the whole stderr when it says more
    (line,) = lines
    assert line.startswith(
        f"monitoring-pipeline: cannot use PostgreSQL at {outage.monitoring_url}: "
    )
    assert line.endswith(
        f"(lost while materializing {DAY}: its writes rolled back; run it again once the "
        "server is back)"
    )
    assert outage.seconds_to_exit < EXIT_WITHIN_SECONDS


def test_its_dagster_run_ends_failed_and_a_rerun_equals_a_clean_run(outage, clean_day):
    # Its storage was that server: the run is marked failed by the next command.
    assert outage.statuses_before_rerun == {outage.pid: dg.DagsterRunStatus.STARTED}
    assert outage.statuses == {
        outage.pid: dg.DagsterRunStatus.FAILURE,
        outage.rerun_pid: dg.DagsterRunStatus.SUCCESS,
    }
    assert outage.after_rerun == clean_day
    assert "Traceback" not in outage.rerun_output


@pytest.mark.parametrize(
    "url", ["postgresql://monitor:s3cret@db:port/monitoring", "s3cret at db", "://s3cret"]
)
def test_an_unparsable_database_url_is_one_line_without_it(url, tmp_path):
    env = {"MONITORING_HOME": str(tmp_path), "MONITORING_DATABASE_URL": url}
    (tmp_path / "monitored_models.yaml").write_text("{}")  # never read: the URL fails first
    process = cli(["db", "status"], env)
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout) == (2, "")
    assert stderr.splitlines() == [
        "monitoring-pipeline: MONITORING_DATABASE_URL is not a database URL; expected "
        "postgresql://user:password@host:port/database"
    ]
