"""The figures an SLO verdict ranks come back in one order whatever the rows' physical
order: a verdict names the first of equally bad cohorts, so reading them in the order the
table happened to hold them let a re-run name another cohort for the same figures (seen on
2026-12-07: complaint_rate_region named region=south in one database and region=east in
another, both at a rate of 0 with the same rows)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from monitoring_pipeline.storage.cohorts import (
    cohort_change_figures,
    cohort_metric_figures,
    fairness_figures,
)
from monitoring_pipeline.storage.complaints import complaint_figures
from monitoring_pipeline.storage.estimation import estimated_disparity_figures
from monitoring_pipeline.storage.operational import operational_figures

MODEL = "loan_approval"
DAY = date(2026, 10, 1)
# table: (metric its rows carry, the reader)
READERS = {
    "cohort_metrics": ("tpr", lambda e: cohort_metric_figures(e, MODEL, DAY, metric="tpr")),
    "fairness_disparities": (
        "tpr_gap",
        lambda e: fairness_figures(e, MODEL, DAY, attribute="*", metric="tpr_gap"),
    ),
    "cohort_changes": ("tpr", lambda e: cohort_change_figures(e, MODEL, DAY, metric="tpr")),
    "estimated_disparities": (
        "tpr_gap",
        lambda e: estimated_disparity_figures(e, MODEL, DAY, attribute="*", metric="tpr_gap"),
    ),
    "operational_metrics": (
        "latency_p95",
        lambda e: operational_figures(e, MODEL, DAY, metric="latency_p95"),
    ),
    "complaint_metrics": ("complaint_rate", lambda e: complaint_figures(e, MODEL, DAY)),
}
# Inserted in this order: the reverse of the sorted one, so a read in the heap's order
# (a fresh table returns rows as inserted) comes back reversed.
COHORTS = [("sex", "m"), ("sex", "f"), ("region", "west"), ("region", "east"), ("all", "all")]
PLACEHOLDERS = {
    "date": DAY,
    "integer": 1,
    "bigint": 1,
    "smallint": 1,
    "double precision": 0.5,
    "boolean": True,
    "text": "x",
    "timestamp with time zone": "2026-10-02T00:00:00Z",
}


def _insert_in_reverse_order(engine: sa.Engine, table: str, metric: str) -> None:
    """Rows of (MODEL, DAY, version all, metric) for COHORTS, every other column a
    placeholder of its type (the values do not matter here, the order does)."""
    with engine.begin() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'monitoring' AND table_name = :table"
            ),
            {"table": table},
        ).all()
        for attribute, value in COHORTS:
            fixed = {
                "model_name": MODEL,
                "partition_date": DAY,
                "model_version": "all",
                "metric": metric,
                "cohort_attribute": attribute,
                "cohort_value": value,
            }
            row = {name: fixed.get(name, PLACEHOLDERS.get(kind)) for name, kind in columns}
            names = ", ".join(row)
            conn.execute(
                sa.text(
                    f"INSERT INTO monitoring.{table} ({names}) "
                    f"VALUES ({', '.join(':' + name for name in row)})"
                ),
                row,
            )


@pytest.fixture
def scanning_engine(database_url):
    """An engine whose queries read tables in their physical order (no index scans), as
    the server's plans do on a table too large for an index to pay."""
    engine = sa.create_engine(
        database_url,
        connect_args={"options": "-c enable_indexscan=off -c enable_bitmapscan=off"},
    )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("table", sorted(READERS))
def test_figures_come_sorted_by_cohort_whatever_the_rows_physical_order(scanning_engine, table):
    metric, read = READERS[table]
    _insert_in_reverse_order(scanning_engine, table, metric)
    figures = read(scanning_engine)
    keys = list(zip(figures.cohort_attribute, figures.cohort_value, strict=True))
    assert keys == sorted(COHORTS)
