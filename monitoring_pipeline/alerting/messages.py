"""Alert evidence ranking and message formatting (plain data in, plain data out).

The evidence of an alert is a JSON-ready mapping built by ``pipeline.alerts``; this module
turns it into the one-line summary (log, Slack ``text``) and Slack Block Kit ``blocks``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["rank_worst_cohorts", "slack_payload", "summary_line"]

WORST_COHORTS = 3
SHOWN_DAYS = 10


def rank_worst_cohorts(
    rows: pd.DataFrame, objective_op: str, objective_value: float, limit: int = WORST_COHORTS
) -> list[dict[str, Any]]:
    """The ``limit`` cohorts furthest beyond the objective, clearest evidence first.

    ``rows``: one row per cohort with ``cohort, value, lower, upper, sufficient``. For an
    upper objective (``<``, ``<=``) a cohort is as bad as its interval's lower bound (its
    value when it has no interval); for a lower one, as its upper bound. Sufficient cohorts
    come before insufficient ones, whose figures cannot raise an alert; undefined values last.
    ``beyond_objective`` says whether the whole interval lies beyond the objective.
    """
    if rows.empty:
        return []
    upper_objective = objective_op in ("<", "<=")
    value = rows["value"].astype(float).to_numpy()
    lower = rows["lower"].astype(float).to_numpy()
    upper = rows["upper"].astype(float).to_numpy()
    bound = np.where(
        np.isnan(lower if upper_objective else upper), value, lower if upper_objective else upper
    )
    badness = bound - objective_value if upper_objective else objective_value - bound
    point = value - objective_value if upper_objective else objective_value - value
    ranked = rows.assign(
        rank_badness=np.where(np.isnan(badness), -np.inf, badness),
        rank_point=np.where(np.isnan(point), -np.inf, point),  # ties: the worse point value
        rank_sufficient=rows["sufficient"].astype(bool),
        rank_cohort=rows["cohort"].astype(str),
    ).sort_values(
        ["rank_sufficient", "rank_badness", "rank_point", "rank_cohort"],
        ascending=[False, False, False, True],
    )
    out = []
    for row in ranked.head(limit).itertuples(index=False):
        out.append(
            {
                "cohort": str(row.cohort),
                "value": _number(row.value),
                "lower": _number(row.lower),
                "upper": _number(row.upper),
                "sufficient": bool(row.rank_sufficient),
                "beyond_objective": bool(row.rank_sufficient and row.rank_badness > 0),
            }
        )
    return out


def summary_line(evidence: Mapping[str, Any]) -> str:
    """One line: level, model/SLO, burn and budget, the worst cohort."""
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
    worst = evidence.get("worst_cohorts") or []
    if worst and evidence["kind"] == "firing":
        text += f"; worst {_cohort(worst[0])}"
    if objective:
        text += f" (objective {objective})"
    return text


def slack_payload(evidence: Mapping[str, Any], dedupe_key: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the summary, also the notification
    fallback) and Block Kit ``blocks`` with the budget, worst cohorts and bad days."""
    text = summary_line(evidence)
    budget = evidence.get("budget") or {}
    title = (
        f"Resolved: {evidence['model_name']} / {evidence['subject']}"
        if evidence["kind"] == "resolved"
        else f"{evidence['severity'].upper()}: {evidence['model_name']} / {evidence['subject']}"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
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
    worst = evidence.get("worst_cohorts") or []
    if worst:
        lines = "\n".join(f"• {_cohort(c)}" for c in worst)
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
