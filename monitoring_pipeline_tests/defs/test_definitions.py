"""The Definitions Dagster loads: every job, asset and check by name, with real properties."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.defs.common import chain_pool, package_version
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.orchestrate import create_chain_pools

REPO = Path(__file__).resolve().parents[2]


def demo_defs(tmp_path: Path) -> dg.Definitions:
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    return build_definitions(load_config(path))


def test_assets_per_model_with_daily_partitions_and_checks(tmp_path):
    defs = demo_defs(tmp_path)
    graph = defs.resolve_asset_graph()
    for model in ("loan_approval", "job_screening"):
        labeled = dg.AssetKey([model, "labeled_predictions"])
        status = dg.AssetKey([model, "label_status"])
        node = graph.get(labeled)
        assert node.is_materializable
        partitions = node.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.get_first_partition_key() == "2026-10-01"
        assert graph.get(status).parent_keys == {labeled}
        metrics = dg.AssetKey([model, "cohort_metrics"])
        assert graph.get(metrics).parent_keys == {labeled}
        assert graph.get(dg.AssetKey([model, "fairness_disparities"])).parent_keys == {metrics}
        assert node.parent_keys == {
            dg.AssetKey([model, "predictions_log"]),
            dg.AssetKey([model, "labels_log"]),
        }
        specs = {spec.name: spec.blocking for spec in defs.resolve_assets_def(labeled).check_specs}
        assert specs == {
            "schema": True,
            "keys_and_ranges": True,
            "cohort_values": True,
            "row_count": True,
            "feature_nulls": False,
        }
        report = dg.AssetKey([model, "report"])
        assert graph.get(report).parent_keys == {
            dg.AssetKey([model, "error_budgets"]),
            dg.AssetKey([model, "drift"]),
        }
        assert graph.get(report).partitions_def == partitions
        health = dg.AssetKey([model, "pipeline_health"])
        assert graph.get(health).parent_keys == {status, dg.AssetKey([model, "drift"])}
        assert not graph.get(health).child_keys  # nothing waits for it
        health_specs = {
            spec.name: spec.blocking for spec in defs.resolve_assets_def(health).check_specs
        }
        assert health_specs == dict.fromkeys(
            (
                "stale_baseline",
                "overdue_partitions",
                "label_lag",
                "label_coverage",
                "label_coverage_trend",
                "label_arrival",
                "data_quality",
            ),
            False,
        )


def test_monitor_job_covers_every_materializable_asset(tmp_path):
    job = demo_defs(tmp_path).resolve_job_def(MONITOR_MODELS_JOB)
    assets = (
        "labeled_predictions",
        "label_status",
        "cohort_metrics",
        "fairness_disparities",
        "performance_estimates",
        "drift",
        "slo_evaluations",
        "error_budgets",
        "pipeline_health",
        "version_comparison",
        "report",
        "feature_attributions",  # the demo's models log attributions
        "operational_metrics",  # ... and latencies
        "complaint_metrics",  # ... and have a complaints source
    )
    assert set(job.graph.node_names()) == {
        f"{model}__{asset}" for model in ("loan_approval", "job_screening") for asset in assets
    }
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)


def test_code_location_module_loads_from_environment(tmp_path):
    """What `dagster dev -w workspace.yaml` imports, in a clean interpreter."""
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    code = "from monitoring_pipeline.definitions import defs; print(len(defs.resolve_asset_graph().get_all_asset_keys()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"MONITORING_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    # 3 sources (predictions, labels, complaints) + 14 assets (incl. health, comparison,
    # report, attributions, operational, complaints), x 2 models
    assert done.stdout.strip() == "34"


SECRET = "s3cret-pw-in-env"
# What the UI serves: the repository snapshot the code server sends the webserver (every
# job's snapshot, with each resource's config schema and defaults).
REPOSITORY_SNAPSHOT = """
import sys
import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
from monitoring_pipeline.definitions import defs
repository = defs.get_repository_def()
print(len(repository.get_all_jobs()))
print(dg.serialize_value(RepositorySnap.from_def(repository)))
"""


def test_code_location_snapshot_holds_no_database_password(tmp_path):
    """The code location Dagster loads reads MONITORING_DATABASE_URL (set by `ui` with its
    password) at run time only: the snapshot the UI shows does not contain it."""
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    done = subprocess.run(
        [sys.executable, "-c", REPOSITORY_SNAPSHOT],
        env={
            "MONITORING_CONFIG": str(path),
            "MONITORING_DATABASE_URL": f"postgresql://monitor:{SECRET}@/monitoring?host=/nowhere",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    jobs, snapshot = done.stdout.splitlines()[:2]
    assert int(jobs) >= 3
    assert "monitoring_db" in snapshot  # the resource is in it...
    assert SECRET not in snapshot  # ...without the password
    assert "monitor:" not in snapshot


def test_a_url_passed_in_code_would_be_in_the_snapshot(tmp_path):
    """Why product code passes no database_url: the grep above can find what it looks for."""
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), tmp_path)))
    url = f"postgresql+psycopg2://monitor:{SECRET}@/monitoring?host=/nowhere"
    job = build_definitions(load_config(path), database_url=url).resolve_job_def(MONITOR_MODELS_JOB)
    assert SECRET in dg.serialize_value(job.get_job_snapshot())
    job = build_definitions(load_config(path)).resolve_job_def(MONITOR_MODELS_JOB)
    assert SECRET not in dg.serialize_value(job.get_job_snapshot())


def test_workspace_and_instance_files_point_at_the_code_and_postgres():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert (
        workspace["load_from"][0]["python_module"]["module_name"]
        == "monitoring_pipeline.definitions"
    )
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    storage = instance["storage"]["custom"]
    assert (storage["module"], storage["class"]) == (
        "monitoring_pipeline.dagster_storage",
        "PooledPostgresStorage",
    )
    assert storage["config"]["postgres_url"] == {"env": "MONITORING_DAGSTER_DATABASE_URL"}


def _defs_with(tmp_path: Path, **schedule) -> dg.Definitions:
    raw = demo_config(date(2026, 10, 1), tmp_path)
    raw["schedule"] = schedule
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return build_definitions(load_config(path))


def test_daily_schedule_requests_the_latest_complete_day(tmp_path):
    from datetime import UTC, datetime

    from monitoring_pipeline.defs.schedules import DAILY_SCHEDULE

    defs = _defs_with(tmp_path)
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == MONITOR_MODELS_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    def tick(schedule_def, when: datetime, definitions=defs):
        repository = definitions.get_repository_def()
        with dg.build_schedule_context(
            scheduled_execution_time=when, repository_def=repository
        ) as context:
            return schedule_def.evaluate_tick(context)

    result = tick(schedule, datetime(2026, 10, 20, 6, tzinfo=UTC))
    (request,) = result.run_requests
    assert (request.partition_key, request.run_key) == ("2026-10-19", "2026-10-19")
    before_start = tick(schedule, datetime(2026, 10, 1, 6, tzinfo=UTC))
    assert (
        before_start.run_requests == [] and "before partitions_start" in before_start.skip_message
    )

    lagged_defs = _defs_with(tmp_path, cron="30 2 * * *", lag_days=3, enabled=False)
    lagged = lagged_defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert lagged.cron_schedule == "30 2 * * *"
    assert lagged.default_status == dg.DefaultScheduleStatus.STOPPED
    (request,) = tick(lagged, datetime(2026, 10, 20, 2, 30, tzinfo=UTC), lagged_defs).run_requests
    assert request.partition_key == "2026-10-17"


def test_invalid_cron_fails_at_config_load(tmp_path):
    from monitoring_pipeline.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"schedule\.cron: Value error, not a valid cron expression: 'every day'"
    ):
        _defs_with(tmp_path, cron="every day")


def test_every_asset_carries_its_models_owners_and_code_version(tmp_path):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    graph = build_definitions(load_config(path)).resolve_asset_graph()
    versions = {}
    for key in graph.get_all_asset_keys():
        model = key.path[0]
        node = graph.get(key)
        assert node.owners == raw["models"][model]["owners"], key
        versions.setdefault(model, set()).add(node.code_version)
    assert {m: len(v) for m, v in versions.items()} == {"loan_approval": 1, "job_screening": 1}
    (loan,) = versions["loan_approval"]
    assert loan.startswith(f"{package_version()}+") and len(loan.split("+")[-1]) == 10

    # A changed threshold is a new code version of that model only; new owners are not.
    raw["models"]["loan_approval"]["slos"][0]["objective"]["value"] = 0.12
    raw["models"]["loan_approval"]["owners"] = ["team:someone-else"]
    raw["models"]["job_screening"]["owners"] = ["team:someone-else"]
    path.write_text(yaml.safe_dump(raw))
    changed = build_definitions(load_config(path)).resolve_asset_graph()
    budgets = changed.get(dg.AssetKey(["loan_approval", "error_budgets"]))
    assert budgets.code_version != loan and budgets.owners == ["team:someone-else"]
    (job,) = versions["job_screening"]
    assert changed.get(dg.AssetKey(["job_screening", "drift"])).code_version == job


def test_checks_on_error_budgets_fairness_and_drift_never_block(tmp_path):
    defs = demo_defs(tmp_path)
    for model, slos in (
        (
            "loan_approval",
            {
                "tpr_gap_region",
                "estimated_tpr_gap_region",
                "accuracy_all",
                "approval_rate_shift",
                "income_psi",
                "feature_drift_within_groups",
                "latency_p95_region",
                "complaint_rate_region",
            },
        ),
        ("job_screening", {"fpr_gap_gender", "selection_rate_shift"}),
    ):
        for asset, names in (
            ("error_budgets", slos),
            ("fairness_disparities", {"no_gap_beyond_objective"}),
            ("drift", {"no_flagged_drift"}),
        ):
            specs = defs.resolve_assets_def(dg.AssetKey([model, asset])).check_specs
            assert {s.name: s.blocking for s in specs} == dict.fromkeys(names, False)
            assert all(s.partitions_def is not None for s in specs)


def test_the_run_tags_we_spell_out_are_dagsters_own():
    from dagster._core.storage import tags as dagster_tags  # tests may read Dagster's internals

    from monitoring_pipeline.defs import tags

    assert tags.PRIORITY_TAG == dagster_tags.PRIORITY_TAG
    assert tags.RUN_KEY_TAG == dagster_tags.RUN_KEY_TAG
    assert tags.SENSOR_NAME_TAG == dagster_tags.SENSOR_NAME_TAG


def test_every_step_of_a_models_chain_is_in_its_pool_and_runs_in_process(tmp_path):
    """Runs touching a model's chain queue behind each other (pool monitoring_chain/<model>,
    one run at a time in dagster.yaml); source specs, alert_job and retraining_job have no
    pool, so a page never waits behind a backfill. Runs the daemon launches execute their
    steps in their own process (Dagster's default started a process per step)."""
    defs = demo_defs(tmp_path)
    graph = defs.resolve_asset_graph()
    pools = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            pools[key.to_user_string()] = node.assets_def.node_def.pools
        else:
            assert key.path[-1].endswith("_log"), key
    assert {"labeled_predictions", "error_budgets", "report"} <= {k.split("/")[1] for k in pools}
    assert all(pools[key] == {chain_pool(key.split("/")[0])} for key in pools), pools
    for name in ("alert_job", "retraining_job"):
        job = defs.resolve_job_def(name)
        assert all(not node.definition.pools for node in job.nodes), name
    assert defs.resolve_job_def(MONITOR_MODELS_JOB).executor_def.name == "in_process"
    # An asset materialized from the asset graph runs in Dagster's implicit asset job.
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_the_instance_gives_each_pool_one_run_at_a_time_and_looks_every_second():
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
    with dg.instance_for_test(
        overrides={key: settings[key] for key in ("concurrency", "run_coordinator")}
    ) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.pool_granularity.value == "run"
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_the_chains_pools_exist_before_any_run_is_queued(make_database_url, tmp_path):
    """`monitoring-pipeline ui` creates the pools at start: Dagster creates a pool when a
    queued run first needs it, but enforces it only from its next pass over the queue, so
    the first two runs of a backfill started together. A limit someone set stays."""
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
    # A storage database of its own: pools are shared by every instance on a storage.
    storage = instance_storage_config(make_database_url())
    with dg.instance_for_test(
        overrides={**storage, "concurrency": settings["concurrency"]}, temp_dir=str(tmp_path)
    ) as instance:
        models = ["loan_approval", "job_screening"]
        assert create_chain_pools(instance, models) == [chain_pool(m) for m in models]
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert limits == dict.fromkeys(map(chain_pool, models), 1)
        instance.event_log_storage.set_concurrency_slots(chain_pool("job_screening"), 3)
        assert create_chain_pools(instance, [*models, "fraud"]) == [chain_pool("fraud")]
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert limits == {
            chain_pool("loan_approval"): 1,
            chain_pool("job_screening"): 3,
            chain_pool("fraud"): 1,
        }
