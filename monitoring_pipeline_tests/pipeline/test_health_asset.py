"""The pipeline_health asset on the real embedded PostgreSQL with simulated traffic.

One world, ten days, two models: ``loan_approval`` is healthy; ``job_screening`` has a day
whose log never arrived, a day stopped by its blocking quality check, a fixed baseline too
old for its (overridden) max age, and labels withheld for its first days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import LabelOutage, MalformedRows
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline_tests.helpers import worlds

START = date(2026, 10, 1)
END = date(2026, 10, 10)
NOW = datetime(2026, 10, 11, 6, tzinfo=UTC)
MISSING_DAY = START + timedelta(days=4)
BLOCKED_DAY = START + timedelta(days=5)
CHECKS = {
    "stale_baseline",
    "overdue_partitions",
    "label_lag",
    "label_coverage",
    "label_coverage_trend",
    "label_arrival",
    "data_quality",
}


def build_world(engine, tmp_path: Path):
    incidents = [
        LabelOutage(model="job_screening", start=START, end=START + timedelta(days=2)),
        MalformedRows(model="job_screening", start=BLOCKED_DAY, end=BLOCKED_DAY, share=0.3),
    ]
    traffic = {
        model: generate_traffic(
            model, START, END, now=NOW, seed=11, incidents=incidents, daily_volume=150
        )
        for model in ("loan_approval", "job_screening")
    }
    publish_demo_sources(engine, traffic, tmp_path / "data")
    # The job_screening log of one day never arrives.
    (tmp_path / "data" / "job_screening" / "predictions" / f"{MISSING_DAY}.parquet").unlink()
    raw = demo_config(START, tmp_path / "data")
    # Ten days of history: labels are judged after 7 days, baselines are a few days long.
    raw["health"] = {
        "stale_baseline": {"min_days": 3, "min_rows": 300},
        "label_lag": {"max_ratio": 2.0, "min_labelled": 20},
        "label_coverage": {"min_coverage": 0.5, "window_days": 3, "min_predictions": 20},
        "label_coverage_trend": {"days": 1, "max_drop": 0.25, "min_predictions": 20},
    }
    loan, job = raw["models"]["loan_approval"], raw["models"]["job_screening"]
    loan["cohorts"]["min_size"] = 10
    loan["baseline"] = {"preceding_days": 3, "bins": 5}
    job["quality"] = {"max_malformed_share": 0.03}
    job["baseline"] = {"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()}
    job["health"] = {"stale_baseline": {"max_age_days": 5}}
    for model in (loan, job):
        model["expected_label_lag_days"] = 7
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def run_day(config, database_url: str, instance, day: date):
    # Without the HTML report assets: health reads the tables, and rendering is most of a
    # small day's cost.
    return worlds.run_day(config, database_url, instance, day, reports=False)


def health_rows(engine, day: date) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(
            sa.text("SELECT * FROM monitoring.health_checks WHERE partition_date = :day"),
            conn,
            params={"day": day},
        )


@pytest.mark.e2e
def test_health_of_a_healthy_and_a_faulty_model(engine, database_url, dagster_instance, tmp_path):
    config = build_world(engine, tmp_path)
    results = {}
    for i in range((END - START).days + 1):
        day = START + timedelta(days=i)
        results[day] = run_day(config, database_url, dagster_instance, day)

    first = health_rows(engine, START).set_index(["model_name", "check_name"])
    assert first.loc[("loan_approval", "overdue_partitions"), "message"] == (
        f"no earlier day to check before {START}"
    )

    rows = health_rows(engine, END)
    assert len(rows) == 2 * len(CHECKS) and set(rows.check_name) == CHECKS
    loan = rows[rows.model_name == "loan_approval"].set_index("check_name")
    job = rows[rows.model_name == "job_screening"].set_index("check_name")

    # The healthy model: every check ok, on real figures (not "nothing to judge").
    assert (loan.status == "ok").all(), loan.message.to_dict()
    assert loan.loc["stale_baseline", "message"].startswith(
        "rolling 3-day baseline 2026-10-07..2026-10-09: 3 days"
    )
    assert loan.loc["label_coverage", "observed"] >= 0.5
    assert loan.loc["label_coverage", "details"]["judged_to"] == "2026-10-03"
    assert loan.loc["label_lag", "observed"] <= 14
    assert loan.loc["overdue_partitions", "message"] == (
        "every day of the 9 day(s) 2026-10-01..2026-10-09 is materialized"
    )

    # The faulty one: each fault named, with the figure and the limit.
    overdue = job.loc["overdue_partitions"]
    assert (overdue.status, overdue.severity, overdue.observed) == ("fail", "page", 2.0)
    assert f"not materialized: {MISSING_DAY}" in overdue.message
    assert (
        f"stopped by a blocking check: {BLOCKED_DAY} (cohort_values, keys_and_ranges)"
        in overdue.message
    )
    assert overdue.details["missing"] == [str(MISSING_DAY)]

    stale = job.loc["stale_baseline"]
    assert (stale.status, stale.severity, stale.observed, stale.threshold) == (
        "fail",
        "ticket",
        7.0,
        5.0,
    )
    assert "fixed baseline 2026-10-01..2026-10-03 ended 7 days before 2026-10-10 (max 5)" in (
        stale.message
    )

    coverage = job.loc["label_coverage"]
    assert (coverage.status, coverage.observed, coverage.threshold) == ("fail", 0.0, 0.5)
    assert coverage.message.startswith(
        "labels cover under 50% of predictions on 3 day(s) at least 7 days old: "
        "2026-10-01 0.0%, 2026-10-02 0.0%, 2026-10-03 0.0%"
    )
    # Labels of the withheld days never came, so they have no lag to judge; later days do.
    assert "2026-10-01" not in job.loc["label_lag", "details"]["p90_days_by_day"]

    # Never blocking: the faulty model's whole chain ran on the last day, and the findings
    # are non-blocking asset checks with the figures in their metadata.
    last = results[END]
    assert last.success
    evaluations = {
        (
            e.asset_check_evaluation_data.asset_key.path[0],
            e.asset_check_evaluation_data.check_name,
        ): e.asset_check_evaluation_data
        for e in last.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key.path[-1] == "pipeline_health"
    }
    assert {name for model, name in evaluations if model == "job_screening"} == CHECKS
    assert all(evaluations[("loan_approval", name)].passed for name in CHECKS)
    failed = evaluations[("job_screening", "stale_baseline")]
    assert not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.WARN
    assert (failed.partition, failed.blocking) == (END.isoformat(), False)
    assert failed.metadata["observed"].value == 7.0
    assert failed.metadata["threshold"].value == 5.0
    assert failed.metadata["status"].value == "fail"
    assert evaluations[("job_screening", "label_lag")].passed

    # Re-running the day replaces its rows with the same findings.
    before = rows.drop(columns=["run_id", "produced_at"]).sort_values(["model_name", "check_name"])
    assert run_day(config, database_url, dagster_instance, END).success
    after = health_rows(engine, END)
    assert set(after.run_id) != set(rows.run_id)
    pd.testing.assert_frame_equal(
        before.reset_index(drop=True),
        after.drop(columns=["run_id", "produced_at"])
        .sort_values(["model_name", "check_name"])
        .reset_index(drop=True),
    )


@pytest.mark.parametrize("status", ["ok", "warn", "fail"])
def test_health_table_accepts_exactly_the_agreed_statuses(engine, status):
    """The alerting side reads these columns: status and severity are constrained."""
    statement = sa.text(
        "INSERT INTO monitoring.health_checks (partition_date, model_name, check_name, status, "
        "severity, observed, threshold, message, details, run_id, produced_at) VALUES "
        "(:day, 'm', 'label_lag', :status, :severity, 1, 2, 'msg', '{}', 'r', now())"
    )
    with engine.begin() as conn:
        conn.execute(statement, {"day": START, "status": status, "severity": "page"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(statement, {"day": END, "status": status, "severity": "email"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(statement, {"day": END, "status": "broken", "severity": "ticket"})
