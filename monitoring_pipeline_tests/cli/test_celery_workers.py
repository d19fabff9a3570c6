"""`execution.celery`: the steps of `monitoring-pipeline materialize` run on Celery workers
(two `monitoring-pipeline worker` processes on a local Redis broker) and leave the same
tables as a single-process run of the same days; the setting's errors are one line each."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import ConfigError, load_config
from monitoring_pipeline.config.models import CeleryExecution
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.executors import STEP_POLL_SECONDS
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.distributed import WorkersUnavailableError, answering_workers
from monitoring_pipeline.orchestrate import run_days
from monitoring_pipeline.storage.database import create_engine
from monitoring_pipeline_tests.faults.world import assert_same_tables, fingerprints

DAYS = [date(2026, 10, 1), date(2026, 10, 2)]
NOW = datetime(2026, 10, 4, tzinfo=UTC)
VOLUME = 400
KILL_VOLUME = 20_000
MODEL = "loan_approval"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of this module's own (Debian's redis-server; README's test command
    installs it), nothing persisted."""
    if not Path(REDIS).exists():
        pytest.fail("redis-server is not installed: apt-get install redis-server (README)")
    port = _free_port()
    directory = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


def _publish(
    database_url: str, directory: Path, *, volume: int = VOLUME, days: list[date] = DAYS
) -> dict:
    """Both demo models' ``days`` into their sources; the demo config monitoring ``MODEL``
    only, the model read from a PostgreSQL table (the workers' steps share the database; a
    second model would double the steps and add nothing the workers do differently)."""
    traffic = {
        model: generate_traffic(model, days[0], days[-1], now=NOW, daily_volume=volume)
        for model in ("loan_approval", "job_screening")
    }
    engine = create_engine(database_url)
    try:
        publish_demo_sources(engine, traffic, directory / "data")
    finally:
        engine.dispose()
    raw = demo_config(days[0], directory / "data")
    raw["models"] = {MODEL: raw["models"][MODEL]}
    return raw


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", "worker", "--concurrency", "1",
         "--name", name, "--loglevel", "WARNING"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


@contextmanager
def _workers(config: Path, env: dict[str, str], logs: Path, names=("w1", "w2")):
    """`monitoring-pipeline worker` processes, yielded once each answers the broker."""
    workers = [_worker(name, env, logs / f"{name}.log") for name in names]
    try:
        celery = load_config(config).execution.celery
        deadline = time.monotonic() + 90
        while True:
            try:
                if len(answering_workers(celery, timeout=1)) == len(names):
                    break
            except WorkersUnavailableError:
                pass
            assert all(w.poll() is None for w in workers), (logs / f"{names[0]}.log").read_text()
            assert time.monotonic() < deadline, "the workers never answered"
        yield workers
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def _environment(tmp_path: Path, config: Path, database_url: str, dagster_url: str) -> dict:
    return {
        "PATH": os.environ["PATH"] + ":/usr/sbin",
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(config),
        "MONITORING_DATABASE_URL": database_url,
        "MONITORING_DAGSTER_DATABASE_URL": dagster_url,
    }


def _materialize(days: list[date], env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "monitoring_pipeline.cli", "materialize",
            "--start", str(days[0]), "--end", str(days[-1])]  # fmt: skip


def _events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event is not None]


@pytest.mark.e2e
def test_a_backfill_on_two_celery_workers_equals_a_single_process_run(
    tmp_path: Path, make_database_url, dagster_storage_url, dagster_instance, broker
):
    # The same published days in two databases: one run in process, one on the workers.
    single_url, workers_url = make_database_url(), make_database_url()
    raw = _publish(single_url, tmp_path / "single")
    (tmp_path / "single.yaml").write_text(yaml.safe_dump(raw))
    runs = run_days(
        load_config(tmp_path / "single.yaml"), dagster_instance, DAYS, database_url=single_url
    )
    assert all(run.success for run in runs), [run.errors for run in runs]

    raw = _publish(workers_url, tmp_path / "workers")
    raw["execution"] = {"celery": {"broker": broker}}
    config = tmp_path / "workers.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = _environment(tmp_path, config, workers_url, dagster_storage_url)
    with _workers(config, env, tmp_path):
        done = subprocess.run(
            _materialize(DAYS, env), env=env, capture_output=True, text=True, timeout=600
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" ok ") + done.stdout.count(" warning ") == len(DAYS), done.stdout
    assert "DuplicateTaskNameWarning" not in done.stderr  # dagster-celery's noise, muted

    assert fingerprints(single_url)["labeled_prediction_rows"][0] > 0.9 * VOLUME * len(DAYS)
    assert_same_tables(single_url, workers_url)

    # The steps ran on both workers, not in the materialize process.
    runs = dagster_instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/partition": str(DAYS[-1])}), limit=1
    )
    events = _events(dagster_instance, runs[0].run_id)
    step_pids = {e.pid for e in events if e.event_type_value == "STEP_SUCCESS"}
    workers_named = {
        str(e.engine_event_data.metadata["Celery worker"].value).split("@")[0]
        for e in events
        if e.event_type_value == "ENGINE_EVENT" and "Celery worker" in e.engine_event_data.metadata
    }
    assert workers_named == {"w1", "w2"}
    assert len(step_pids) >= 2  # the workers' pool processes, each its own
    orchestrator = {e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START}
    assert len(orchestrator) == 1 and not orchestrator & step_pids


@pytest.mark.e2e
def test_a_worker_process_killed_mid_step_hands_the_step_to_a_worker_again(
    tmp_path: Path, make_database_url, dagster_storage_url, dagster_instance, broker
):
    """The out-of-memory killer takes a worker's step process mid-ingestion: the step goes
    back on the queue (acknowledged late), runs again, and the day ends as a clean run."""
    single_url, workers_url = make_database_url(), make_database_url()
    day = [DAYS[0]]
    step = f"{MODEL}__labeled_predictions"
    configs = {}
    for name, url in (("single", single_url), ("workers", workers_url)):
        raw = _publish(url, tmp_path / name, volume=KILL_VOLUME, days=day)
        # Small chunks: an ingestion of several seconds to be killed in.
        raw["models"][MODEL]["ingest_chunk_rows"] = 2_000
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(raw))
    runs = run_days(load_config(configs["single"]), dagster_instance, day, database_url=single_url)
    assert all(run.success for run in runs), [run.errors for run in runs]

    raw = yaml.safe_load(configs["workers"].read_text())
    raw["execution"] = {"celery": {"broker": broker}}
    configs["workers"].write_text(yaml.safe_dump(raw))
    env = _environment(tmp_path, configs["workers"], workers_url, dagster_storage_url)
    this_day = dg.RunsFilter(tags={"dagster/partition": str(day[0])})
    before = {run.run_id for run in dagster_instance.get_runs(filters=this_day)}
    with _workers(configs["workers"], env, tmp_path):
        materialize = subprocess.Popen(
            _materialize(day, env), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        killed, deadline = None, time.monotonic() + 120
        while killed is None:
            assert time.monotonic() < deadline, "the ingestion step never started"
            assert materialize.poll() is None, materialize.communicate()
            for run in dagster_instance.get_runs(filters=this_day):
                if run.run_id in before:
                    continue
                for event in _events(dagster_instance, run.run_id):
                    if event.event_type_value == "STEP_START" and event.step_key == step:
                        killed = event.pid
            time.sleep(0.05)
        os.kill(killed, signal.SIGKILL)
        out, err = materialize.communicate(timeout=300)
    assert materialize.returncode == 0, out + err
    (run,) = [r for r in dagster_instance.get_runs(filters=this_day) if r.run_id not in before]
    starts = [
        e.pid
        for e in _events(dagster_instance, run.run_id)
        if e.event_type_value == "STEP_START" and e.step_key == step
    ]
    assert len(starts) == 2 and starts[0] == killed and starts[1] != killed, starts
    assert_same_tables(single_url, workers_url)


def test_a_celery_config_gives_the_monitor_job_the_celery_executor(tmp_path: Path):
    raw = demo_config(DAYS[0], tmp_path / "data")
    raw["execution"] = {"celery": {"broker_env": "TEAM_BROKER_URL"}}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    job = build_definitions(load_config(tmp_path / "models.yaml")).resolve_job_def(
        MONITOR_MODELS_JOB
    )
    assert job.executor_def.name == "celery"
    # The run's process looks at its steps every 50 ms, not dagster-celery's every second.
    from dagster_celery import core_execution_loop

    assert core_execution_loop.TICK_SECONDS == STEP_POLL_SECONDS == 0.05
    del raw["execution"]
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    job = build_definitions(load_config(tmp_path / "models.yaml")).resolve_job_def(
        MONITOR_MODELS_JOB
    )
    assert job.executor_def.name != "celery"


@pytest.mark.parametrize(
    "celery, message",
    [
        ({}, "give either broker or broker_env"),
        ({"broker": "redis://a/0", "broker_env": "B"}, "give either broker or broker_env"),
        ({"broker_env": "lower"}, "must name an environment variable"),
        ({"broker": "redis://a/0", "backend": "x", "backend_env": "Y"}, "not both"),
    ],
)
def test_a_wrong_celery_setting_is_named(tmp_path: Path, celery, message):
    raw = demo_config(DAYS[0], tmp_path / "data")
    raw["execution"] = {"celery": celery}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "models.yaml")


def test_no_broker_or_no_worker_is_one_line_without_the_password(broker, monkeypatch):
    with pytest.raises(WorkersUnavailableError) as unreachable:
        answering_workers(
            CeleryExecution(broker=f"redis://:s3cret@127.0.0.1:{_free_port()}/0"), timeout=1
        )
    assert "cannot reach the Celery broker" in str(unreachable.value)
    assert "s3cret" not in str(unreachable.value)
    with pytest.raises(WorkersUnavailableError, match="no Celery worker answers"):
        answering_workers(CeleryExecution(broker=broker), timeout=1)
    monkeypatch.delenv("TEAM_BROKER_URL", raising=False)
    with pytest.raises(WorkersUnavailableError, match="TEAM_BROKER_URL, which is not set"):
        answering_workers(CeleryExecution(broker_env="TEAM_BROKER_URL"), timeout=1)


def test_materialize_without_a_worker_and_worker_without_celery_are_one_line(
    tmp_path: Path, database_url, dagster_storage_url, broker
):
    raw = demo_config(DAYS[0], tmp_path / "data")
    env = {
        "PATH": os.environ["PATH"] + ":/usr/sbin",
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(tmp_path / "models.yaml"),
        "MONITORING_DATABASE_URL": database_url,
        "MONITORING_DAGSTER_DATABASE_URL": dagster_storage_url,
    }
    cli = [sys.executable, "-m", "monitoring_pipeline.cli"]
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run([*cli, "worker"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"monitoring-pipeline: {tmp_path / 'models.yaml'}: no execution.celery section, so runs "
        "execute their steps in process and no worker is needed (README: Running steps on "
        "Celery workers)"
    ]
    raw["execution"] = {"celery": {"broker": broker}}  # a broker, but no worker on it
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [*cli, "materialize", "--start", str(DAYS[0]), "--end", str(DAYS[0])],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"monitoring-pipeline: no Celery worker answers on {broker}: start one or more with "
        "`monitoring-pipeline worker` (same config, same database)"
    ]
