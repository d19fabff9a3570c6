"""Plotly figures of the report, each from a small DataFrame (pure: no SQL, no files).

Rules every builder keeps: an interval is drawn as a band (over time) or an error bar
(across cohorts); a figure that is insufficient or undefined is never drawn as a value
(a gap in the line, an empty grey heat-map cell labelled "insufficient", a mark in the
"insufficient" strip under a rate axis, or a note naming what was left out).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from monitoring_pipeline.core.sufficient_stats import cohort_names
from monitoring_pipeline.report.summaries import finite_or_none, gap_bounds

STATUS_COLORS = {"ok": "#2e7d32", "ticket": "#f9a825", "page": "#c62828"}
VERDICT_COLORS = {"good": "#2e7d32", "bad": "#c62828", "unknown": "#9e9e9e"}
INSUFFICIENT_COLOR = "#9e9e9e"
BAND_COLOR = "rgba(33, 102, 172, 0.18)"
LINE_COLOR = "#2166ac"
# A categorical palette readable on white (Okabe-Ito, then a few more).
PALETTE = (
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
    "#8c564b", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
# Rate axes keep [0, 1] for values and a strip below 0 for insufficient cells.
INSUFFICIENT_Y = -0.08
DIFFERENCE_METRICS = (
    "demographic_parity_difference",
    "tpr_difference",
    "fpr_difference",
    "equalized_odds_difference",
    "calibration_gap",
)


def _figure(data=None) -> go.Figure:
    """A figure without plotly.py's default template: building that template costs tens of
    milliseconds per figure (a deep copy), and plotly.js's own defaults read as well."""
    return go.Figure(data, layout={"template": "none"})


def _subplots(**kwargs) -> go.Figure:
    return make_subplots(figure=_figure(), **kwargs)


def _style_layout(title: str, height: int, plot_bgcolor: str | None) -> dict:
    return {
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 60, "b": 50},
        "plot_bgcolor": plot_bgcolor or "#ffffff",  # heat maps keep their grey
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 1, "xanchor": "right"},
        "hoverlabel": {"namelength": -1},
    }


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    # Set attribute by attribute: update_layout parses every key as a property path, 6x
    # slower, and a report styles ~15 figures per model-day.
    for name, value in _style_layout(title, height, fig.layout.plot_bgcolor).items():
        fig.layout[name] = value
    # Long category names (SLOs, cohorts) need the room they take.
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        axis.automargin = True
    return fig


def _style_dict(figure: dict, title: str, height: int) -> dict:
    """:func:`_style` for a figure given as a plotly dict."""
    layout = figure["layout"]
    layout.update(_style_layout(title, height, layout.get("plot_bgcolor")))
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            axis["automargin"] = True
    return figure


@functools.cache
def _rows_layout(titles: tuple[str, ...]) -> dict:
    """The layout of one shared-x subplot per title, stacked (make_subplots' own, as a
    dict: building it costs ~15 ms per call)."""
    fig = _subplots(
        rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=titles
    )
    return fig.to_plotly_json()["layout"]


def _days(values: pd.Series) -> list[str]:
    return [pd.Timestamp(v).date().isoformat() for v in values]


def _note(fig: go.Figure, text: str, *, y: float = -0.12) -> None:
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0,
        y=y,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        font={"size": 11, "color": "#616161"},
        align="left",
    )


def status_timeline(budgets: pd.DataFrame, *, title: str) -> go.Figure:
    """One row per SLO, one square per day, coloured by its budget status (one trace per
    status: ``ok``, ``ticket``, ``page``)."""
    fig = _figure()
    slos = sorted(budgets.slo_name.unique())
    for status, color in STATUS_COLORS.items():
        rows = budgets[budgets.status == status]
        fig.add_trace(
            go.Scatter(
                name=status,
                x=_days(rows.partition_date),
                y=list(rows.slo_name),
                mode="markers",
                marker={"symbol": "square", "size": 14, "color": color},
                hovertemplate="%{y} on %{x}: " + status + "<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=slos[::-1], type="category")
    fig.update_xaxes(type="date")
    return _style(fig, title, 120 + 34 * max(len(slos), 1))


def verdict_timeline(evaluations: pd.DataFrame, *, title: str) -> go.Figure:
    """One row per SLO, one mark per day, coloured by the day's verdict (good, bad, or
    unknown: insufficient evidence, never counted as bad)."""
    fig = _figure()
    slos = sorted(evaluations.slo_name.unique())
    for verdict, color in VERDICT_COLORS.items():
        rows = evaluations[evaluations.status == verdict]
        fig.add_trace(
            go.Scatter(
                name=verdict if verdict != "unknown" else "unknown (insufficient)",
                x=_days(rows.partition_date),
                y=list(rows.slo_name),
                mode="markers",
                marker={
                    "symbol": "square" if verdict != "unknown" else "square-open",
                    "size": 14,
                    "color": color,
                },
                customdata=np.column_stack([rows.sli_subject.astype(str), rows.reason.astype(str)])
                if len(rows)
                else None,
                hovertemplate="%{y} on %{x}: "
                + verdict
                + "<br>%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=slos[::-1], type="category")
    fig.update_xaxes(type="date")
    return _style(fig, title, 120 + 34 * max(len(slos), 1))


def budget_bars(current: pd.DataFrame, *, title: str) -> go.Figure:
    """Budget remaining per SLO as a share of its budget (negative: overspent), one bar
    each, coloured by status. An SLO without any judged day has no budget: no bar, a
    note instead."""
    fraction = current.remaining_fraction.astype(float)
    defined = fraction.notna()
    text = [
        f"{r.remaining_days:+.1f} of {r.budget_days:.1f} bad days left ({r.status})"
        if ok
        else "insufficient: no judged day"
        for r, ok in zip(current.itertuples(), defined, strict=True)
    ]
    fig = _figure(
        go.Bar(
            name="budget remaining",
            x=finite_or_none(fraction),
            y=list(current.slo_name),
            orientation="h",
            marker={"color": [STATUS_COLORS.get(s, INSUFFICIENT_COLOR) for s in current.status]},
            text=text,
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.0%} of the budget left<extra></extra>",
        )
    )
    low = float(np.nanmin(fraction)) if defined.any() else 0.0
    fig.update_xaxes(tickformat=".0%", range=[min(low * 1.25, -0.1) - 0.6, 1.9], zeroline=True)
    fig.update_yaxes(type="category", autorange="reversed")
    missing = list(current.slo_name[~defined])
    if missing:
        _note(fig, "insufficient (no judged day, no budget): " + ", ".join(missing))
    return _style(fig, title, 140 + 40 * max(len(current), 1))


def _band_traces(x: list[str], lower, upper, *, name: str, color: str = BAND_COLOR):
    """A band between ``lower`` and ``upper``: per run of consecutive defined days, the
    upper bound (an invisible line), then the lower bound filled up to it. Runs are
    separate traces because a fill across a gap would join the runs on either side."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    defined = np.isfinite(lower) & np.isfinite(upper)
    traces = []
    run: list[int] = []
    for i in [*range(len(x)), len(x)]:
        if i < len(x) and defined[i]:
            run.append(i)
            continue
        if run:
            days = [x[j] for j in run]
            traces += [
                go.Scatter(
                    name=f"{name} upper",
                    legendgroup=name,
                    x=days,
                    y=finite_or_none(upper[run]),
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                ),
                go.Scatter(
                    name=name,
                    legendgroup=name,
                    showlegend=not traces,
                    x=days,
                    y=finite_or_none(lower[run]),
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=color,
                    hoverinfo="skip",
                ),
            ]
        run = []
    return traces


def sli_trend(evaluations: pd.DataFrame, *, title: str) -> go.Figure:
    """One SLO's daily figure (``slo_evaluations.value``) as a line with its 95% interval
    as a band, the objective dashed, bad days marked red. Days without sufficient evidence
    are gaps in the line and band, shaded grey."""
    rows = gap_bounds(evaluations.sort_values("partition_date"))
    x = _days(rows.partition_date)
    shown = rows.plotted.to_numpy()
    value = np.where(shown, rows.value.astype(float), np.nan)
    lower = np.where(shown, rows.lower.astype(float), np.nan)
    upper = np.where(shown, rows.upper.astype(float), np.nan)
    fig = _figure(_band_traces(x, lower, upper, name="95% interval"))
    fig.add_trace(
        go.Scatter(
            name="value",
            x=x,
            y=finite_or_none(value),
            mode="lines+markers",
            line={"color": LINE_COLOR},
            marker={
                "size": 8,
                "color": [VERDICT_COLORS.get(s, LINE_COLOR) for s in rows.status],
            },
            customdata=np.column_stack([rows.sli_subject.astype(str), rows.status.astype(str)])
            if len(rows)
            else None,
            hovertemplate="%{x}: %{y:.3f} (%{customdata[1]})<br>%{customdata[0]}<extra></extra>",
        )
    )
    insufficient = [day for day, ok in zip(x, shown, strict=True) if not ok]
    if len(rows) and rows.objective_value.astype(float).nunique() > 1:
        # An adaptive objective: each day's band edge, as the day was judged.
        fig.add_trace(
            go.Scatter(
                name=f"objective {rows.objective_op.iloc[0]} (adaptive, per day)",
                x=x,
                y=finite_or_none(rows.objective_value.astype(float).to_numpy()),
                mode="lines",
                line={"dash": "dash", "color": "#424242", "shape": "hv"},
                hovertemplate="%{x}: objective %{y:.3f}<extra></extra>",
            )
        )
    elif len(rows):
        objective = float(rows.objective_value.iloc[0])
        op = rows.objective_op.iloc[0]
        fig.add_hline(
            y=objective,
            line={"dash": "dash", "color": "#424242"},
            annotation_text=f"objective {op} {objective:g}",
            annotation_position="top left",
        )
    _shade_days(fig, insufficient, "insufficient evidence (grey days)", opacity=0.18)
    fig.update_xaxes(type="date")
    return _style(fig, title, 330)


def _shade_days(fig: go.Figure, days, legend: str, *, opacity: float) -> None:
    """A grey column over each of ``days``, and a legend entry ``legend`` naming them."""
    for day in days:
        fig.add_vrect(
            x0=pd.Timestamp(day) - pd.Timedelta(hours=12),
            x1=pd.Timestamp(day) + pd.Timedelta(hours=12),
            fillcolor=INSUFFICIENT_COLOR,
            opacity=opacity,
            line_width=0,
        )
    fig.add_trace(
        go.Scatter(
            name=legend,
            x=[None],
            y=[None],
            mode="markers",
            marker={
                "symbol": "square",
                "size": 12,
                "color": INSUFFICIENT_COLOR,
                "opacity": min(1.0, 2.2 * opacity),
            },
        )
    )


def worst_cohorts_figure(
    rows: pd.DataFrame,
    *,
    title: str,
    objective_op: str,
    objective_value: float,
    two_sided: bool,
) -> go.Figure:
    """Each cohort's figure with its 95% interval as an error bar (worst first, top);
    insufficient or undefined cohorts are named in a note, never drawn. ``two_sided``:
    the objective bounds the absolute value (fairness differences), drawn at +/-."""
    rows = gap_bounds(rows)
    shown = rows[rows.plotted]
    value = shown.value.astype(float)
    fig = _figure(
        go.Scatter(
            name="value with 95% interval",
            x=finite_or_none(value),
            y=list(shown.cohort),
            mode="markers",
            marker={"size": 10, "color": LINE_COLOR},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": finite_or_none(shown.upper.astype(float) - value),
                "arrayminus": finite_or_none(value - shown.lower.astype(float)),
                "color": LINE_COLOR,
                "thickness": 2,
            },
            customdata=np.column_stack([shown.lower.astype(float), shown.upper.astype(float)])
            if len(shown)
            else None,
            hovertemplate="%{y}: %{x:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
            "<extra></extra>",
        )
    )
    for bound in (objective_value, -objective_value) if two_sided else (objective_value,):
        fig.add_vline(x=bound, line={"dash": "dash", "color": STATUS_COLORS["page"]})
    fig.add_annotation(
        text=f"objective {'|x| ' if two_sided else ''}{objective_op} {objective_value:g}",
        xref="paper",
        yref="paper",
        x=1,
        y=1.0,
        xanchor="right",
        yanchor="bottom",
        showarrow=False,
        font={"size": 11, "color": STATUS_COLORS["page"]},
    )
    fig.update_yaxes(type="category", autorange="reversed")
    left_out = list(rows.cohort[~rows.plotted])
    if left_out:
        _note(fig, "insufficient (not drawn): " + ", ".join(left_out))
    return _style(fig, title, 150 + 32 * max(len(shown), 1))


def cohort_rates(
    metrics: pd.DataFrame, *, metrics_order: Sequence[str], title: str, min_size: int
) -> dict:
    """Per-cohort rates over time, one row per metric, one colour per cohort, each point
    with its Wilson 95% interval as an error bar. Insufficient points (fewer labelled
    predictions than ``min_size``, or undefined) are not drawn on the rate axis: they are
    marked in the grey "insufficient" strip under it.

    Returned as a plotly figure dict (``go.Figure(...)`` of it validates it): the report's
    largest figure, ~100 traces, whose validation alone cost ~0.3 s per report.
    """
    layout = copy.deepcopy(_rows_layout(tuple(metrics_order)))
    cohorts = sorted(
        metrics[["cohort_attribute", "cohort_value"]].drop_duplicates().itertuples(index=False),
        key=lambda c: (c.cohort_attribute != "all", c.cohort_value),
    )
    colors = {c.cohort_value: PALETTE[i % len(PALETTE)] for i, c in enumerate(cohorts)}
    rate_axis = {
        "range": [INSUFFICIENT_Y - 0.05, 1.03],
        "tickvals": [INSUFFICIENT_Y, 0, 0.25, 0.5, 0.75, 1],
        "ticktext": ["insufficient", "0", "0.25", "0.5", "0.75", "1"],
    }
    traces: list[dict] = []
    # Columns as arrays and each (metric, cohort)'s row positions, found once: filtering
    # the frame per trace cost more than drawing it.
    marked = gap_bounds(metrics).reset_index(drop=True)
    days = np.asarray(_days(marked.partition_date), dtype=object)
    value = marked.value.to_numpy(dtype=float, na_value=np.nan)
    upper = marked.upper.to_numpy(dtype=float, na_value=np.nan)
    lower = marked.lower.to_numpy(dtype=float, na_value=np.nan)
    n_labelled = marked.n_labelled.to_numpy()
    plotted = marked.plotted.to_numpy(dtype=bool)
    cohort_values = marked.cohort_value.to_numpy(dtype=object)
    no_rows = np.array([], dtype=np.intp)
    groups = marked.groupby(["metric", "cohort_value"], sort=False).indices if len(marked) else {}
    of_metrics = marked.groupby("metric", sort=False).indices if len(marked) else {}
    for row, metric in enumerate(metrics_order, start=1):
        suffix = str(row) if row > 1 else ""
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        for cohort in cohorts:
            rows = groups.get((metric, cohort.cohort_value), no_rows)
            rows = rows[plotted[rows]]
            shown = rows[np.argsort(days[rows], kind="stable")]  # by day
            traces.append(
                {
                    "type": "scatter",
                    "name": cohort.cohort_value,
                    "legendgroup": cohort.cohort_value,
                    "showlegend": row == 1,
                    "x": days[shown].tolist(),
                    "y": finite_or_none(value[shown]),
                    "mode": "lines+markers",
                    "line": {"color": colors[cohort.cohort_value], "width": 1.5},
                    "marker": {"size": 5},
                    "error_y": {
                        "type": "data",
                        "symmetric": False,
                        "array": finite_or_none(upper[shown] - value[shown]),
                        "arrayminus": finite_or_none(value[shown] - lower[shown]),
                        "thickness": 1,
                        "width": 2,
                    },
                    "customdata": n_labelled[shown].tolist(),
                    "hovertemplate": f"{cohort.cohort_value} {metric}"
                    " %{x}: %{y:.3f} (n labelled %{customdata})<extra></extra>",
                    **axes,
                }
            )
        of_metric = of_metrics.get(metric, no_rows)
        hidden = of_metric[~plotted[of_metric]]
        traces.append(
            {
                "type": "scatter",
                "name": "insufficient",
                "legendgroup": "insufficient",
                "showlegend": row == 1,
                "x": days[hidden].tolist(),
                "y": [INSUFFICIENT_Y] * len(hidden),
                "mode": "markers",
                "marker": {"symbol": "line-ns-open", "size": 9, "color": INSUFFICIENT_COLOR},
                "customdata": [
                    [str(c), int(n)]
                    for c, n in zip(cohort_values[hidden], n_labelled[hidden], strict=True)
                ],
                "hovertemplate": "%{customdata[0]} on %{x}: insufficient (n labelled "
                f"%{{customdata[1]}} < {min_size}, or undefined)<extra></extra>",
                **axes,
            }
        )
        layout[f"yaxis{suffix}"].update(rate_axis)
        layout[f"xaxis{suffix}"]["type"] = "date"
    figure = {"data": traces, "layout": layout}
    return _style_dict(figure, title, 220 + 190 * len(metrics_order))


def complaint_rates(
    complaints: pd.DataFrame, *, attribute: str | None, objective: float, title: str
) -> go.Figure:
    """Complaint rates over time, one line per group of ``attribute`` (or ``all`` when
    None), each point with its Wilson 95% interval as an error bar; the objective dashed.
    Days whose complaint window was still open when counted are shaded: their rates are
    lower bounds and can still grow. Cohorts below the minimum size are left out."""
    attribute_rows = complaints.cohort_attribute == (attribute or "all")
    rows = complaints[attribute_rows & complaints.sufficient.astype(bool)]
    fig = _figure()
    for i, (group, of_group) in enumerate(sorted(rows.groupby("cohort_value"))):
        of_group = of_group.sort_values("partition_date")
        value = of_group.value.astype(float)
        fig.add_trace(
            go.Scatter(
                name=str(group),
                x=_days(of_group.partition_date),
                y=finite_or_none(value),
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                marker={"size": 5},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": finite_or_none(of_group.upper.astype(float) - value),
                    "arrayminus": finite_or_none(value - of_group.lower.astype(float)),
                    "thickness": 1,
                    "width": 2,
                },
                customdata=np.column_stack(
                    [of_group.n.astype(int), of_group.complaints.astype(int)]
                ),
                hovertemplate=f"{group}"
                " %{x}: %{y:.3f} (%{customdata[1]} of %{customdata[0]})<extra></extra>",
            )
        )
    fig.add_hline(
        y=objective,
        line={"dash": "dash", "color": "#424242"},
        annotation_text=f"objective <= {objective:g}",
        annotation_position="top left",
    )
    open_days = sorted(set(complaints.partition_date[~complaints.window_complete.astype(bool)]))
    _shade_days(fig, open_days, "window open: can still grow (shaded days)", opacity=0.12)
    fig.update_xaxes(type="date")
    fig.update_yaxes(rangemode="tozero", tickformat=".1%")
    return _style(fig, title, 330)


def disparity_heatmap(disparities: pd.DataFrame, *, title: str) -> go.Figure:
    """Group-minus-reference differences, groups x metrics, for one day: the value and its
    95% interval in each cell, coloured around 0. Insufficient or undefined cells are
    empty (grey) and labelled "insufficient"."""
    rows = gap_bounds(disparities[disparities.metric.isin(DIFFERENCE_METRICS)])
    rows = rows.assign(
        group=rows.cohort_attribute + "=" + rows.cohort_value + " vs " + rows.reference_value
    )
    groups = sorted(rows.group.unique())
    metrics = [m for m in DIFFERENCE_METRICS if m in set(rows.metric)]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    cells = rows.set_index(["group", "metric"])
    for group in groups:
        z_row, text_row = [], []
        for metric in metrics:
            if (group, metric) not in cells.index:
                z_row.append(None)
                text_row.append("")
                continue
            cell = cells.loc[(group, metric)]
            if cell.plotted:
                z_row.append(float(cell.value))
                text_row.append(f"{cell.value:+.3f}<br>[{cell.lower:+.3f}, {cell.upper:+.3f}]")
            else:
                z_row.append(None)
                text_row.append("insufficient")
        z.append(z_row)
        text.append(text_row)
    limit = max((abs(v) for r in z for v in r if v is not None), default=0.1)
    fig = _figure(
        go.Heatmap(
            name="difference",
            z=z,
            x=metrics,
            y=groups,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale="RdBu",
            zmid=0,
            zmin=-limit,
            zmax=limit,
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
            colorbar={"title": {"text": "group - ref"}},
        )
    )
    fig.update_layout(plot_bgcolor="#e0e0e0")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    return _style(fig, title, 160 + 46 * max(len(groups), 1))


def drift_heatmap(drift: pd.DataFrame, *, method: str, title: str) -> go.Figure:
    """``method``'s statistic per cohort x feature for one day; a cell is marked with the
    methods that flag drift there. Insufficient or undefined cells are empty (grey) and
    labelled "insufficient"."""
    rows = drift[drift.method == method]
    rows = rows.assign(cohort=cohort_names(rows.cohort_attribute, rows.cohort_value))
    flagged = (
        drift[drift.drifted.fillna(False).astype(bool)]
        .assign(cohort=lambda d: cohort_names(d.cohort_attribute, d.cohort_value))
        .groupby(["cohort", "feature"])
        .method.apply(lambda m: ", ".join(sorted(m)))
        .to_dict()
    )
    features = sorted(rows.feature.unique(), key=lambda f: (f == "score", f))
    cohorts = sorted(rows.cohort.unique(), key=lambda c: (c != "all", c))
    cells = rows.set_index(["cohort", "feature"])
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for cohort in cohorts:
        z_row, text_row = [], []
        for feature in features:
            if (cohort, feature) not in cells.index:
                z_row.append(None)
                text_row.append("")
                continue
            cell = cells.loc[(cohort, feature)]
            if bool(cell.sufficient) and pd.notna(cell.statistic):
                z_row.append(float(cell.statistic))
                flag = flagged.get((cohort, feature))
                text_row.append(f"{cell.statistic:.3f}" + (f"<br>drift: {flag}" if flag else ""))
            else:
                z_row.append(None)
                text_row.append("insufficient")
        z.append(z_row)
        text.append(text_row)
    threshold = float(rows.threshold.iloc[0]) if len(rows) else 0.25
    top = max([threshold * 2, *(v for r in z for v in r if v is not None)])
    fig = _figure(
        go.Heatmap(
            name=method,
            z=z,
            x=features,
            y=cohorts,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale=[[0, "#fff7ec"], [threshold / top, "#fdbb84"], [1, "#b30000"]],
            zmin=0,
            zmax=top,
            hoverongaps=False,
            hovertemplate="%{y} / %{x}: %{text}<extra></extra>",
            colorbar={"title": {"text": method}},
        )
    )
    fig.update_layout(plot_bgcolor="#e0e0e0")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    _note(
        fig, f"threshold {method} >= {threshold:g}; 'drift:' lists every method that flags the cell"
    )
    return _style(fig, title, 180 + 40 * max(len(cohorts), 1))


def reliability(curves: pd.DataFrame, *, title: str, min_count: int) -> go.Figure:
    """Observed positive rate against mean score per score bin, one line per cohort, each
    bin with its Wilson 95% interval as an error bar; the diagonal is perfect calibration.
    Bins with fewer than ``min_count`` labelled predictions are left out and counted in a
    note."""
    fig = _figure(
        go.Scatter(
            name="perfectly calibrated",
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "#757575"},
        )
    )
    cohorts = sorted(curves.cohort_value.unique(), key=lambda c: (c != "all", c))
    left_out = 0
    for i, cohort in enumerate(cohorts):
        rows = curves[curves.cohort_value == cohort]
        shown = rows[rows.sufficient.astype(bool)]
        left_out += int((~rows.sufficient.astype(bool) & (rows.n > 0)).sum())
        observed = shown.observed.astype(float)
        fig.add_trace(
            go.Scatter(
                name=cohort,
                x=finite_or_none(shown.mean_score),
                y=finite_or_none(observed),
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": finite_or_none(shown.upper.astype(float) - observed),
                    "arrayminus": finite_or_none(observed - shown.lower.astype(float)),
                    "thickness": 1,
                },
                customdata=shown.n.to_numpy(),
                hovertemplate=f"{cohort}: mean score %{{x:.2f}}, observed %{{y:.2f}}"
                " (n %{customdata})<extra></extra>",
            )
        )
    fig.update_xaxes(range=[0, 1], title="mean score in bin")
    fig.update_yaxes(range=[0, 1], title="observed positive rate")
    if left_out:
        _note(
            fig,
            f"{left_out} bin(s) with fewer than {min_count} labelled predictions: "
            "insufficient, not drawn",
            y=-0.16,
        )
    return _style(fig, title, 420)


def label_coverage(label_status: pd.DataFrame, *, title: str) -> go.Figure:
    """Label coverage per day (bars) and label lag quantiles in days (lines)."""
    rows = label_status.sort_values("partition_date")
    x = _days(rows.partition_date)
    fig = _subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=["label coverage (labelled / predictions)", "label lag (days)"],
    )
    fig.add_trace(
        go.Bar(
            name="coverage",
            x=x,
            y=finite_or_none(rows.coverage),
            marker={"color": LINE_COLOR},
            customdata=np.column_stack([rows.labelled, rows.predictions]) if len(rows) else None,
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for quantile, dash in (("p50", "solid"), ("p90", "dash"), ("p99", "dot")):
        fig.add_trace(
            go.Scatter(
                name=f"lag {quantile}",
                x=x,
                y=finite_or_none(rows[f"lag_{quantile}_days"]),
                mode="lines+markers",
                line={"dash": dash, "color": "#d55e00"},
                hovertemplate=f"%{{x}}: {quantile} %{{y:.1f}} days<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(type="date")
    _note(fig, "lag quantiles are right-censored: labels still to come are not in them", y=-0.1)
    return _style(fig, title, 480)
