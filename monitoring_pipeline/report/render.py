"""Assemble one model's report (three pages in one self-contained HTML file) from the
frames read for it. Pure: frames and config in, HTML text and key figures out.

plotly.js is inlined once in the page head, so the file opens with no network.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote, urlencode

import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from monitoring_pipeline.alerting.worst_cohorts import worst_cohorts
from monitoring_pipeline.config.models import (
    ANY,
    CanarySLI,
    CohortChangeSLI,
    CohortMetricSLI,
    ComplaintSLI,
    DriftSLI,
    FairnessSLI,
    LinksConfig,
    ModelConfig,
    OperationalSLI,
    SLOConfig,
)
from monitoring_pipeline.core.version_comparison import canary_harm
from monitoring_pipeline.report import figures
from monitoring_pipeline.report.summaries import (
    BURNING,
    current_budgets,
    evidence_day,
    is_ratio,
    label_lag_days,
    reliability_curves,
)
from monitoring_pipeline.storage.report_queries import RATE_METRICS, ReportFrames

PAGES = {
    "executive": "Executive",
    "oncall": "On-call",
    "debug": "Debug",
}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

# How many cohorts the on-call page draws per SLO, worst first.
REPORT_WORST_COHORTS = 8


@dataclass(frozen=True)
class KeyFigures:
    """What the report's front says, for a caller to show elsewhere (Dagster metadata)."""

    day: date
    start: date
    evidence_day: date | None
    drift_day: date | None
    paging: list[str]
    ticketing: list[str]
    lowest_budget_slo: str | None
    lowest_budget_remaining: float | None
    worst_gap: dict | None


@dataclass(frozen=True)
class RenderedReport:
    html: str
    figures: KeyFigures
    plots: dict[str, list[str]] = field(default_factory=dict)  # page -> plot element ids


def dagster_asset_url(links: LinksConfig, model_name: str, asset: str, day: date) -> str:
    """The Dagster UI page of one asset partition (the UI's ``/assets/<key>?view=partitions
    &partition=<day>`` route)."""
    path = "/".join(quote(part, safe="") for part in (model_name, asset))
    query = urlencode({"view": "partitions", "partition": day.isoformat()})
    return f"{links.dagster_url}/assets/{path}?{query}"


def dagster_runs_url(links: LinksConfig, job_name: str) -> str:
    """The Dagster UI run list filtered to one job."""
    return f"{links.dagster_url}/runs?{urlencode({'q[]': f'job:{job_name}'})}"


def _id(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", part) for part in parts)


def _subject_with_members(subject: str, bad_members) -> str:
    """The subject, and for a set SLO with several bad members the others after it."""
    others = [m for m in (bad_members if isinstance(bad_members, list) else []) if m != subject]
    if not others:
        return subject
    shown = ", ".join(others[:3]) + (f" +{len(others) - 3} more" if len(others) > 3 else "")
    return f"{subject} (also bad: {shown})"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: object, fmt: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "–"
    return format(value, fmt)


def _day(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return pd.Timestamp(value).date().isoformat()


def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}" target="_blank" rel="noopener">{_e(text)}</a>'


def _table(headers: list[str], rows: list[list[str]], *, empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Page:
    """Collects one page's HTML parts and the ids of its plots."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[str] = []
        self.plots: list[str] = []

    def text(self, markup: str) -> None:
        self.parts.append(markup)

    def plot(self, fig, *parts: str) -> None:
        div_id = _id(self.name, *parts)
        self.plots.append(div_id)
        self.parts.append(
            '<div class="plot">'
            + pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=False,
                div_id=div_id,
                config=PLOT_CONFIG,
                validate=False,
            )
            + "</div>"
        )


def render_report(
    frames: ReportFrames,
    *,
    model_name: str,
    model: ModelConfig,
    min_size: int,
    day: date,
    start: date,
    links: LinksConfig,
    generated_at: datetime,
) -> RenderedReport:
    """The report of ``model_name`` for the window ``start`` .. ``day``."""
    slos = {slo.name: slo for slo in model.slos}
    window_budgets = frames.budgets[frames.budgets.partition_date >= start]
    current = current_budgets(frames.budgets, day)
    evidence = evidence_day(frames.metrics, frames.disparities)
    key = _key_figures(frames, current, day=day, start=start, evidence=evidence)

    executive = _Page("executive")
    _executive(executive, frames, window_budgets, current, slos, key)
    oncall = _Page("oncall")
    _oncall(oncall, frames, current, slos, key, model_name=model_name, links=links)
    debug = _Page("debug")
    _debug(debug, frames, model, key, min_size=min_size)

    header = (
        f"<h1>{_e(model_name)}</h1>"
        f'<p class="lede">{_e(model.description or "")} '
        f"Window <b>{start.isoformat()}</b> .. <b>{day.isoformat()}</b> "
        f"({(day - start).days + 1} days). Newest day with sufficient evidence: "
        f"<b>{_e(evidence.isoformat() if evidence else 'none in the window')}</b>"
        + (
            " (later days have too few labels to judge cohorts)"
            if evidence and evidence < day
            else ""
        )
        + f". Generated {generated_at.strftime('%Y-%m-%d %H:%M')} UTC.</p>"
    )
    pages = [executive, oncall, debug]
    nav = "".join(f'<a href="#{p.name}">{_e(PAGES[p.name])}</a>' for p in pages)
    sections = "".join(
        f'<section class="page" id="page-{p.name}" data-page="{p.name}">'
        f"<h2>{_e(PAGES[p.name])}</h2>" + "".join(p.parts) + "</section>"
        for p in pages
    )
    document = _DOCUMENT.format(
        title=_e(f"{model_name} report {day.isoformat()}"),
        plotly=get_plotlyjs(),
        header=header,
        nav=nav,
        sections=sections,
    )
    return RenderedReport(document, key, {p.name: p.plots for p in pages})


def _key_figures(
    frames: ReportFrames, current: pd.DataFrame, *, day: date, start: date, evidence: date | None
) -> KeyFigures:
    lowest = current.dropna(subset=["remaining_fraction"]).sort_values("remaining_fraction")
    worst_gap = None
    if evidence is not None:
        rows = frames.disparities[
            (frames.disparities.partition_date == evidence)
            & frames.disparities.sufficient.astype(bool)
            & frames.disparities.metric.isin(figures.DIFFERENCE_METRICS)
        ].dropna(subset=["value"])
        if len(rows):
            top = rows.loc[rows.value.abs().idxmax()]
            worst_gap = {
                "day": evidence.isoformat(),
                "metric": top.metric,
                "group": f"{top.cohort_attribute}={top.cohort_value} vs {top.reference_value}",
                "value": float(top.value),
                "lower": float(top.lower),
                "upper": float(top.upper),
            }
    return KeyFigures(
        day=day,
        start=start,
        evidence_day=evidence,
        drift_day=frames.drift_day,
        paging=sorted(current.slo_name[current.status == "page"]),
        ticketing=sorted(current.slo_name[current.status == "ticket"]),
        lowest_budget_slo=str(lowest.slo_name.iloc[0]) if len(lowest) else None,
        lowest_budget_remaining=float(lowest.remaining_fraction.iloc[0]) if len(lowest) else None,
        worst_gap=worst_gap,
    )


def _executive(page, frames, window_budgets, current, slos, key: KeyFigures) -> None:
    rows = [
        [
            _e(r.slo_name),
            _badge(r.status),
            _e(_slo_text(slos.get(r.slo_name))),
            _num(r.remaining_fraction, ".0%"),
            f"{_num(r.burn_rate_short)} / {_num(r.burn_rate_long)}",
            _day(r.evidence_through),
        ]
        for r in current.itertuples()
    ]
    page.text(
        f"<h3>SLO status on {key.day.isoformat()}</h3>"
        + _table(
            ["SLO", "status", "objective", "budget left", "burn short / long", "evidence through"],
            rows,
            empty="No error budget on this day.",
        )
    )
    page.plot(
        figures.status_timeline(window_budgets, title="Budget status per day (ok / ticket / page)"),
        "status",
    )
    page.plot(
        figures.budget_bars(current, title=f"Error budget remaining on {key.day.isoformat()}"),
        "budgets",
    )
    gaps = [s for s in slos.values() if isinstance(s.sli, FairnessSLI)] or list(slos.values())
    for slo in gaps:
        rows = frames.evaluations[frames.evaluations.slo_name == slo.name]
        page.plot(
            figures.sli_trend(rows, title=f"{slo.name}: {_slo_text(slo)}, daily, 95% interval"),
            "trend",
            slo.name,
        )
    # What people complain about, group by group: the harm no score shows.
    for slo in (s for s in slos.values() if isinstance(s.sli, ComplaintSLI)):
        attribute = slo.sli.cohort.partition("=")[0] if slo.sli.cohort != "*" else None
        page.plot(
            figures.complaint_rates(
                frames.complaints,
                attribute=None if attribute == "all" else attribute,
                objective=slo.objective.value,
                title=f"{slo.name}: complaint rate per {attribute or 'cohort'}, daily, "
                "95% interval",
            ),
            "complaints",
            slo.name,
        )


def _oncall(page, frames, current, slos, key: KeyFigures, *, model_name, links) -> None:
    burning = current[current.status.isin(BURNING)]
    rows = [
        [
            _e(r.slo_name),
            _badge(r.status),
            _day(r.episode_start),
            _day(r.evidence_through),
            f"{_num(r.burn_rate_short)} / {_num(r.burn_rate_long)}",
            f"{_num(r.remaining_days, '+.1f')} of {_num(r.budget_days, '.1f')}",
            _link(dagster_asset_url(links, model_name, "error_budgets", key.day), "budget")
            + " · "
            + _link(
                dagster_asset_url(
                    links,
                    model_name,
                    "slo_evaluations",
                    pd.Timestamp(r.evidence_through).date()
                    if pd.notna(r.evidence_through)
                    else key.day,
                ),
                "evaluation",
            ),
        ]
        for r in burning.itertuples()
    ]
    page.text(
        f"<h3>Burning on {key.day.isoformat()}</h3>"
        + _table(
            [
                "SLO",
                "status",
                "since",
                "evidence through",
                "burn short / long",
                "bad days left",
                "Dagster",
            ],
            rows,
            empty=f"Nothing is burning on {key.day.isoformat()}: every SLO is ok.",
        )
    )
    page.plot(
        figures.verdict_timeline(
            frames.evaluations, title="Daily verdicts per SLO (bad = clear evidence)"
        ),
        "verdicts",
    )
    for r in burning.itertuples():
        slo = slos.get(r.slo_name)
        if slo is None:
            continue
        as_of = pd.Timestamp(r.evidence_through).date() if pd.notna(r.evidence_through) else key.day
        judged = frames.evaluations[
            (frames.evaluations.slo_name == slo.name) & (frames.evaluations.partition_date == as_of)
        ]
        if len(judged):  # an adaptive objective: the band edge the day was judged against
            slo = slo.judged_against(judged.objective_value.iloc[0])
        cohorts, shown_day = _sli_cohorts(frames, slo, as_of)
        page.text(f"<h3>{_e(slo.name)}: {_badge(r.status)} since {_day(r.episode_start)}</h3>")
        page.plot(
            figures.worst_cohorts_figure(
                cohorts,
                title=f"{slo.name}: worst cohorts on {_day(shown_day)} (95% interval)",
                objective_op=slo.objective.op,
                objective_value=slo.objective.value,
                two_sided=(isinstance(slo.sli, FairnessSLI) and not is_ratio(slo.sli.metric))
                or isinstance(slo.sli, CohortChangeSLI),
            ),
            "worst",
            slo.name,
        )
        bad = frames.evaluations[
            (frames.evaluations.slo_name == slo.name) & (frames.evaluations.status == "bad")
        ]
        bad_rows = [
            [
                _link(dagster_asset_url(links, model_name, "slo_evaluations", d), d.isoformat()),
                _e(_subject_with_members(b.sli_subject, b.bad_members)),
                f"{_num(b.value, '.3f')} [{_num(b.lower, '.3f')}, {_num(b.upper, '.3f')}]",
                _link(
                    dagster_asset_url(links, model_name, _asset_of(slo.sli.source), d),
                    slo.sli.source,
                ),
            ]
            for b in bad.sort_values("partition_date", ascending=False).itertuples()
            for d in [pd.Timestamp(b.partition_date).date()]
        ]
        page.text(
            "<h4>Bad days in the window</h4>"
            + _table(
                ["day (Dagster partition)", "subject", "value [95% interval]", "source asset"],
                bad_rows,
                empty="No bad day in the window.",
            )
        )
    alert_rows = [
        [
            _day(a.as_of),
            _badge(a.severity),
            _e(a.kind),
            _e(a.subject),
            _day(a.episode_start),
            _e(a.delivery_status),
            _e(a.summary or a.reason),
        ]
        for a in frames.alerts.itertuples()
    ]
    page.text(
        "<h3>Alerts of the model in the window</h3>"
        + _table(
            ["as of", "severity", "kind", "subject", "episode start", "delivery", "summary"],
            alert_rows,
            empty="No alert recorded in the window.",
        )
        + '<p class="muted">Alert runs in Dagster: '
        + _link(dagster_runs_url(links, "alert_job"), "alert_job")
        + "</p>"
    )


def _asset_of(source: str) -> str:
    """The asset that writes an SLI source table (cohort_changes comes with cohort_metrics)."""
    return {
        "cohort_changes": "cohort_metrics",
        "estimated_disparities": "performance_estimates",
    }.get(source, source)  # operational_metrics, complaint_metrics are their own assets


def _sli_cohorts(frames: ReportFrames, slo: SLOConfig, day: date) -> tuple[pd.DataFrame, date]:
    """Every cohort's figure of the SLO's metric on ``day``, worst first by the one ranking
    alerts and retraining requests use, as ``cohort, value, lower, upper, sufficient``
    (and ``reference_value`` for a gap); drift figures come from the drift day."""
    sli = slo.sli
    if isinstance(sli, FairnessSLI):
        gaps = (
            frames.estimated_disparities
            if sli.source == "estimated_disparities"
            else frames.disparities
        )
        rows = gaps[
            (gaps.partition_date == day)
            & ((gaps.cohort_attribute == sli.attribute) | (sli.attribute == ANY))
            & (gaps.metric == sli.metric)
        ]
    elif isinstance(sli, CanarySLI):
        day_rows = frames.version_comparison
        day_rows = day_rows[(day_rows.partition_date == day) & (day_rows.metric == sli.metric)]
        rows = canary_harm(day_rows)
    elif isinstance(sli, OperationalSLI):
        rows = frames.operational[
            (frames.operational.partition_date == day) & (frames.operational.metric == sli.metric)
        ]
    elif isinstance(sli, ComplaintSLI):
        rows = frames.complaints[frames.complaints.partition_date == day]
    elif isinstance(sli, CohortMetricSLI):
        rows = frames.metrics[
            (frames.metrics.partition_date == day) & (frames.metrics.metric == sli.metric)
        ].drop(columns=["reference_value"], errors="ignore")
    elif isinstance(sli, CohortChangeSLI):
        rows = frames.changes[
            (frames.changes.partition_date == day) & (frames.changes.metric == sli.metric)
        ]
    else:
        assert isinstance(sli, DriftSLI)
        day = frames.drift_day or day
        rows = frames.drift[
            ((frames.drift.feature == sli.feature) | (sli.feature == ANY))
            & (frames.drift.method == sli.method)
        ].rename(columns={"statistic": "value"})
    columns = ["cohort", "value", "lower", "upper", "sufficient"]
    if "reference_value" in rows:
        columns.append("reference_value")
    return worst_cohorts(rows, slo, limit=REPORT_WORST_COHORTS)[columns], day


def _debug(page, frames: ReportFrames, model: ModelConfig, key: KeyFigures, *, min_size) -> None:
    attributes = list(model.cohorts.attributes)
    metrics = frames.metrics[frames.metrics.metric.isin(RATE_METRICS)]
    page.text(
        "<h3>Per-cohort rates over time</h3><p class=muted>Each point with its Wilson 95% "
        f"interval; cohorts with fewer than {min_size} labelled predictions (or an undefined "
        "rate) are marked in the grey strip under each axis, not drawn as values.</p>"
    )
    for attribute in attributes:
        rows = metrics[metrics.cohort_attribute.isin(["all", attribute])]
        page.plot(
            figures.cohort_rates(
                rows,
                metrics_order=RATE_METRICS,
                title=f"Rates by {attribute}",
                min_size=min_size,
            ),
            "rates",
            attribute,
        )
    evidence = key.evidence_day
    disparities = (
        frames.disparities[frames.disparities.partition_date == evidence]
        if evidence
        else frames.disparities.iloc[0:0]
    )
    page.plot(
        figures.disparity_heatmap(
            disparities,
            title=f"Disparities against the reference group on {_day(evidence)} "
            "(newest day with sufficient evidence)",
        ),
        "disparities",
    )
    page.plot(
        figures.drift_heatmap(
            frames.drift,
            method="psi",
            title=f"Drift (PSI) per cohort and feature on {_day(key.drift_day)}",
        ),
        "drift",
    )
    curves = reliability_curves(frames.calibration, min_count=min_size)
    for attribute in attributes:
        rows = curves[curves.cohort_attribute.isin(["all", attribute])]
        page.plot(
            figures.reliability(
                rows,
                title=f"Reliability by {attribute} over the window",
                min_count=min_size,
            ),
            "calibration",
            attribute,
        )
    page.plot(
        figures.label_coverage(
            label_lag_days(frames.label_status), title="Label coverage and lag per day"
        ),
        "labels",
    )


def _slo_text(slo: SLOConfig | None) -> str:
    if slo is None:
        return "(not in the config)"
    sli = slo.sli
    if isinstance(sli, FairnessSLI):
        what = f"|{sli.metric}| by {sli.attribute}" + (f"={sli.group}" if sli.group else "")
        if sli.source == "estimated_disparities":
            what = f"estimated {what} (from scores, while labels lag)"
        if is_ratio(sli.metric):
            what = f"{sli.metric} by {sli.attribute}"
    elif isinstance(sli, CanarySLI):
        what = f"how much worse the canary's {sli.metric} is, {sli.cohort}"
    elif isinstance(sli, CohortMetricSLI):
        what = f"{sli.metric} of {sli.cohort}"
    elif isinstance(sli, CohortChangeSLI):
        what = f"|change of {sli.metric} from baseline| of {sli.cohort}"
    else:
        what = f"{sli.method} of {sli.feature} @ {sli.cohort}"
    return f"{what} {slo.objective.op} {slo.objective.value:g}"


_DOCUMENT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #212121; background: #fafafa; }}
header {{ padding: 12px 24px 0 24px; background: #fff; border-bottom: 1px solid #ddd; }}
h1 {{ margin: 0 0 4px 0; font-size: 22px; }}
.lede {{ margin: 0 0 8px 0; color: #424242; }}
nav a {{ display: inline-block; padding: 8px 16px; margin-right: 4px; text-decoration: none;
         color: #1565c0; border: 1px solid #ddd; border-bottom: none;
         border-radius: 6px 6px 0 0; background: #f5f5f5; }}
nav a.active {{ background: #fafafa; color: #212121; font-weight: 600; }}
section.page {{ padding: 8px 24px 40px 24px; }}
section.page[hidden] {{ display: none; }}
.plot {{ background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; margin: 12px 0;
         padding: 4px; }}
table {{ border-collapse: collapse; background: #fff; margin: 8px 0; font-size: 14px; }}
th, td {{ border: 1px solid #e0e0e0; padding: 4px 10px; text-align: left;
          vertical-align: top; }}
th {{ background: #f5f5f5; }}
.badge {{ display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
          font-size: 12px; font-weight: 600; }}
.badge.ok {{ background: #2e7d32; }} .badge.ticket {{ background: #f9a825; color: #212121; }}
.badge.page {{ background: #c62828; }}
.muted {{ color: #616161; font-size: 13px; }}
</style>
<script type="text/javascript">{plotly}</script>
</head>
<body>
<header>{header}<nav>{nav}</nav></header>
<main>{sections}</main>
<script type="text/javascript">
(function () {{
  var pages = Array.prototype.slice.call(document.querySelectorAll("section.page"));
  // Pages are addressed as #executive, #oncall, #debug; their elements are page-<name>,
  // so the browser never jumps to them by itself.
  function show(name) {{
    var names = pages.map(function (p) {{ return p.dataset.page; }});
    if (names.indexOf(name) < 0) {{ name = names[0]; }}
    pages.forEach(function (p) {{ p.hidden = p.dataset.page !== name; }});
    document.querySelectorAll("nav a").forEach(function (a) {{
      a.classList.toggle("active", a.getAttribute("href") === "#" + name);
    }});
    // A plot drawn while its page was hidden has no width yet: size it now.
    document.querySelectorAll("#page-" + name + " .js-plotly-plot").forEach(function (plot) {{
      Plotly.Plots.resize(plot);
    }});
  }}
  window.addEventListener("hashchange", function () {{ show(location.hash.slice(1)); }});
  show(location.hash.slice(1));
}})();
</script>
</body>
</html>
"""
