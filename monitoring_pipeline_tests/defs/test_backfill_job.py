"""backfill_job: a range of days of each selected model in one Dagster run, each day a run
of its own executed in the model's op process; the same tables as `materialize`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.backfill import (
    BACKFILL_JOB,
    BACKFILL_RUN_TAG,
    backfill_days,
    backfill_op_name,
)
from monitoring_pipeline.defs.common import chain_pool
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.distributed import reconstructable_job
from monitoring_pipeline.orchestrate import run_days
from monitoring_pipeline.storage.database import create_engine
from monitoring_pipeline_tests.faults.world import assert_same_tables
from monitoring_pipeline_tests.helpers.worlds import START, build_world

DAYS = [START + timedelta(days=i) for i in range(2)]
MODEL = "loan_approval"


def days_config(models, start: date, end: date) -> dict:
    days = {"start": start.isoformat(), "end": end.isoformat()}
    return {"ops": {backfill_op_name(model): {"config": days} for model in models}}


def publish(database_url: str, directory: Path) -> Path:
    engine = create_engine(database_url)
    try:
        build_world(engine, directory, end=DAYS[-1])
    finally:
        engine.dispose()
    return directory / "monitored_models.yaml"


def test_every_model_has_an_op_in_its_chain_pool(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(demo_config(START, tmp_path / "data")))
    config = load_config(path)
    job = build_definitions(config).resolve_job_def(BACKFILL_JOB)
    assert {node.name: node.definition.pool for node in job.nodes} == {
        backfill_op_name(model): chain_pool(model) for model in config.models
    }
    assert job.executor_def.name == "multiprocess"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-10-03", "2026-10-02", "start 2026-10-03 is after end 2026-10-02"),
        ("2026-09-30", "2026-10-02", "before the config's partitions_start 2026-10-01"),
        ("2026-10-01", "2026-12-01", "end 2026-12-01 has not ended yet"),
        ("yesterday", "2026-10-02", "dates as YYYY-MM-DD, not 'yesterday'"),
    ],
)
def test_a_range_without_partitions_is_named(start, end, message):
    with pytest.raises(ValueError, match=message):
        backfill_days(start, end, first_day=START, today=date(2026, 12, 1))


@pytest.mark.e2e
def test_a_backfill_run_equals_materialize_of_the_same_days(
    tmp_path, make_database_url, dagster_instance
):
    """The op in a process of its own (Dagster's multiprocess executor, as the daemon runs
    it), one model selected: its days' runs in order, and every table as `materialize`
    leaves it."""
    backfilled, materialized = make_database_url(), make_database_url()
    config_path = publish(backfilled, tmp_path / "backfilled")
    job = reconstructable_job(config_path, backfilled, BACKFILL_JOB)
    with dg.execute_job(
        job,
        dagster_instance,
        run_config=days_config([MODEL], DAYS[0], DAYS[-1]),
        op_selection=[backfill_op_name(MODEL)],
        raise_on_error=False,
    ) as result:
        assert result.success
        (output,) = [
            event
            for event in result.all_events
            if event.event_type_value == "STEP_OUTPUT"
        ]  # fmt: skip
        metadata = output.step_output_data.metadata
        parent = result.run_id
        ran_in = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
    assert metadata["days"].value == len(DAYS) and metadata["days_failed"].value == 0
    assert f"| {DAYS[-1]} | ok |" in metadata["runs"].value

    records = dagster_instance.get_run_records(dg.RunsFilter(tags={BACKFILL_RUN_TAG: parent}))
    records.sort(key=lambda record: record.start_time)
    # In date order, one after another.
    assert [r.dagster_run.tags["dagster/partition"] for r in records] == [str(d) for d in DAYS]
    assert all(a.end_time <= b.start_time for a, b in zip(records, records[1:], strict=False))
    day_runs = [record.dagster_run for record in records]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in day_runs)
    assert {run.tags["model"] for run in day_runs} == {MODEL}
    # Only the selected model's chain, every day in the op's one process.
    assert {key.path[0] for run in day_runs for key in run.asset_selection} == {MODEL}
    assert {
        event.pid
        for run in day_runs
        for event in (e.dagster_event for e in dagster_instance.all_logs(run.run_id))
        if event is not None and event.event_type_value == "STEP_START"
    } == ran_in

    reference = run_days(
        load_config(publish(materialized, tmp_path / "materialized")),
        dagster_instance,
        DAYS,
        database_url=materialized,
        models=[MODEL],
    )
    assert all(run.success for run in reference)
    assert_same_tables(materialized, backfilled)


@pytest.mark.e2e
def test_a_failed_day_fails_the_op_and_names_the_day(tmp_path, database_url, dagster_instance):
    config_path = publish(database_url, tmp_path)
    # job_screening's log of the first day never arrived.
    (tmp_path / "data" / "job_screening" / "predictions" / f"{DAYS[0]}.parquet").unlink()
    job = build_definitions(load_config(config_path), database_url=database_url).resolve_job_def(
        BACKFILL_JOB
    )
    result = job.get_subset(op_selection=[backfill_op_name("job_screening")]).execute_in_process(
        run_config=days_config(["job_screening"], DAYS[0], DAYS[0]),
        instance=dagster_instance,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_failure_data.user_failure_data.description == (
        f"job_screening: 1 of 1 day(s) failed: {DAYS[0]} (each day's run has its error; the "
        "days after a failed day ran all the same)"
    )
    assert failure.step_failure_data.user_failure_data.metadata["days_failed"].value == 1

    bad = job.get_subset(op_selection=[backfill_op_name(MODEL)]).execute_in_process(
        run_config=days_config([MODEL], DAYS[1], DAYS[0]),
        instance=dagster_instance,
        raise_on_error=False,
    )
    (failure,) = [e for e in bad.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_failure_data.user_failure_data.description == (
        f"{MODEL}: start {DAYS[1]} is after end {DAYS[0]}"
    )
    assert not dagster_instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_RUN_TAG: bad.run_id}))
