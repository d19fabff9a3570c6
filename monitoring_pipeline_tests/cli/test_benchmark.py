"""The benchmark command runs end to end on a tiny day (figures are not asserted tightly: it
is a measuring tool, not a timed test) and leaves no scratch database behind; the floor's
counts are checked against pandas on a hand-made frame."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipeline import benchmark


def _figure(pattern: str, out: str) -> float:
    found = re.search(pattern, out, re.M)
    assert found, pattern
    return float(found[1].replace(",", ""))


def test_benchmark_runs_every_stage_the_floor_and_dagster_and_reports_them(
    database_url, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MONITORING_DATABASE_URL", database_url)
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path))
    command_lines = []
    run = benchmark.subprocess.run

    def recorded_run(command, *args, **kwargs):
        command_lines.append(" ".join(command))
        return run(command, *args, **kwargs)

    monkeypatch.setattr(benchmark.subprocess, "run", recorded_run)
    args = ["--rows", "3000", "--baseline-days", "2", "--baseline-rows", "1000"]
    args += ["--features", "2", "--extra-cohorts", "1", "--dagster-days", "1"]
    assert benchmark.main(args) == 0
    out = capsys.readouterr().out
    for stage in [
        "labeled_predictions", "label_status", "cohort_metrics", "fairness_disparities",
        benchmark.FIT_STAGE, "drift", "slo_evaluations", "error_budgets",
    ]:  # fmt: skip
        assert re.search(rf"^  {re.escape(stage)}\s+[\d.]+\s+[\d.]+\s+[\d,]+\s+[\d,]+$", out, re.M)
    assert "4 cohort attributes + 2 intersections, 11 features" in out
    predictions = int(_figure(r"predictions ([\d,]+),", out))
    assert 2_500 < predictions < 4_000  # the simulated day has weekday volume around 3,000
    chain = _figure(r"^  label join -> budgets\s+([\d.]+)", out)
    # The day is tested against two other days, not against itself.
    assert "baseline: 2 day(s) 2026-01-03..2026-01-04 of ~1,000 predictions" in out
    assert _figure(r"drift rows \(tests\) ([\d,]+)", out) > 100

    # The floor: each phase, its daily total, the same rows, and the ratio of the two.
    for phase in [benchmark.FLOOR_FIT_STAGE, "read predictions", "read labels", "join"]:
        assert re.search(rf"^    {re.escape(phase)}\s+[\d.]+\s+[\d.]+$", out, re.M)
    for phase in ["binary COPY", "bincount metrics", "histogram drift"]:
        assert re.search(rf"^    {re.escape(phase)}\s+[\d.]+\s+[\d.]+$", out, re.M)
    floor = _figure(rf"^  {re.escape(benchmark.FLOOR_DAILY)}\s+([\d.]+)", out)
    assert 0 < floor < chain  # the floor does less than the project
    assert _figure(r"floor: ([\d,]+) rows", out) == predictions
    # Everyone, the groups of sex (2), age_band, region and segment_1 (4 each), sex x
    # age_band and sex x region, each attribute with one more group for values outside
    # its configured ones: at most 1 + 18 + 2 x 15 cohorts; only those holding rows count.
    assert 10 < _figure(r"rows \([\d,]+ labelled\), (\d+) cohorts", out) <= 1 + 18 + 30
    assert _figure(r"cohorts, ([\d,]+) drift figures", out) > 100
    ratio = _figure(r"^  ratio label join -> budgets / floor: ([\d.]+)x", out)
    # The printed seconds are rounded to 0.01 s (a tiny floor of ~0.08 s by 6%): the ratio,
    # computed before rounding, lies within what the rounded figures allow.
    assert (
        (chain - 0.005) / (floor + 0.005) - 0.01
        <= ratio
        <= (chain + 0.005) / (floor - 0.005) + 0.01
    )

    # Dagster's fixed cost: one day of the demo's two models through orchestrate.run_days.
    assert "Dagster: 1 day(s) x 2 model(s) of ~1,000 predictions" in out
    assert "FAILED" not in out
    found = re.search(
        r"per model-day: Dagster wall ([\d.]+) s, steps ([\d.]+) s, overhead (-?[\d.]+) s", out
    )
    assert found, out
    wall, steps, overhead = (float(figure) for figure in found.groups())
    assert 0 < steps < wall < 120
    assert abs(wall - steps - overhead) <= 0.011
    found = re.search(r"steps per model-day, slowest first: (.*)$", out, re.M)
    assert found and "labeled_predictions" in found[1], out
    by_asset = [float(figure) for figure in re.findall(r" ([\d.]+) s", found[1])]
    assert by_asset == sorted(by_asset, reverse=True) and sum(by_asset) <= steps + 0.01 * 8

    # The measuring processes got the database URLs on stdin: a command line is readable
    # by every local user, and the URLs hold the password.
    password = sa.engine.make_url(database_url).password
    assert len(command_lines) == 3 and password
    assert not any(password in line for line in command_lines)

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        scratch = conn.execute(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'monitoring_benchmark%'")
        ).all()
    engine.dispose()
    assert scratch == []
    assert not (tmp_path / benchmark.DAGSTER_HOME_FOLDER).exists()


def test_the_floors_counts_equal_pandas_group_counts():
    rng = np.random.default_rng(5)
    rows = 500
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["female", "male", "other"], rows),  # "other" is not configured
            "region": rng.choice(["north", "south"], rows),
            "label": pd.array(rng.choice([0, 1, None], rows), dtype="Int16"),
            "decision": rng.integers(0, 2, rows),
            "income": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(0, 1, rows)),
        }
    )
    columns = benchmark.FloorColumns(
        numeric=["income"], categorical=[],
        attributes={"sex": ["female", "male"], "region": ["north", "south"]},
        intersections=[["sex", "region"]], bins=4, min_cohort_size=1,
        baseline_start=date(2026, 1, 1), baseline_end=date(2026, 1, 1),
    )  # fmt: skip
    cohorts, count = benchmark._cohort_codes(frame, columns)
    assert count == 1 + 3 + 3 + 9
    confusion = benchmark._confusion(frame, cohorts, count)["counts"]
    # Cohort numbering: everyone, sex (female, male, rest), region (north, south, rest),
    # then sex x region row by row.
    male_south = 1 + 3 + 3 + 1 * 3 + 1
    rows_of = frame[(frame["sex"] == "male") & (frame["region"] == "south")]
    labelled = rows_of.dropna(subset=["label"])
    expected = pd.crosstab(labelled["label"], labelled["decision"]).to_numpy()
    assert (confusion[male_south, :2, :] == expected).all()
    assert (confusion[male_south, 2, :] == rows_of["label"].isna().groupby(
        rows_of["decision"]).sum().reindex([0, 1], fill_value=0).to_numpy()).all()  # fmt: skip
    assert confusion[0].sum() == rows
    assert confusion[3].sum() == (frame["sex"] == "other").sum()

    edges = {"income": np.array([-1.0, 0.0, 1.0])}
    bins = benchmark._bin_indexes(frame, columns, edges, {})
    histograms = benchmark._histograms(cohorts, count, bins)["income"]
    values = frame["income"]
    expected_all = [
        (values < -1).sum(), ((values >= -1) & (values < 0)).sum(),
        ((values >= 0) & (values < 1)).sum(), (values >= 1).sum(), values.isna().sum(),
    ]  # fmt: skip
    assert histograms[0].tolist() == expected_all
    assert histograms[1].sum() == (frame["sex"] == "female").sum()
    same = benchmark._drift({"income": histograms}, {"income": histograms}, ["income"], 1)
    psi, ks = same["income"]
    assert np.allclose(psi, 0) and np.allclose(ks, 0)  # a day against itself does not drift


def test_a_failed_floor_still_prints_the_projects_stages(capsys):
    """At 10M rows the floor, which holds the whole day, may be killed for memory: the
    stages measured before it must not be lost with it."""
    stages = ["labeled_predictions", benchmark.FIT_STAGE, "drift"]
    result = {
        "timings": dict.fromkeys(stages, 2.0),
        "cpu": dict.fromkeys(stages, 1.0),
        "peaks": dict.fromkeys(stages, 100.0),
        "peak_rss_mib": 100.0,
        "drift_rows": 7,
    }
    benchmark._print_stages(result, None, predictions=1_000, labels=900)
    out = capsys.readouterr().out
    assert re.search(r"labeled_predictions\s+2\.00\s+1\.00\s+500", out)
    assert re.search(r"label join -> budgets\s+4\.00", out)
    assert "floor: failed" in out and "ratio label join" not in out


def test_the_daemon_backfill_report_says_the_wall_per_model_day_the_gaps_and_any_overlap(
    capsys,
):
    """What `--dagster-via daemon` prints of its runs (the runs themselves need a Dagster
    daemon, ~10 s to start: measured by hand, see README "Large days")."""

    def run(day: str, started: float, ended: float, steps: float) -> dict:
        return {"day": day, "success": True, "started": started, "ended": ended,
                "wall": ended - started, "steps": steps}  # fmt: skip

    runs = [run("d1", 1.0, 6.0, 4.0), run("d2", 9.0, 14.0, 4.4), run("d3", 17.5, 22.0, 4.0)]
    benchmark._print_daemon_backfill(
        {"models": 2, "days": 3, "runs": runs, "backfill_wall": 22.0, "backfill_job": False},
        rows=1_000,
    )
    out = capsys.readouterr().out
    assert "a backfill of 3 day(s) x 2 model(s)" in out and "FAILED" not in out
    assert _figure(r"([\d.]+) s per model-day; runs", out) == round(22.0 / 6, 2)
    assert _figure(r"steps ([\d.]+) s per model-day", out) == round(12.4 / 6, 2)
    assert _figure(r"between runs ([\d.]+) s", out) == 3.5  # gaps 3.0 and 3.5: the median
    assert _figure(r"overlapping runs: (\d+)", out) == 0

    runs[1] = {**runs[1], "started": 5.0, "success": False}  # starts before d1 ended
    benchmark._print_daemon_backfill(
        {"models": 2, "days": 3, "runs": runs, "backfill_wall": 22.0, "backfill_job": False},
        rows=1_000,
    )
    out = capsys.readouterr().out
    assert _figure(r"overlapping runs: (\d+)", out) == 1 and "FAILED runs: d2" in out


def test_the_backfill_job_report_counts_each_run_as_one_model_day(capsys):
    """`--dagster-via backfill-job`: each day's run is one model's day, the models' runs
    side by side (measured by hand, see README "Large days")."""
    runs = [
        {"day": day, "model": model, "success": True, "started": start, "ended": start + 2.0,
         "wall": 2.0, "steps": 1.8}
        for day, model, start in (("d1", "a", 4.0), ("d1", "b", 4.5), ("d2", "a", 6.2),
                                  ("d2", "b", 6.6))
    ]  # fmt: skip
    benchmark._print_daemon_backfill(
        {"models": 2, "days": 2, "runs": runs, "backfill_wall": 9.0, "backfill_job": True},
        rows=1_000,
    )
    out = capsys.readouterr().out
    assert "a backfill of 2 day(s) x 2 model(s)" in out and "one backfill_job run" in out
    assert _figure(r"([\d.]+) s per model-day; runs", out) == round(9.0 / 4, 2)
    assert _figure(r"steps ([\d.]+) s per model-day", out) == round(7.2 / 4, 2)
    # Between one model's days 0.2 and 0.1 s; its days never overlap (the models' do).
    assert _figure(r"between runs ([\d.]+) s", out) == 0.2
    assert _figure(r"overlapping runs: (\d+)", out) == 0
    # Chain a: 4.0..8.2 less 3.6 s of steps; chain b: 4.5..8.6 less 3.6 s: 1.1 s / 4.
    assert _figure(r"overhead: ([\d.]+) s per model-day", out) == pytest.approx(1.1 / 4, abs=0.01)
    assert _figure(r"first run started ([\d.]+) s after", out) == 4.0

    runs[3] = {**runs[3], "success": False}
    benchmark._print_daemon_backfill(
        {"models": 2, "days": 2, "runs": runs, "backfill_wall": 9.0, "backfill_job": True},
        rows=1_000,
    )
    assert "FAILED runs: b d2\n" in capsys.readouterr().out
