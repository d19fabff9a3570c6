"""backfill_job: many days of each model's chain in one Dagster run, one process per model.

A backfill launched from the job's partitions page or the asset graph starts a run per
day, and Dagster starts each run in a new process: ~4 s per model-day before and around
its steps (README, "Runs the daemon launches"). This job takes a range of days instead and
gives each model one op, in a process of its own: the op runs the model's chain for each
day in order, in that process, so imports, the Great Expectations suite and connections
are paid once per model rather than once per day. Each day is still a run of its own, as
from ``monitoring-pipeline materialize``: the day's asset partitions, check results
(blocking checks included) and logs are where the UI shows any day's.

Each op is in its model's chain pool (:func:`~monitoring_pipeline.defs.common.chain_pool`),
so no other run of the model (a day of the schedule, a late-label re-run) starts while its
days are written; the models' ops run side by side, up to the run's ``max_concurrent``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import chain_pool

BACKFILL_JOB = "backfill_job"
# Ours: on every day's run of a backfill_job run, the backfill_job run's id (Runs page:
# filter by this tag to list a backfill's days).
BACKFILL_RUN_TAG = "monitoring/backfill_run"


def backfill_op_name(model_name: str) -> str:
    """The op of ``model_name`` in backfill_job.

    >>> backfill_op_name("loan_approval")
    'backfill_loan_approval'
    """
    return f"backfill_{model_name}"


def backfill_days(start: str, end: str, *, first_day: date, today: date) -> list[date]:
    """The days ``start``..``end`` (ISO dates), or a ValueError saying what is wrong with them:
    a day before the config's ``partitions_start`` or one that has not ended has no partition.

    >>> backfill_days("2026-10-30", "2026-11-01", first_day=date(2026, 10, 1),
    ...               today=date(2026, 12, 1))
    [datetime.date(2026, 10, 30), datetime.date(2026, 10, 31), datetime.date(2026, 11, 1)]
    >>> backfill_days("2026-11-02", "2026-11-01", first_day=date(2026, 10, 1),
    ...               today=date(2026, 12, 1))
    Traceback (most recent call last):
    ...
    ValueError: start 2026-11-02 is after end 2026-11-01
    """
    from monitoring_pipeline.orchestrate import days_between

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise ValueError(
            f"start and end are dates as YYYY-MM-DD, not {start!r} and {end!r}"
        ) from None
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    if first < first_day:
        raise ValueError(f"start {first} is before the config's partitions_start {first_day}")
    if last >= today:
        raise ValueError(f"end {last} has not ended yet (the last day with a partition is "
                         f"the day before {today})")  # fmt: skip
    return days_between(first, last)


def _backfill_op(config: MonitoringConfig, model_name: str, database_url: str | None):
    @dg.op(
        name=backfill_op_name(model_name),
        pool=chain_pool(model_name),
        config_schema={
            "start": dg.Field(str, description="first day to backfill, YYYY-MM-DD"),
            "end": dg.Field(str, description="last day to backfill (included), YYYY-MM-DD"),
        },
        out=dg.Out(dg.Nothing),
        description=f"Every day from start to end of {model_name}'s chain, in order, each "
        "day a run of its own executed in this op's process.",
    )
    def backfill(context):
        # At run time: the orchestration module builds these Definitions itself.
        from monitoring_pipeline.orchestrate import progress_lines, run_days, run_status

        try:
            days = backfill_days(
                context.op_config["start"],
                context.op_config["end"],
                first_day=config.partitions_start,
                today=datetime.now(UTC).date(),
            )
        except ValueError as error:
            raise dg.Failure(f"{model_name}: {error}") from None
        context.log.info(f"{model_name}: {len(days)} day(s), {days[0]}..{days[-1]}")

        def progress(index, total, run):
            for line in progress_lines(index, total, run):
                context.log.info(f"{model_name} {line.strip()}")

        try:
            runs = run_days(
                config,
                context.instance,
                days,
                database_url=database_url,
                models=[model_name],
                progress=progress,
                # Terminated from the UI: the day in flight is interrupted, and no day
                # starts after it (the nested run swallows the interrupt as its failure).
                should_stop=lambda: _terminated(context.instance, context.run_id),
                # "model": as the sensors tag their re-runs of one model's chain.
                tags={BACKFILL_RUN_TAG: context.run_id, "model": model_name},
            )
        finally:
            _cancel_unfinished_days(context.instance, context.run_id, model_name)
        if len(runs) < len(days):
            raise dg.Failure(
                f"{model_name}: stopped after {len(runs)} of {len(days)} day(s): the run "
                "was terminated"
            )
        seconds = sum(run.seconds for run in runs)
        failed = [run.partition_key for run in runs if run.errors]
        blocked = [run.partition_key for run in runs if run.not_run and not run.errors]
        metadata = {
            "days": len(runs),
            "seconds_per_day": round(seconds / len(runs), 2),
            "days_failed": len(failed),
            "days_blocked_by_a_check": len(blocked),
            "days_with_failed_checks": sum(bool(run.failed_checks) for run in runs),
            "runs": dg.MetadataValue.md(
                "| day | status | seconds | failed checks | run |\n|---|---|---|---|---|\n"
                + "\n".join(
                    f"| {run.partition_key} | {run_status(run)} | {run.seconds:.1f} | "
                    f"{', '.join(run.failed_checks) or '-'} | {run.run_id[:8]} |"
                    for run in runs
                )
            ),
        }
        if failed:
            raise dg.Failure(
                f"{model_name}: {len(failed)} of {len(runs)} day(s) failed: {', '.join(failed)} "
                "(each day's run has its error; the days after a failed day ran all the same)",
                metadata=metadata,
            )
        yield dg.Output(None, metadata=metadata)

    return backfill


def _terminated(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.status in (
        dg.DagsterRunStatus.CANCELING,
        dg.DagsterRunStatus.CANCELED,
    )


def _cancel_unfinished_days(instance: dg.DagsterInstance, run_id: str, model_name: str) -> None:
    """A day's run the op left unfinished (an interrupt between its creation and its
    start) is marked canceled, so that it does not wait in the UI as not started."""
    unfinished = instance.get_runs(
        filters=dg.RunsFilter(
            tags={BACKFILL_RUN_TAG: run_id, "model": model_name},
            statuses=[
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    for run in unfinished:
        instance.report_run_canceled(
            run, f"backfill_job run {run_id} was terminated before this day's run ended"
        )


def build_backfill_job(config: MonitoringConfig, *, database_url: str | None) -> dg.JobDefinition:
    """backfill_job of the config's models, one op each (``backfill_<model>``); each op's
    run config is the days' ``start`` and ``end`` (YYYY-MM-DD), and an op selection
    backfills only those models (the Launchpad's, or ``dagster job launch --config``). Its
    ops run in processes of their own (Dagster's multiprocess executor: as many at once as
    the run's ``max_concurrent``, by default the machine's cores)."""
    ops = [_backfill_op(config, name, database_url) for name in config.models]

    @dg.job(
        name=BACKFILL_JOB,
        executor_def=dg.multiprocess_executor,
        description=(
            "Backfill a range of days of every model, or of the models whose ops you select: "
            "each model's days in one process, each day a run of its own, in order. Run "
            "config: each op's start and end (YYYY-MM-DD)."
        ),
    )
    def backfill_job():
        for op in ops:
            op()

    return backfill_job
