"""A small simulated world of the two demo models, and monitor_models_job run on it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources

START = date(2026, 10, 1)
END = date(2026, 10, 10)
MODELS = ("loan_approval", "job_screening")


def build_world(
    engine,
    tmp_path: Path,
    *,
    incidents=(),
    tolerance: float = 0.03,
    volume: int = 150,
    end: date = END,
):
    """Simulated logs of START..``end`` in the test database and files, as seen at 06:00
    the day after ``end``, and a config pointing at them (written to
    ``tmp_path / "monitored_models.yaml"``)."""
    now = datetime.combine(end + timedelta(days=1), time(6), tzinfo=UTC)
    traffic = {
        model: generate_traffic(
            model, START, end, now=now, seed=11, incidents=incidents, daily_volume=volume
        )
        for model in MODELS
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")
    raw = demo_config(START, tmp_path / "data")
    raw["models"]["loan_approval"]["quality"]["max_malformed_share"] = tolerance
    raw["models"]["job_screening"]["quality"] = {"max_malformed_share": 0.03}
    raw["models"]["loan_approval"]["cohorts"]["min_size"] = 10
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path), traffic


def run_day(
    config,
    database_url: str,
    instance,
    day: date,
    *,
    models: Iterable[str] | None = None,
    reports: bool = True,
) -> dg.ExecuteInProcessResult:
    """monitor_models_job for one day. ``models``: only these models' chains (default all);
    ``reports=False`` leaves out the HTML ``report`` assets (for tests that read tables
    only: rendering is most of a small day's cost)."""
    defs = build_definitions(config, database_url=database_url)
    job = defs.resolve_job_def(MONITOR_MODELS_JOB)
    if models is not None or not reports:
        chosen = set(config.models if models is None else models)
        graph = defs.resolve_asset_graph()
        job = job.get_subset(
            asset_selection={
                key
                for key in graph.get_all_asset_keys()
                if key.path[0] in chosen
                and (reports or key.path[-1] != "report")
                and graph.get(key).is_materializable
            }
        )
    return job.execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False
    )


def table(engine, name: str) -> pd.DataFrame:
    """Every row of ``monitoring.<name>``."""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(f"SELECT * FROM monitoring.{name}"), conn)
