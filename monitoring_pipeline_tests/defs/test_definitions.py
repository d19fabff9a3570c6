"""The Definitions Dagster loads: every job, asset and check by name, with real properties."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
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
    assert done.stdout.strip() == "18"  # 2 sources + 7 assets, x 2 models


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
