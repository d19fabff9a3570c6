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
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.demo.publish import demo_config

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
        "drift",
        "slo_evaluations",
        "error_budgets",
        "pipeline_health",
        "version_comparison",
        "report",
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
    assert (
        done.stdout.strip() == "24"
    )  # 2 sources + 10 assets (incl. health, comparison, report), x 2 models


def test_workspace_and_instance_files_point_at_the_code_and_postgres():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert (
        workspace["load_from"][0]["python_module"]["module_name"]
        == "monitoring_pipeline.definitions"
    )
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert instance["storage"]["postgres"]["postgres_url"] == {
        "env": "MONITORING_DAGSTER_DATABASE_URL"
    }


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
