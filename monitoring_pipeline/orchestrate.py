"""Run the monitoring job for a range of days on a persistent Dagster instance (CLI, demo).

Runs are recorded in the instance, so the Dagster UI shows them afterwards exactly as if
they had been launched from it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import chain_pool
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.defs.tags import COMPLAINTS_AS_OF_TAG, RUN_KEY_TAG, SENSOR_NAME_TAG
from monitoring_pipeline.distributed import answering_workers, reconstructable_monitor_job
from monitoring_pipeline.run_workers import WORKER_TAG, fail_orphaned_runs, this_worker
from monitoring_pipeline.runtime import dagster_environment
from monitoring_pipeline.settings import Settings
from monitoring_pipeline.storage.database import ServerUrls


@dataclass(frozen=True)
class PartitionRun:
    partition_key: str
    run_id: str
    success: bool
    seconds: float
    failed_checks: list[str]
    not_run: list[str]  # steps held back by a failed blocking check or upstream failure
    errors: list[str]  # failures other than blocking checks, one line each


@dataclass(frozen=True)
class SensorRun:
    """One run request of a sensor tick and what became of it."""

    job_name: str
    run_key: str
    run_id: str | None  # None: a run with this run key existed already, nothing launched
    success: bool
    error: str | None  # the failure in one line
    result: dg.ExecuteInProcessResult | None
    launched: bool = True  # False: declined by tick_sensor's ``launch`` (run_id None)


@dataclass(frozen=True)
class SensorTick:
    """One evaluation of a sensor and the runs launched for it."""

    cursor: str | None
    skip_message: str | None
    runs: list[SensorRun]


PARTITION_TAG = "dagster/partition"
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@contextmanager
def dagster_instance(settings: Settings, urls: ServerUrls) -> Iterator[dg.DagsterInstance]:
    """The persistent instance of dagster.yaml, with this process' environment pointed at it.

    Runs a killed process of this host left in progress are marked failed first (see
    :mod:`monitoring_pipeline.run_workers`)."""
    environment = dagster_environment(settings, urls)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    settings.dagster_artifacts_dir.mkdir(parents=True, exist_ok=True)
    try:
        with dg.DagsterInstance.get() as instance:
            fail_orphaned_runs(instance)
            yield instance
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_chain_pools(instance: dg.DagsterInstance, model_names: Sequence[str]) -> list[str]:
    """Create each model's chain pool (:func:`~monitoring_pipeline.defs.common.chain_pool`)
    with the instance's default limit (dagster.yaml: one run at a time), unless it exists;
    returns the pools created.

    Dagster creates a pool the first time a queued run needs it, but does not enforce its
    limit until its next pass over the queue: the first two runs of a backfill queued at
    once then started together (seen on 2026-12-07: days 1 and 2 overlapped, and day 1
    read day 2's rows). A pool whose limit someone set is left as set."""
    default = instance.global_op_concurrency_default_limit
    if default is None:
        return []
    storage = instance.event_log_storage
    existing = {pool.name for pool in storage.get_pool_limits()}
    created = [pool for pool in map(chain_pool, model_names) if pool not in existing]
    for pool in created:
        storage.initialize_concurrency_limit_to_default(pool)
    return created


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_days(
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    days: Sequence[date],
    *,
    database_url: str | None = None,
    progress: Callable[[int, int, PartitionRun], None] | None = None,
    as_of: datetime | None = None,
    should_stop: Callable[[], bool] | None = None,
    config_path: Path | None = None,
    models: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[PartitionRun]:
    """Materialize every asset of every model (of ``models``, when given) for each day, one
    run per day, in order, each run tagged with ``tags`` too.

    With ``execution.celery`` in the config and its file given as ``config_path``, each
    run's steps execute on Celery workers (which rebuild the job from that file), and some
    worker must answer first (else WorkersUnavailableError); otherwise in this process.

    Without ``database_url`` (the CLI) the runs find the database at run time, through the
    environment :func:`dagster_instance` sets, so no password enters the stored runs' job
    snapshots; tests pass their throwaway server's URL.

    ``as_of``: the time Dagster judges which daily partitions exist at (default: the wall
    clock, so only days that have ended); a simulation passes its own clock, so its fixed
    days exist on any run date, and its runs count complaints as of it (run tag
    ``monitoring/complaints_as_of``), so they write the same tables on any run date. ``should_stop`` is asked before each day: once it answers
    true no further day starts, and the runs so far are returned.
    """
    defs = build_definitions(config, database_url=database_url)
    job = defs.resolve_job_def(MONITOR_MODELS_JOB)
    selection = None
    if models is not None:
        chosen = set(models)
        graph = defs.resolve_asset_graph()
        selection = sorted(key for key in graph.materializable_asset_keys if key.path[0] in chosen)
    extra = dict(tags or {})
    if as_of:
        extra[COMPLAINTS_AS_OF_TAG] = as_of.isoformat()
    on_workers = None
    if config.execution.celery is not None and config_path is not None:
        answering_workers(config.execution.celery)
        on_workers = reconstructable_monitor_job(config_path, database_url)
    with dg.partition_loading_context(effective_dt=as_of) if as_of else nullcontext():
        return run_partitions(
            job,
            instance,
            days,
            progress=progress,
            should_stop=should_stop,
            asset_selection=selection,
            tags_for=(lambda _: extra) if extra else None,
            on_workers=on_workers,
        )


@dataclass(frozen=True)
class _FinishedRun:
    run_id: str
    success: bool
    all_events: list[dg.DagsterEvent]


def _execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition_key: str,
    tags: Mapping[str, str],
    asset_selection: Sequence[dg.AssetKey] | None,
    on_workers,
) -> _FinishedRun:
    """One run of ``job`` for the partition: in this process, or orchestrated from here
    with its steps on the workers of ``on_workers`` (a reconstructable ``job``)."""
    if on_workers is None:
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=instance,
            raise_on_error=False,
            tags=tags,
            # Failures are reported by the caller in one line each; the events keep the details.
            run_config=QUIET_LOGGERS,
            asset_selection=asset_selection,
        )
        return _FinishedRun(result.run_id, result.success, result.all_events)
    with dg.execute_job(
        on_workers,
        instance,
        run_config=QUIET_LOGGERS,
        tags={**tags, PARTITION_TAG: partition_key},
        raise_on_error=False,
        asset_selection=asset_selection,
    ) as result:
        return _FinishedRun(result.run_id, result.success, list(result.all_events))


def run_partitions(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    days: Sequence[date],
    *,
    progress: Callable[[int, int, PartitionRun], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    tags_for: Callable[[date], Mapping[str, str]] | None = None,
    on_workers=None,
) -> list[PartitionRun]:
    """Run ``job`` (its ``asset_selection`` only, when given) for each day in order, one
    run per day, tagged with ``tags_for(day)``; ``on_workers``: the same job as a
    reconstructable one, whose steps then run on its executor's workers (see
    :func:`run_days`)."""
    runs = []
    worker = {WORKER_TAG: this_worker().tag}  # a killed process' run is failed later
    for index, day in enumerate(days, start=1):
        if should_stop is not None and should_stop():
            break
        started = time.monotonic()
        result = _execute(
            job,
            instance,
            day.isoformat(),
            {**worker, **(tags_for(day) if tags_for is not None else {})},
            asset_selection,
            on_workers,
        )
        failed_checks = [
            f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            for evaluation in (
                event.asset_check_evaluation_data
                for event in result.all_events
                if event.event_type_value == "ASSET_CHECK_EVALUATION"
            )
            if not evaluation.passed
        ]
        run = PartitionRun(
            partition_key=day.isoformat(),
            run_id=result.run_id,
            success=result.success,
            seconds=time.monotonic() - started,
            failed_checks=failed_checks,
            not_run=sorted(_planned_steps(job, asset_selection) - _steps(result, "STEP_START")),
            errors=[
                f"{event.step_key}: {_root_message(event.step_failure_data.error)}"
                for event in result.all_events
                if event.event_type_value == "STEP_FAILURE"
                and event.step_failure_data.error
                # A failed blocking check is reported through failed_checks and not_run.
                and event.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"
            ],
        )
        runs.append(run)
        if progress is not None:
            progress(index, len(days), run)
    return runs


def run_status(run: PartitionRun) -> str:
    """FAILED (a step failed), BLOCKED (a failed blocking check held steps back), warning
    (a check failed) or ok."""
    if run.errors:
        return "FAILED"
    if run.not_run:
        return "BLOCKED"
    return "warning" if run.failed_checks else "ok"


def progress_lines(index: int, total: int, run: PartitionRun) -> list[str]:
    """One line per materialized day (status, seconds, failed checks), then its errors."""
    status = run_status(run)
    extra = f"; failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
    return [
        f"  [{index:>2}/{total}] {run.partition_key}  {status:<12} {run.seconds:5.1f}s{extra}",
        *(f"      error in {error}" for error in run.errors),
    ]


def tick_sensor(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    sensor_name: str,
    *,
    cursor: str | None,
    resources: dict | None = None,
    launch: Callable[[dg.RunRequest], bool] | None = None,
) -> SensorTick:
    """Evaluate a sensor once and run its requests in this process, as the daemon would.

    A request for a partition runs that partition, and only its ``asset_selection`` when
    it has one. ``launch``: asked about each request; one it declines is returned as not
    launched (a replay records the alerts a sensor decides but delivers none).

    Each run is tagged like a daemon launch: ``dagster/sensor_name`` (added by the sensor
    evaluation) and ``dagster/run_key``. The daemon looks a run key up among runs carrying
    that sensor name (runs without a remote origin, such as these, match on the name
    alone), so a later daemon tick requesting the same key launches nothing, and neither
    does a second call here. Runs go to ``instance``, so the Dagster UI lists them.
    """
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=resources
    ) as context:
        data = sensor.evaluate_tick(context)
    runs = []
    for request in data.run_requests:
        job_name = request.job_name or sensor.job_name
        if launch is not None and not launch(request):
            runs.append(
                SensorRun(job_name, request.run_key, None, False, None, None, launched=False)
            )
            continue
        tags = {
            **request.tags,
            SENSOR_NAME_TAG: sensor.name,
            RUN_KEY_TAG: request.run_key,
            WORKER_TAG: this_worker().tag,
        }
        existing = instance.get_runs(
            filters=dg.RunsFilter(
                tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: sensor.name}
            ),
            limit=1,
        )
        if existing:
            runs.append(
                SensorRun(job_name, request.run_key, None, existing[0].is_success, None, None)
            )
            continue
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(
            run_config={**request.run_config, **QUIET_LOGGERS},
            instance=instance,
            tags=tags,
            raise_on_error=False,
            partition_key=request.partition_key,
            asset_selection=request.asset_selection,
        )
        runs.append(
            SensorRun(
                job_name,
                request.run_key,
                result.run_id,
                result.success,
                None if result.success else failure_line(result),
                result,
            )
        )
    return SensorTick(cursor=data.cursor, skip_message=data.skip_message, runs=runs)


def failure_line(result: dg.ExecuteInProcessResult) -> str:
    """A failed run in one line: the Failure's description when it raised one."""
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        failure = event.step_failure_data
        if failure.user_failure_data and failure.user_failure_data.description:
            return failure.user_failure_data.description
        if failure.error:
            return _root_message(failure.error)
    return "the run did not succeed"


def _planned_steps(job: dg.JobDefinition, asset_selection: Sequence[dg.AssetKey] | None) -> set:
    if asset_selection is None:
        return set(job.graph.node_names())
    return set(job.get_subset(asset_selection=set(asset_selection)).graph.node_names())


def _steps(result: _FinishedRun, event_type: str) -> set[str]:
    return {
        e.step_key for e in result.all_events if e.event_type_value == event_type and e.step_key
    }


def _root_message(error) -> str:
    """First line of the innermost cause: Dagster wraps user errors in its own."""
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name
