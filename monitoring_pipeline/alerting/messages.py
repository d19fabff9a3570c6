"""Alert evidence ranking and message formatting (plain data in, plain data out).

The evidence of an alert is a JSON-ready mapping built by ``pipeline.alerts`` (error
budgets) or ``pipeline.health_alerts`` (pipeline health: a ``finding`` instead of a
``budget``), with where it leads (``links``: ``runbook``, ``report``, ``dagster``; and
``owners``); this module turns it into the one-line summary, the log line, and a Slack
message (``text`` and Block Kit ``blocks``, the links as mrkdwn ``<url|label>`` and
buttons).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from monitoring_pipeline.alerting.health_signals import HEALTH_SOURCE
from monitoring_pipeline.core.worst_cohorts import rank_worst_cohorts as rank_cohorts

__all__ = [
    "links_line",
    "log_line",
    "named_days",
    "rank_worst_cohorts",
    "slack_payload",
    "summary_line",
]

WORST_COHORTS = 3
SHOWN_DAYS = 10
# The links an alert may carry, in the order they are shown: what to do first.
LINK_LABELS = (("runbook", "Runbook"), ("report", "Report"), ("dagster", "Dagster partition"))


def rank_worst_cohorts(
    rows: pd.DataFrame, objective_op: str, objective_value: float, limit: int = WORST_COHORTS
) -> list[dict[str, Any]]:
    """The ``limit`` cohorts furthest beyond the objective, clearest evidence first, by the
    one ranking of :mod:`monitoring_pipeline.core.worst_cohorts`, as the alert's evidence
    shows them: ``cohort`` with its stored ``value, lower, upper`` (a gap keeps its sign),
    ``sufficient``, and ``beyond_objective`` (the whole judged interval lies beyond the
    objective).

    ``rows``: one row per cohort with ``cohort, value, lower, upper, sufficient`` and
    optionally ``judged_value, judged_lower, judged_upper`` (see ``sli_cohort_figures``).
    """
    ranked = rank_cohorts(rows, objective_op, objective_value, limit)
    return [
        {
            "cohort": str(row.cohort),
            "value": _number(row.value),
            "lower": _number(row.lower),
            "upper": _number(row.upper),
            "sufficient": bool(row.sufficient),
            "beyond_objective": bool(row.beyond_objective),
        }
        for row in ranked.itertuples(index=False)
    ]


def summary_line(evidence: Mapping[str, Any]) -> str:
    """One line: level, model/SLO, burn and budget, the worst cohort (a gap with its sign
    as stored), a set SLO's bad members when there are several, the owners; for a health alert, level, model/check, the finding's message
    with its figure and limit, the owners."""
    if evidence.get("source") == HEALTH_SOURCE:
        return _health_summary(evidence) + _owners_suffix(evidence)
    head = f"{evidence['model_name']}/{evidence['subject']}"
    budget = evidence.get("budget") or {}
    objective = evidence.get("objective", "")
    if evidence["kind"] == "resolved":
        text = (
            f"[RESOLVED {evidence['severity']}] {head} is back to ok as of {evidence['as_of']}"
            f" (open since {evidence['episode_start']})"
        )
    else:
        text = f"[{evidence['severity'].upper()}] {head}: {evidence['reason']}"
    if budget:
        text += (
            f"; burn {_rate(budget.get('burn_rate_long'))} over {budget.get('long_window_days')}d"
            f" / {_rate(budget.get('burn_rate_short'))} over {budget.get('short_window_days')}d"
            f", {budget.get('bad_days')} bad of {budget.get('known_days')} known days"
            f", budget remaining {_fixed(budget.get('remaining_days'))}"
            f" of {_fixed(budget.get('budget_days'))} days"
        )
    worst = _verdict_first(evidence)
    if worst and evidence["kind"] == "firing":
        text += f"; worst {_cohort(worst[0])}"
    last_bad = (evidence.get("affected_partitions") or [])[-1:]
    reading = evidence.get("reading") or {}
    if last_bad and reading.get("status") != "bad" and evidence["kind"] == "firing":
        # The budget burns from an earlier day than the evidence day: name that day's
        # violation too, or the page would show only cohorts that are fine today.
        text += f"; last bad day {last_bad[0]['day']}: {last_bad[0]['subject']}"
    recommendation = evidence.get("recommendation")
    if recommendation and evidence["kind"] == "firing":
        text += f"; recommended: {recommendation['text']}"
    bad_members = _bad_members(evidence)
    if len(bad_members) > 1 and evidence["kind"] == "firing":
        text += f"; {len(bad_members)} bad members {_members_text(bad_members)}"
    if objective:
        text += f" (objective {objective})"
    return text + _owners_suffix(evidence)


def _verdict_first(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The evidence's worst cohorts, the cohort the SLO judged bad on the evidence day
    first: a small cohort judged on its interval ranks after the sufficient ones, yet it
    is what the alert is about."""
    worst = list(evidence.get("worst_cohorts") or [])
    reading = evidence.get("reading") or {}
    if reading.get("status") != "bad":
        return worst
    judged = [c for c in worst if c.get("cohort") == reading.get("subject")]
    return judged + [c for c in worst if c.get("cohort") != reading.get("subject")]


def _bad_members(evidence: Mapping[str, Any]) -> list[str]:
    """The bad members of a set SLO on the evidence day (its ``reading``), clearest
    violation first; empty for an SLO on one cohort or feature."""
    reading = evidence.get("reading") or {}
    if (reading.get("members") or 1) <= 1:
        return []
    return list(reading.get("bad_members") or [])


def _members_text(members: list[str], limit: int = WORST_COHORTS) -> str:
    more = f" (+{len(members) - limit} more)" if len(members) > limit else ""
    return ", ".join(members[:limit]) + more


def links_line(evidence: Mapping[str, Any], *, mrkdwn: bool = False) -> str:
    """The alert's links on one line, runbook first: ``runbook <url> | report <url> |
    dagster partition <url>``, or Slack mrkdwn ``<url|Runbook> | ...``; empty without links."""
    if mrkdwn:
        parts = [f"<{_escape(url)}|{label}>" for _, label, url in _links(evidence)]
    else:
        parts = [f"{label.lower()} {url}" for _, label, url in _links(evidence)]
    return " | ".join(parts)


def log_line(evidence: Mapping[str, Any], dedupe_key: str) -> str:
    """The line written to the run's log: the summary, the dedupe key, the links."""
    links = links_line(evidence)
    return f"ALERT {summary_line(evidence)} [{dedupe_key}]" + (f" {links}" if links else "")


def _links(evidence: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(name, label, url) of each link the evidence carries, in ``LINK_LABELS`` order."""
    links = evidence.get("links") or {}
    return [(name, label, links[name]) for name, label in LINK_LABELS if links.get(name)]


def _owners_suffix(evidence: Mapping[str, Any]) -> str:
    owners = evidence.get("owners") or []
    return f"; owners {', '.join(owners)}" if owners else ""


def _escape(text: str) -> str:
    """Slack's control characters as the entities its mrkdwn expects (``&`` in a URL too)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(evidence: Mapping[str, Any]) -> str:
    """Slack's ``text`` (the notification and the fallback for clients without blocks):
    the summary, then the links in mrkdwn on a second line."""
    links = links_line(evidence, mrkdwn=True)
    return _escape(summary_line(evidence)) + (f"\n{links}" if links else "")


def _link_blocks(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A section with the owners and every link (mrkdwn), and buttons for the web links
    (a ``file://`` report is shown as its path: Slack opens http(s) links only)."""
    if "links" not in evidence and "owners" not in evidence:
        return []  # evidence gathered before alerts carried links
    owners = evidence.get("owners") or []
    fields = [f"*Owners*\n{_escape(', '.join(owners)) if owners else 'none configured'}"]
    buttons = []
    for name, label, url in _links(evidence):
        web = url.startswith(("http://", "https://"))
        shown = f"<{_escape(url)}|{_link_text(name, evidence)}>" if web else f"`{_escape(url)}`"
        fields.append(f"*{label}*\n{shown}")
        if web:
            buttons.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": label},
                    "url": url,
                    "action_id": f"open_{name}",
                }
            )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields]}
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _link_text(name: str, evidence: Mapping[str, Any]) -> str:
    """What a link is called in the message: which page of which day."""
    day = evidence.get("as_of")
    if name == "report":
        return _escape(f"{evidence['model_name']} report {day}")
    if name == "dagster":
        return _escape(f"{evidence.get('dagster_asset', evidence['model_name'])} {day}")
    return _escape(f"runbook of {evidence['subject']}")


def slack_payload(evidence: Mapping[str, Any], dedupe_key: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the summary and the links, also the
    notification fallback) and Block Kit ``blocks``: the summary, owners and links (with
    buttons), the budget, worst cohorts and bad days (for a health alert: the finding, the
    days its details name, the episode's days)."""
    if evidence.get("source") == HEALTH_SOURCE:
        return _health_payload(evidence, dedupe_key)
    summary, text = summary_line(evidence), _text(evidence)
    budget = evidence.get("budget") or {}
    title = (
        f"Resolved: {evidence['model_name']} / {evidence['subject']}"
        if evidence["kind"] == "resolved"
        else f"{evidence['severity'].upper()}: {evidence['model_name']} / {evidence['subject']}"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(summary)[:3000]}},
        *_link_blocks(evidence),
    ]
    if budget:
        fields = [
            f"*Budget status*\n{budget.get('status')} (evidence through {budget.get('evidence_through')})",
            f"*Burn rate*\n{_rate(budget.get('burn_rate_long'))} ({budget.get('long_window_days')}d)"
            f" / {_rate(budget.get('burn_rate_short'))} ({budget.get('short_window_days')}d)",
            f"*Bad / known days*\n{budget.get('bad_days')} / {budget.get('known_days')}"
            f" of {budget.get('period_days')}",
            f"*Budget remaining*\n{_fixed(budget.get('remaining_days'))} of"
            f" {_fixed(budget.get('budget_days'))} days (target {budget.get('target')})",
        ]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}
        )
    bad_members = _bad_members(evidence)
    if bad_members:
        lines = "\n".join(f"• {_escape(m)}" for m in bad_members[:SHOWN_DAYS])
        more = f"\n(+{len(bad_members) - SHOWN_DAYS} more)" if len(bad_members) > SHOWN_DAYS else ""
        reading = evidence.get("reading") or {}
        head = f"*Bad members ({evidence.get('evidence_day')}, {reading.get('members')} judged)*"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{lines}{more}"[:3000]}}
        )
    worst = _verdict_first(evidence)
    if worst:
        lines = "\n".join(f"• {_escape(_cohort(c))}" for c in worst)  # "sex&age_band=..."
        day = evidence.get("evidence_day")
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Worst cohorts ({day})*\n{lines}"[:3000]},
            }
        )
    days = evidence.get("affected_partitions") or []
    if days:
        shown = ", ".join(str(d["day"]) for d in days[-SHOWN_DAYS:])
        more = f" (+{len(days) - SHOWN_DAYS} earlier)" if len(days) > SHOWN_DAYS else ""
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Bad days in the period*\n{shown}{more}"},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"dedupe key `{dedupe_key}`"}]}
    )
    return {"text": text, "blocks": blocks}


def _head(evidence: Mapping[str, Any]) -> str:
    return f"{evidence['model_name']}/{evidence['subject']}"


def _health_summary(evidence: Mapping[str, Any]) -> str:
    finding = evidence.get("finding") or {}
    if evidence["kind"] == "resolved":
        text = (
            f"[RESOLVED {evidence['severity']}] {_head(evidence)} is back to ok as of"
            f" {evidence['as_of']} (open since {evidence['episode_start']})"
        )
    else:
        text = f"[{evidence['severity'].upper()}] {_head(evidence)}: {evidence['reason']}"
    if finding.get("message"):
        text += f"; {finding['message']}"
    figures = _figures(finding)
    if figures and evidence["kind"] == "firing":
        text += f" ({figures})"
    return text


def _figures(finding: Mapping[str, Any]) -> str:
    observed, threshold = finding.get("observed"), finding.get("threshold")
    if observed is None and threshold is None:
        return ""
    return f"observed {_general(observed)}, threshold {_general(threshold)}"


def _health_payload(evidence: Mapping[str, Any], dedupe_key: str) -> dict[str, Any]:
    summary, text = summary_line(evidence), _text(evidence)
    finding = evidence.get("finding") or {}
    title = (
        f"Resolved: {evidence['model_name']} / {evidence['subject']} (pipeline health)"
        if evidence["kind"] == "resolved"
        else f"{evidence['severity'].upper()}: {evidence['model_name']} /"
        f" {evidence['subject']} (pipeline health)"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(summary)[:3000]}},
        *_link_blocks(evidence),
    ]
    if finding:
        fields = [
            f"*Status on {finding.get('day')}*\n{finding.get('status')}",
            f"*Observed / threshold*\n{_general(finding.get('observed'))} /"
            f" {_general(finding.get('threshold'))}",
            f"*Raises on fail*\n{finding.get('severity')}",
            f"*Episode*\nsince {evidence['episode_start']}",
        ]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}
        )
    named = named_days(finding.get("details") or {})
    if named:
        lines = "\n".join(f"• {key}: {days}" for key, days in named)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Days named*\n{lines}"[:3000]}}
        )
    episode = evidence.get("episode_days") or []
    if episode:
        shown = ", ".join(f"{d['day']} {d['status']}" for d in episode[-SHOWN_DAYS:])
        more = f" (+{len(episode) - SHOWN_DAYS} earlier)" if len(episode) > SHOWN_DAYS else ""
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Days of the episode*\n{shown}{more}"},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"dedupe key `{dedupe_key}`"}]}
    )
    return {"text": text, "blocks": blocks}


def named_days(details: Mapping[str, Any], limit: int = SHOWN_DAYS) -> list[tuple[str, str]]:
    """The days a health finding's ``details`` name, one line per key, at most ``limit``
    days each: lists of days (``missing``, ``low_days``, ...) and mappings keyed by day
    (``blocked`` with its checks, ``coverage_by_day`` with its figure, ...). Scalars (the
    judged window, settings) are left out.

        >>> named_days({"missing": ["2026-11-05"], "blocked": {"2026-11-06": ["keys"]}})
        [('missing', '2026-11-05'), ('blocked', '2026-11-06 (keys)')]
    """
    out = []
    for key, value in details.items():
        if isinstance(value, list | tuple) and value:
            items = [str(v) for v in value]
        elif isinstance(value, Mapping) and value:
            items = [f"{day} {_describe(v)}" for day, v in value.items()]
        else:
            continue
        shown = ", ".join(items[:limit])
        more = f" and {len(items) - limit} more" if len(items) > limit else ""
        out.append((key, shown + more))
    return out


def _describe(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"({', '.join(str(v) for v in value)})"
    if isinstance(value, float):
        return _general(value)
    return str(value)


def _general(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _cohort(cohort: Mapping[str, Any]) -> str:
    interval = ""
    if cohort.get("lower") is not None and cohort.get("upper") is not None:
        interval = f" [95% {cohort['lower']:.3f}, {cohort['upper']:.3f}]"
    value = "n/a" if cohort.get("value") is None else f"{cohort['value']:.3f}"
    flag = "" if cohort.get("sufficient", True) else " (insufficient)"
    return f"{cohort['cohort']} {value}{interval}{flag}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def _fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return float(value)
