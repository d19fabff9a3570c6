"""The Grafana dashboard: every panel's and variable's SQL runs as monitoring_reader on a
demo-like world and returns rows; the provisioning files point at the read-only role."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from monitoring_pipeline.dashboards import (
    GRAFANA_DASHBOARD,
    GRAFANA_DIR,
    GRAFANA_PROVISIONING_DIR,
)
from monitoring_pipeline_tests.storage.analyst_world import read_as_reader, world_engine

TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")
VARIABLE = re.compile(r"\$(\w+)")


@pytest.fixture(scope="module")
def world(pg_admin_url):
    with world_engine(pg_admin_url) as engine:
        yield engine


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(GRAFANA_DASHBOARD.read_text())


def substitute(sql: str, values: dict[str, str]) -> str:
    """What Grafana sends: macros expanded, variables replaced by their current value."""
    sql = TIME_FILTER.sub(r"\1 BETWEEN '2000-01-01' AND '2100-01-01'", sql)
    sql = VARIABLE.sub(lambda m: values[m.group(1)], sql)
    assert "$" not in sql
    return sql


def resolve_variables(engine, dashboard: dict) -> dict[str, str]:
    """Each variable's first value, in order, as Grafana picks it when none is selected."""
    values: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        rows = read_as_reader(engine, substitute(variable["query"], values))
        assert len(rows) > 0, variable["name"]
        values[variable["name"]] = str(rows.iloc[0, 0])
    return values


def test_every_panel_query_returns_rows_as_the_reader(world, dashboard):
    values = resolve_variables(world, dashboard)
    # The defaults lead to the story: the paging model, its SLO's metric and the cohort the
    # SLO last judged (south; west ranks first in worst_cohorts).
    assert values == {
        "model": "job_screening",
        "metric": "fpr_difference",
        "cohort": "region=south",
    }
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["type"])
        for target in panel["targets"]:
            rows = read_as_reader(world, substitute(target["rawSql"], values))
            assert len(rows) > 0, panel["title"]
            if target["format"] == "time_series":
                assert "time" in rows.columns, panel["title"]
                assert rows.time.is_monotonic_increasing, panel["title"]
    assert titles == {"table", "timeseries"}
    assert len(dashboard["panels"]) == 7


def test_gap_panel_draws_the_interval_and_leaves_small_days_empty(world, dashboard):
    values = {"model": "loan_approval", "metric": "tpr_difference", "cohort": "region=east"}
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Fairness gap")]
    rows = read_as_reader(world, substitute(panel["targets"][0]["rawSql"], values))
    assert list(rows.columns) == ["time", "gap", "lower", "upper"]
    # east never reaches the minimum size in the world: a row per day, no value drawn.
    assert len(rows) == 14 and rows[["gap", "lower", "upper"]].isna().all().all()
    band = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }
    assert band["upper"]["custom.fillBelowTo"] == "lower"


def test_panels_use_the_provisioned_read_only_datasource(dashboard):
    provisioning = yaml.safe_load((GRAFANA_PROVISIONING_DIR / "datasources.yaml").read_text())
    (source,) = provisioning["datasources"]
    assert source["user"] == "monitoring_reader"
    assert source["secureJsonData"]["password"] == "$MONITORING_READER_PASSWORD"
    assert source["type"] == "grafana-postgresql-datasource"
    expected = {"type": source["type"], "uid": source["uid"]}
    for item in [*dashboard["panels"], *dashboard["templating"]["list"]]:
        assert item["datasource"] == expected, item.get("title", item.get("name"))
    providers = yaml.safe_load((GRAFANA_PROVISIONING_DIR / "dashboards.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == "$MONITORING_DASHBOARDS_DIR"
    assert GRAFANA_DASHBOARD.parent == GRAFANA_DIR and GRAFANA_DASHBOARD.is_file()
