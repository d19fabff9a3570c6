"""The report's figure builders and summaries on small hand-made frames: intervals become
bands or error bars, insufficient figures are never drawn as values."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from monitoring_pipeline.core.calibration import reliability_curve, sum_bins
from monitoring_pipeline.core.intervals import wilson_interval
from monitoring_pipeline.report import figures
from monitoring_pipeline.report.summaries import current_budgets, episode_start, evidence_day

D0 = date(2026, 11, 1)
DAYS = [D0 + timedelta(days=i) for i in range(4)]


def trace(fig, name: str):
    if isinstance(fig, dict):  # a figure built as a plotly dict: validated here
        fig = go.Figure(fig)
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, [t.name for t in fig.data]
    return matches[0]


def evaluations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": DAYS,
            "slo_name": ["tpr_gap"] * 4,
            "sli_subject": ["region=west vs north"] * 4,
            "value": [0.05, 0.3, 0.9, math.nan],
            "lower": [0.0, 0.2, 0.1, math.nan],
            "upper": [0.12, 0.4, 1.0, math.nan],
            "objective_op": ["<="] * 4,
            "objective_value": [0.1] * 4,
            "sufficient": [True, True, False, False],
            "status": ["good", "bad", "unknown", "unknown"],
            "reason": ["figure published"] * 2 + ["cohort below the minimum size"] * 2,
        }
    )


def test_sli_trend_draws_the_interval_as_a_band_and_leaves_insufficient_days_out():
    fig = figures.sli_trend(evaluations(), title="t")
    value = trace(fig, "value")
    upper, lower = trace(fig, "95% interval upper"), trace(fig, "95% interval")
    assert list(value.x) == [d.isoformat() for d in DAYS]
    # Day 3 has a value (0.9) but too few labels: a gap, not a point.
    assert list(value.y) == [0.05, 0.3, None, None]
    # The band covers the run of drawn days only.
    assert list(upper.x) == list(lower.x) == [d.isoformat() for d in DAYS[:2]]
    assert list(upper.y) == [0.12, 0.4]
    assert list(lower.y) == [0.0, 0.2]
    assert lower.fill == "tonexty"  # filled up to the upper bound: a band
    assert fig.data.index(upper) == fig.data.index(lower) - 1
    grey = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(grey) == 2  # the two insufficient days are shaded
    assert value.marker.color[1] == figures.VERDICT_COLORS["bad"]


def test_sli_trend_draws_an_adaptive_objective_day_by_day():
    rows = evaluations().assign(objective_value=[0.1, 0.12, 0.11, 0.11])
    fig = figures.sli_trend(rows, title="t")
    objective = trace(fig, "objective <= (adaptive, per day)")
    assert list(objective.y) == [0.1, 0.12, 0.11, 0.11] and objective.line.shape == "hv"
    assert not [s for s in fig.layout.shapes if s.type == "line"]  # no fixed line
    fixed = figures.sli_trend(evaluations(), title="t")
    assert [s.y0 for s in fixed.layout.shapes if s.type == "line"] == [0.1]


def test_budget_bars_plot_remaining_fraction_and_never_a_missing_budget():
    current = pd.DataFrame(
        {
            "slo_name": ["a", "b", "c"],
            "status": ["page", "ok", "ok"],
            "remaining_fraction": [-1.5, 0.75, math.nan],
            "remaining_days": [-3.0, 1.5, 0.0],
            "budget_days": [2.0, 2.0, 0.0],
        }
    )
    fig = figures.budget_bars(current, title="t")
    bars = trace(fig, "budget remaining")
    assert list(bars.x) == [-1.5, 0.75, None]
    assert list(bars.y) == ["a", "b", "c"]
    assert bars.marker.color[0] == figures.STATUS_COLORS["page"]
    assert "insufficient" in bars.text[2]
    assert any("insufficient" in a.text and "c" in a.text for a in fig.layout.annotations)


def test_worst_cohorts_error_bars_match_the_bounds_and_insufficient_are_named_only():
    rows = pd.DataFrame(
        {
            "cohort": ["region=west vs north", "region=east vs north", "region=south vs north"],
            "value": [-0.3, 0.02, 0.5],
            "lower": [-0.45, -0.05, -0.2],
            "upper": [-0.18, 0.09, 0.9],
            "sufficient": [True, True, False],
        }
    )
    fig = figures.worst_cohorts_figure(
        rows, title="t", objective_op="<=", objective_value=0.1, two_sided=True
    )
    points = trace(fig, "value with 95% interval")
    assert list(points.y) == ["region=west vs north", "region=east vs north"]
    assert list(points.x) == [-0.3, 0.02]
    assert points.error_x.array == pytest.approx((0.12, 0.07))
    assert points.error_x.arrayminus == pytest.approx((0.15, 0.07))
    assert {s.x0 for s in fig.layout.shapes} == {0.1, -0.1}
    assert any("region=south vs north" in a.text for a in fig.layout.annotations)


def metrics_frame() -> pd.DataFrame:
    rows = []
    for day in DAYS[:2]:
        for cohort, n_labelled, tp, positives in (("all", 400, 150, 200), ("west", 12, 5, 6)):
            ci = wilson_interval(tp, positives)
            rows.append(
                {
                    "partition_date": day,
                    "cohort_attribute": "all" if cohort == "all" else "region",
                    "cohort_value": cohort,
                    "metric": "tpr",
                    "value": float(ci.estimate),
                    "lower": float(ci.lower),
                    "upper": float(ci.upper),
                    "n_labelled": n_labelled,
                    "sufficient": n_labelled >= 50,
                }
            )
    return pd.DataFrame(rows)


def test_cohort_rates_error_bars_are_wilson_and_small_cohorts_go_to_the_strip():
    fig = figures.cohort_rates(metrics_frame(), metrics_order=["tpr"], title="t", min_size=50)
    overall = trace(fig, "all")
    ci = wilson_interval(150, 200)
    assert list(overall.y) == pytest.approx([0.75, 0.75])
    assert overall.error_y.array == pytest.approx([float(ci.upper) - 0.75] * 2)
    assert overall.error_y.arrayminus == pytest.approx([0.75 - float(ci.lower)] * 2)
    west = trace(fig, "west")
    assert list(west.y) == []  # 12 labelled < 50: never on the rate axis
    strip = trace(fig, "insufficient")
    assert list(strip.x) == [d.isoformat() for d in DAYS[:2]]
    assert set(strip.y) == {figures.INSUFFICIENT_Y} and figures.INSUFFICIENT_Y < 0


def test_cohort_rates_put_each_metric_on_its_own_rate_axis():
    frame = metrics_frame()
    both = pd.concat([frame, frame.assign(metric="fpr", value=frame.value / 3)])
    fig = go.Figure(
        figures.cohort_rates(both, metrics_order=["tpr", "fpr"], title="t", min_size=50)
    )
    on_second = [t for t in fig.data if t.yaxis == "y2"]
    assert {t.name for t in on_second} == {t.name for t in fig.data if t.yaxis == "y"}
    overall = next(t for t in on_second if t.name == "all")
    assert list(overall.y) == pytest.approx([0.25, 0.25])
    assert fig.layout.yaxis2.range == (figures.INSUFFICIENT_Y - 0.05, 1.03)
    assert fig.layout.xaxis2.type == "date" and fig.layout.height == 220 + 190 * 2


def test_complaint_rates_draw_each_group_with_wilson_bars_and_shade_open_windows():
    rows = []
    for i, day in enumerate(DAYS[:3]):
        for group, n, k in (("north", 400, 8), ("west", 150, 6 + 3 * i), ("tiny", 5, 1)):
            ci = wilson_interval(k, n)
            rows.append(
                {
                    "partition_date": day, "cohort_attribute": "region", "cohort_value": group,
                    "value": k / n, "lower": float(ci.lower), "upper": float(ci.upper),
                    "n": n, "complaints": k, "sufficient": n >= 30,
                    "window_complete": i < 2,  # the newest day's window is still open
                }
            )  # fmt: skip
    fig = figures.complaint_rates(pd.DataFrame(rows), attribute="region", objective=0.04, title="t")
    west = trace(fig, "west")
    assert list(west.x) == [d.isoformat() for d in DAYS[:3]]
    assert list(west.y) == pytest.approx([6 / 150, 9 / 150, 12 / 150])
    ci = wilson_interval(12, 150)
    assert west.error_y.array[-1] == pytest.approx(float(ci.upper) - 12 / 150)
    assert west.error_y.arrayminus[-1] == pytest.approx(12 / 150 - float(ci.lower))
    assert "tiny" not in {t.name for t in fig.data}  # below the minimum size: left out
    shaded = [shape for shape in fig.layout.shapes if shape.type == "rect"]
    assert len(shaded) == 1 and pd.Timestamp(shaded[0].x0) < pd.Timestamp(DAYS[2])
    assert [s.y0 for s in fig.layout.shapes if s.type == "line"] == [0.04]


def test_disparity_heatmap_cells_hold_values_and_insufficient_cells_are_empty():
    disparities = pd.DataFrame(
        {
            "cohort_attribute": ["region", "region", "region"],
            "cohort_value": ["west", "west", "east"],
            "reference_value": ["north"] * 3,
            "metric": ["tpr_difference", "fpr_difference", "tpr_difference"],
            "value": [-0.3, 0.05, 0.4],
            "lower": [-0.45, 0.01, -0.1],
            "upper": [-0.18, 0.09, 0.8],
            "sufficient": [True, True, False],
        }
    )
    fig = figures.disparity_heatmap(disparities, title="t")
    heat = fig.data[0]
    assert list(heat.y) == ["region=east vs north", "region=west vs north"]
    assert list(heat.x) == ["tpr_difference", "fpr_difference"]
    assert heat.z[0][0] is None and heat.text[0][0] == "insufficient"
    assert list(heat.z[1]) == [-0.3, 0.05]
    assert "[-0.450, -0.180]" in heat.text[1][0]


def test_drift_heatmap_marks_flagged_cells_and_greys_insufficient_ones():
    drift = pd.DataFrame(
        {
            "cohort_attribute": ["all", "all", "region", "all"],
            "cohort_value": ["all", "all", "west", "all"],
            "feature": ["income", "income", "income", "score"],
            "method": ["psi", "ks", "psi", "psi"],
            "statistic": [0.4, 0.2, 0.9, 0.01],
            "threshold": [0.25, 0.05, 0.25, 0.25],
            "drifted": [True, True, None, False],
            "sufficient": [True, True, False, True],
        }
    )
    fig = figures.drift_heatmap(drift, method="psi", title="t")
    heat = fig.data[0]
    assert list(heat.y) == ["all", "region=west"] and list(heat.x) == ["income", "score"]
    assert list(heat.z[0]) == [0.4, 0.01]
    assert heat.text[0][0] == "0.400<br>drift: ks, psi"
    assert heat.z[1][0] is None and heat.text[1][0] == "insufficient"


def test_reliability_curve_sums_days_and_leaves_small_bins_out():
    n = sum_bins([[30, 0, 5], [30, 0, 1]])
    scores = sum_bins([[3.0, 0.0, 4.5], [3.0, 0.0, 0.9]])
    labels = sum_bins([[6, 0, 5], [6, 0, 1]])
    curve = reliability_curve(n, scores, labels, min_count=50)
    assert curve.n.tolist() == [60, 0, 6]
    assert curve.mean_score.iloc[0] == pytest.approx(0.1)
    assert curve.observed.iloc[0] == pytest.approx(0.2)
    ci = wilson_interval(12, 60)
    assert (curve.lower.iloc[0], curve.upper.iloc[0]) == pytest.approx(
        (float(ci.lower), float(ci.upper))
    )
    assert np.isnan(curve.observed.iloc[1])  # empty bin: undefined, never 0
    assert curve.sufficient.tolist() == [True, False, False]
    curves = curve.assign(cohort_attribute="all", cohort_value="all")
    fig = figures.reliability(curves, title="t", min_count=50)
    line = trace(fig, "all")
    assert list(line.x) == pytest.approx([0.1]) and list(line.y) == pytest.approx([0.2])
    assert any("1 bin(s)" in a.text for a in fig.layout.annotations)  # the 6-row bin


def test_episode_start_walks_back_over_burning_days():
    budgets = pd.DataFrame(
        {
            "partition_date": DAYS,
            "slo_name": ["s"] * 4,
            "status": ["ok", "ticket", "page", "page"],
            "remaining_fraction": [1.0, 0.5, -0.5, -1.0],
        }
    )
    assert episode_start(budgets, DAYS[3]) == DAYS[1]
    assert episode_start(budgets, DAYS[0]) is None
    current = current_budgets(budgets, DAYS[2])
    assert current.episode_start.tolist() == [DAYS[1]]


def test_evidence_day_is_the_newest_day_with_a_typical_count_of_comparisons():
    metrics = metrics_frame()
    disparities = pd.DataFrame(
        {
            "partition_date": [d for d in DAYS for _ in range(3)],
            "cohort_attribute": ["region", "region", "sex&region"] * 4,
            # sufficient region comparisons per day: 2, 2, 1, 0 (intersections do not count)
            "sufficient": [True, True, True] * 2 + [True, False, True] + [False, False, True],
        }
    )
    # Median 1.5: day 2 (one comparison, labels still arriving) is not yet evidence.
    assert evidence_day(metrics, disparities) == DAYS[1]
    # No sufficient comparison: the newest day with a sufficient cohort ('all' here).
    assert evidence_day(metrics, disparities.assign(sufficient=False)) == DAYS[1]
    assert evidence_day(metrics.assign(sufficient=False), disparities.iloc[0:0]) is None


def test_band_is_split_at_gaps_so_no_fill_joins_across_them():
    rows = evaluations().assign(
        value=[0.05, 0.3, 0.2, 0.25],
        lower=[0.0, 0.2, 0.1, 0.15],
        upper=[0.12, 0.4, 0.3, 0.35],
        sufficient=[True, False, True, True],
    )
    fig = figures.sli_trend(rows, title="t")
    uppers = [t for t in fig.data if t.name == "95% interval upper"]
    lowers = [t for t in fig.data if t.name == "95% interval"]
    assert [list(t.x) for t in uppers] == [
        [DAYS[0].isoformat()],
        [d.isoformat() for d in DAYS[2:]],
    ]
    assert [list(t.y) for t in lowers] == [[0.0], [0.1, 0.15]]
    assert [t.showlegend for t in lowers] == [True, False]


def test_report_of_a_model_without_rows_renders_every_page(tmp_path):
    import yaml

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.demo.publish import demo_config
    from monitoring_pipeline.report.render import render_report
    from monitoring_pipeline.storage.report_queries import ReportFrames

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(demo_config(D0, tmp_path)))
    config = load_config(path)
    columns = {
        "budgets": "partition_date slo_name status remaining_fraction remaining_days "
        "budget_days burn_rate_short burn_rate_long evidence_through",
        "evaluations": "partition_date slo_name sli_subject value lower upper objective_op "
        "objective_value sufficient status reason",
        "metrics": "partition_date cohort_attribute cohort_value metric value lower upper "
        "n_labelled sufficient",
        "disparities": "partition_date cohort_attribute cohort_value reference_value metric "
        "value lower upper sufficient",
        "drift": "partition_date cohort_attribute cohort_value feature method statistic "
        "threshold drifted sufficient",
        "calibration": "partition_date cohort_attribute cohort_value bin_n bin_score_sum "
        "bin_label_sum",
        "label_status": "partition_date predictions labelled coverage label_lag_p50_hours "
        "label_lag_p90_hours label_lag_p99_hours",
        "alerts": "kind subject severity episode_start as_of reason delivery_status summary",
        "changes": "partition_date cohort_attribute cohort_value metric value lower upper "
        "sufficient baseline_value denominator",
        "estimated_disparities": "partition_date cohort_attribute cohort_value reference_value "
        "metric value lower upper sufficient realised_value",
        "version_comparison": "partition_date candidate_version incumbent_version "
        "cohort_attribute cohort_value metric difference lower upper sufficient "
        "candidate_n_labelled incumbent_n_labelled",
        "operational": "partition_date cohort_attribute cohort_value metric value lower upper "
        "sufficient n",
        "complaints": "partition_date cohort_attribute cohort_value metric value lower upper "
        "sufficient n complaints window_complete",
    }
    frames = ReportFrames(
        **{name: pd.DataFrame(columns=names.split()) for name, names in columns.items()},
        drift_day=None,
    )
    report = render_report(
        frames,
        model_name="loan_approval",
        model=config.models["loan_approval"],
        min_size=50,
        day=D0,
        start=D0 - timedelta(days=29),
        links=config.links,
        generated_at=pd.Timestamp("2026-11-02T06:00Z").to_pydatetime(),
    )
    assert report.figures.evidence_day is None and report.figures.paging == []
    assert "Newest day with sufficient evidence: <b>none in the window</b>" in report.html
    assert "Nothing is burning on 2026-11-01" in report.html
    # executive: one trend per fairness SLO (realised and estimated gaps) and the budgets
    # executive: one trend per fairness SLO (realised and estimated gaps), the budgets and
    # the complaint rates of complaint_rate_region
    assert [len(report.plots[p]) for p in ("executive", "oncall", "debug")] == [5, 1, 9]


def test_dagster_links_open_the_asset_partition_and_the_job_runs():
    from monitoring_pipeline.config.models import LinksConfig
    from monitoring_pipeline.report.render import dagster_asset_url, dagster_runs_url

    links = LinksConfig(dagster_url="http://dagster.example:3000/")
    assert (
        dagster_asset_url(links, "loan_approval", "error_budgets", D0)
        == "http://dagster.example:3000/assets/loan_approval/error_budgets"
        "?view=partitions&partition=2026-11-01"
    )
    assert dagster_runs_url(links, "alert_job") == (
        "http://dagster.example:3000/runs?q%5B%5D=job%3Aalert_job"
    )
