"""The monitoring job end to end on the real embedded PostgreSQL and a Postgres-backed
Dagster instance: label backfill, quality checks, quarantine, label status, idempotence."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.demo.incidents import MalformedRows
from monitoring_pipeline.pipeline.labeled_predictions import DOWNSTREAM_TABLES
from monitoring_pipeline_tests.helpers.worlds import END, START, build_world, run_day, table

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

TABLES = [
    "labeled_predictions",
    "quarantined_rows",
    "quality_results",
    "ingestion_stats",
    "label_status",
]


def snapshot(engine) -> dict[str, pd.DataFrame]:
    """Every published table without its audit columns, in a canonical row order."""
    out = {}
    for name in TABLES:
        frame = table(engine, name).drop(columns=["run_id", "produced_at"])
        for column in frame.columns:
            if frame[column].map(lambda v: isinstance(v, dict)).any():
                frame[column] = frame[column].map(lambda v: yaml.safe_dump(v, sort_keys=True))
        out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def test_job_writes_every_table_and_nothing_is_lost(
    engine, database_url, dagster_instance, tmp_path
):
    # Six days: enough for labels to be seen arriving (the first days' coverage above the
    # last days'), and each day costs ~2 s of the suite.
    days = [START + timedelta(days=i) for i in range(6)]
    config, traffic = build_world(engine, tmp_path, end=days[-1])
    for day in days:
        assert run_day(config, database_url, dagster_instance, day, reports=False).success

    stats = table(engine, "ingestion_stats")
    assert sorted(stats.groupby("model_name").size().items()) == [
        ("job_screening", len(days)),
        ("loan_approval", len(days)),
    ]
    assert (stats.rows_read == stats.rows_written + stats.rows_quarantined).all()
    for model, frames in traffic.items():
        assert stats.loc[stats.model_name == model, "rows_read"].sum() == len(frames.predictions)

    labeled = table(engine, "labeled_predictions")
    loan = labeled[labeled.model_name == "loan_approval"]
    source = traffic["loan_approval"]
    expected_labelled = source.labels["prediction_id"].nunique()
    assert loan["label"].notna().sum() == expected_labelled
    # Newest label per prediction, recomputed independently from the source rows.
    newest = source.labels.sort_values("labelled_at").groupby("prediction_id")["label"].last()
    merged = loan.dropna(subset=["label"]).set_index("prediction_id")["label"]
    assert (merged.sort_index() == newest.loc[merged.index].sort_index()).all()
    assert set(loan["cohorts"].iloc[0]) == {"sex", "age_band", "region"}

    status = table(engine, "label_status").sort_values(["model_name", "partition_date"])
    for model, rows in status.groupby("model_name"):
        assert rows.coverage.iloc[:3].mean() > rows.coverage.iloc[-3:].mean() + 0.2, model
    # Label-lag quantiles against numpy's linear interpolation on the same rows.
    one = loan[loan.partition_date == days[0]]
    lags = one["label_lag_hours"].dropna().to_numpy()
    row = status[(status.model_name == "loan_approval") & (status.partition_date == days[0])].iloc[
        0
    ]
    assert row.label_lag_p50_hours == pytest.approx(np.quantile(lags, 0.5))
    assert row.label_lag_p90_hours == pytest.approx(np.quantile(lags, 0.9))
    assert row.coverage == pytest.approx(len(lags) / len(one))
    assert row.corrected == (one["label_revisions"] > 1).sum()

    checks = dagster_instance.get_latest_materialization_event(
        __import__("dagster").AssetKey(["loan_approval", "labeled_predictions"])
    )
    assert checks.asset_materialization.partition == days[-1].isoformat()
    metadata = checks.asset_materialization.metadata
    assert (
        metadata["rows_read"].value
        == stats[
            (stats.model_name == "loan_approval") & (stats.partition_date == days[-1])
        ].rows_read.iloc[0]
    )

    # Audit trail: every published row's run names its code and configuration.
    provenance = table(engine, "run_provenance")
    assert not provenance.duplicated(["run_id", "model_name"]).any()
    with engine.connect() as conn:
        # The tables the asset chain publishes: by day and model, stamped with the run.
        tables = (
            conn.execute(
                sa.text(
                    "SELECT c.table_name FROM information_schema.columns c JOIN "
                    "information_schema.tables t USING (table_schema, table_name) "
                    "WHERE c.table_schema = 'monitoring' AND t.table_type = 'BASE TABLE' "
                    "AND c.column_name IN ('run_id', 'model_name', 'partition_date') "
                    "GROUP BY 1 HAVING count(*) = 3"
                )
            )
            .scalars()
            .all()
        )
        assert {"cohort_metrics", "drift", "error_budgets", "health_checks"} <= set(tables)
        for name in tables:
            unexplained = conn.execute(
                sa.text(
                    f"SELECT count(*) FROM monitoring.{name} t WHERE NOT EXISTS (SELECT 1 "
                    "FROM monitoring.run_provenance p WHERE p.run_id = t.run_id "
                    "AND p.model_name = t.model_name)"
                )
            ).scalar_one()
            assert unexplained == 0, name
    assert len(provenance) == 2 * len(days)  # one run per day, two models each
    git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert set(provenance.git_revision) == {git + ("+dirty" if dirty else "")}
    assert set(provenance.package_version) == {importlib.metadata.version("monitoring_pipeline")}
    for row in provenance.itertuples():
        canonical = json.dumps(row.config, sort_keys=True).encode()
        assert row.config_hash == hashlib.sha256(canonical).hexdigest()
        written = yaml.safe_load((tmp_path / "monitored_models.yaml").read_text())
        source = written["models"][row.model_name]["predictions"]
        assert source.items() <= row.config["model"]["predictions"].items()
    node = build_definitions(config, database_url=database_url).resolve_assets_def(
        dg.AssetKey(["loan_approval", "cohort_metrics"])
    )
    loan_hash = provenance[provenance.model_name == "loan_approval"].config_hash.iloc[0]
    assert node.code_versions_by_key[node.key].endswith("+" + loan_hash[:10])


def test_rerunning_a_partition_leaves_every_table_unchanged(
    engine, database_url, dagster_instance, tmp_path
):
    incident = MalformedRows(
        model="loan_approval",
        start=START + timedelta(days=1),
        end=START + timedelta(days=1),
        share=0.02,
    )
    config, _ = build_world(engine, tmp_path, incidents=[incident])
    for day in (START, START + timedelta(days=1)):
        run_day(config, database_url, dagster_instance, day, reports=False)
    before = snapshot(engine)
    first_runs = set(table(engine, "labeled_predictions").run_id)
    run_day(config, database_url, dagster_instance, START + timedelta(days=1), reports=False)
    after = snapshot(engine)
    for name in TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    assert set(table(engine, "labeled_predictions").run_id) != first_runs  # it really ran again
    assert len(before["quarantined_rows"]) > 0


def test_dirty_rows_are_quarantined_with_reasons(engine, database_url, dagster_instance, tmp_path):
    day = START + timedelta(days=2)
    incidents = [
        MalformedRows(model=model, start=day, end=day, share=0.02)
        for model in ("loan_approval", "job_screening")
    ]
    config, traffic = build_world(engine, tmp_path, incidents=incidents, volume=400)
    result = run_day(config, database_url, dagster_instance, day, reports=False)
    assert result.success
    quarantined = table(engine, "quarantined_rows")
    stats = table(engine, "ingestion_stats").set_index("model_name")
    expected = {
        "prediction_id missing",
        "score outside [0, 1]",
        "score missing or not a number",
        "decision not 0 or 1",
        "scored_at missing or not a time",
    }
    for model, bad_cohort in (
        ("loan_approval", "region value 'atlantis'"),
        ("job_screening", "age_band value '0-17'"),
    ):
        mine = quarantined[
            (quarantined.model_name == model) & (quarantined.source == "predictions")
        ]
        assert len(mine) == stats.loc[model, "rows_quarantined"] > 0
        reasons = set(mine.reason.str.split("; ").explode())
        assert any(r.startswith(bad_cohort) for r in reasons), reasons
        assert any(r.startswith("duplicate prediction_id") for r in reasons)
        if model == "loan_approval":
            # A table source cannot say which day a row without scored_at belongs to: it is
            # counted for every partition instead of being quarantined by one.
            assert expected - reasons == {"scored_at missing or not a time"}
            without_time = traffic[model].predictions.scored_at.isna().sum()
            assert stats.loc[model, "source_rows_without_time"] == without_time > 0
        else:
            assert expected <= reasons, reasons
            assert pd.isna(stats.loc[model, "source_rows_without_time"])
    # The raw source row is kept for repair: its values are those of the source.
    bad_score = quarantined[quarantined.reason.str.contains("score outside")].iloc[0]
    assert not 0 <= bad_score.row_data["score"] <= 1


def test_failed_blocking_check_stops_downstream_of_that_partition(
    engine, database_url, dagster_instance, tmp_path
):
    day = START + timedelta(days=3)
    incident = MalformedRows(model="loan_approval", start=day, end=day, share=0.3)
    # First the day passes (a tolerant threshold) and its whole chain publishes...
    tolerant, _ = build_world(engine, tmp_path, incidents=[incident], tolerance=0.5)
    assert run_day(tolerant, database_url, dagster_instance, day, reports=False).success
    published = {t: _rows_of(engine, t, "loan_approval", day) for t in DOWNSTREAM_TABLES}
    assert all(
        published[t] > 0
        for t in ("label_status", "cohort_metrics", "error_budgets", "operational_metrics",
                  "complaint_metrics")
    )  # fmt: skip
    # ...then a re-run under the real threshold is blocked.
    config, _ = build_world(engine, tmp_path, incidents=[incident], tolerance=0.01)
    result = run_day(config, database_url, dagster_instance, day, reports=False)
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "loan_approval__label_status" not in started
    assert {"loan_approval__labeled_predictions", "job_screening__label_status"} <= started
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "loan_approval__labeled_predictions"
    assert failure.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError"
    failed = [
        e.asset_check_evaluation_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
    ]
    assert "keys_and_ranges" in failed
    results = table(engine, "quality_results")
    assert not results[
        (results.model_name == "loan_approval") & (results.check_name == "keys_and_ranges")
    ].success.all()
    status = table(engine, "label_status")
    assert set(status.model_name) == {"job_screening"}  # the healthy model went on
    assert (table(engine, "ingestion_stats").rows_quarantined > 0).any()
    # Blocked means visibly blocked: no figure of the earlier run stays behind as current.
    assert {
        t: _rows_of(engine, t, "loan_approval", day) for t in DOWNSTREAM_TABLES
    } == dict.fromkeys(DOWNSTREAM_TABLES, 0)
    assert _rows_of(engine, "cohort_metrics", "job_screening", day) > 0
    logged = [entry.user_message for entry in dagster_instance.all_logs(result.run_id)]
    assert any("blocked by a failed blocking check" in message for message in logged)


def _rows_of(engine, table_name: str, model: str, day: date) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                f"SELECT count(*) FROM monitoring.{table_name} "
                "WHERE model_name = :m AND partition_date = :d"
            ),
            {"m": model, "d": day},
        ).scalar()


def test_csv_day_files_and_a_missing_day_file(engine, database_url, dagster_instance, tmp_path):
    config, traffic = build_world(engine, tmp_path)
    data = tmp_path / "data" / "job_screening"
    for kind in ("predictions", "labels"):
        for parquet in (data / kind).glob("*.parquet"):
            pd.read_parquet(parquet).to_csv(parquet.with_suffix(".csv"), index=False)
            parquet.unlink()
    raw = yaml.safe_load((tmp_path / "monitored_models.yaml").read_text())
    for kind in ("predictions", "labels"):
        raw["models"]["job_screening"][kind]["path"] = str(data / kind / "{date}.csv")
    (tmp_path / "monitored_models.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "monitored_models.yaml")
    assert run_day(config, database_url, dagster_instance, START, reports=False).success
    stats = table(engine, "ingestion_stats").set_index("model_name")
    expected = (traffic["job_screening"].predictions.scored_at.dt.date == START).sum()
    assert stats.loc["job_screening", "rows_written"] == expected
    labeled = table(engine, "labeled_predictions")
    assert labeled[labeled.model_name == "job_screening"].label.notna().sum() > 0

    (data / "predictions" / f"{END}.csv").unlink()
    result = run_day(config, database_url, dagster_instance, END, reports=False)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["job_screening__labeled_predictions"]
    assert (
        f"no file for this day: {data / 'predictions' / f'{END}.csv'}"
        in failures[0].step_failure_data.error.message
    )
