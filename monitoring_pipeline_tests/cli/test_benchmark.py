"""The benchmark command runs end to end on a tiny day (figures are not asserted: it is a
measuring tool, not a timed test) and leaves no scratch database behind."""

from __future__ import annotations

import re

import sqlalchemy as sa

from monitoring_pipeline import benchmark


def test_benchmark_runs_every_stage_and_reports_rows_per_second(
    database_url, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MONITORING_DATABASE_URL", database_url)
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path))
    args = ["--rows", "3000", "--baseline-days", "2", "--baseline-rows", "1000"]
    assert benchmark.main(args) == 0
    out = capsys.readouterr().out
    for stage in [
        "labeled_predictions", "label_status", "cohort_metrics", "fairness_disparities",
        benchmark.FIT_STAGE, "drift", "slo_evaluations", "error_budgets",
    ]:  # fmt: skip
        assert re.search(rf"^  {re.escape(stage)}\s+[\d.]+\s+[\d.]+\s+[\d,]+\s+[\d,]+$", out, re.M)
    predictions = int(re.search(r"predictions ([\d,]+),", out)[1].replace(",", ""))
    assert 2_500 < predictions < 4_000  # the simulated day has weekday volume around 3,000
    assert re.search(r"label join -> budgets\s+[\d.]+", out)
    # The day is tested against two other days, not against itself.
    assert "baseline: 2 day(s) 2026-01-03..2026-01-04 of ~1,000 predictions" in out
    assert int(re.search(r"drift rows \(tests\) ([\d,]+)", out)[1].replace(",", "")) > 100
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        scratch = conn.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"),
            {"name": benchmark.SCRATCH_DATABASE},
        ).scalar_one()
    engine.dispose()
    assert scratch == 0
