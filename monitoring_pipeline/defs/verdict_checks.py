"""The verdicts as Dagster shows them: asset checks (one per SLO on ``error_budgets``, one
on ``fairness_disparities``, one on ``drift``) and the metadata tables beside them.

Checks never block: they describe the model, not the pipeline's ability to go on. An SLO
check passes when its budget is ok, fails with severity WARN on a ticket and ERROR on a
page (red in the UI). Figures are rounded and tables list the relevant row first.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from monitoring_pipeline.config.models import SLOConfig
from monitoring_pipeline.core.slo import PAGE_RULE, TICKET_RULE
from monitoring_pipeline.defs.common import (
    day_text,
    metadata_table,
    rounded,
    rounded_metadata,
)
from monitoring_pipeline.pipeline.verdicts import CohortView, FairnessView, SLOVerdict

FAIRNESS_CHECK = "no_gap_beyond_objective"
DRIFT_CHECK = "no_flagged_drift"
SEVERITY = {"page": dg.AssetCheckSeverity.ERROR, "ticket": dg.AssetCheckSeverity.WARN}
ROWS_SHOWN = 12


def slo_check_description(slo: SLOConfig) -> str:
    sli = slo.sli.model_dump(exclude={"source"}, exclude_none=True)
    figure = ", ".join(f"{k}={v}" for k, v in sli.items())
    lead = f"{slo.description} " if slo.description else ""
    objective = f"{slo.objective.op} {slo.objective.value:g}"
    if (adaptive := slo.objective.adaptive) is not None:
        side = "+" if slo.objective.op in ("<=", "<") else "-"
        objective = (
            f"{slo.objective.op} mean {side} {adaptive.k:g} sd of its own good days over the "
            f"{adaptive.window_days} before (from {adaptive.min_days} such days; "
            f"{slo.objective.value:g} until then)"
        )
    return (
        f"{lead}SLO on {slo.sli.source} ({figure}) {objective} "
        f"on {slo.target:.0%} of the days of {slo.compliance_period_days}. "
        "Passes when its error budget is ok; fails WARN on a ticket, ERROR on a page."
    )


def _interval(value, lower, upper) -> str:
    if value is None or pd.isna(value):
        return "undefined"
    if lower is None or pd.isna(lower) or upper is None or pd.isna(upper):
        return f"{value:.3f}"
    return f"{value:.3f} [95% {lower:.3f}, {upper:.3f}]"


def slo_check_result(verdict: SLOVerdict) -> dg.AssetCheckResult:
    """The SLO's check evaluation for the partition its budget row belongs to."""
    budget, worst, reading = verdict.budget, verdict.worst, verdict.reading
    short, long = int(budget["short_window_days"]), int(budget["long_window_days"])
    summary = (
        f"{verdict.status}: burn {rounded(budget['burn_rate_short'])}x over {short}d / "
        f"{rounded(budget['burn_rate_long'])}x over {long}d (page at >= {PAGE_RULE.threshold:g}x, "
        f"ticket at >= {TICKET_RULE.threshold:g}x on both); {int(budget['bad_days'])} bad of "
        f"{int(budget['known_days'])} known days; budget remaining "
        f"{rounded(budget['remaining_days'])} of {rounded(budget['budget_days'])} days"
    )
    if worst:
        summary += (
            f"; worst {worst['cohort']} "
            f"{_interval(worst['value'], worst['lower'], worst['upper'])} "
            f"(objective {verdict.objective})"
        )
    summary += f"; evidence through {day_text(verdict.evidence_day)}"
    metadata = {
        "status": verdict.status,
        "evidence_day": day_text(verdict.evidence_day),
        "objective": verdict.objective,
        "budget_remaining_days": rounded_metadata(budget["remaining_days"]),
        "budget_days": rounded_metadata(budget["budget_days"]),
        "budget_remaining_share": rounded_metadata(budget["remaining_fraction"]),
        "bad_days": int(budget["bad_days"]),
        "known_days": int(budget["known_days"]),
        "bad_day_dates": ", ".join(d.isoformat() for d in verdict.bad_days) or "none",
        f"burn_rate_short_{short}d": rounded_metadata(budget["burn_rate_short"]),
        f"burn_rate_long_{long}d": rounded_metadata(budget["burn_rate_long"]),
        "page_burn_rate_threshold": PAGE_RULE.threshold,
        "ticket_burn_rate_threshold": TICKET_RULE.threshold,
        "sli_subject": reading["sli_subject"] if reading else "none",
        # A set SLO's every bad member on evidence_day, clearest violation first.
        "bad_members": ", ".join(reading["bad_members"])
        if reading and len(reading["bad_members"])
        else "none",
        "sli_reading": _interval(reading["value"], reading["lower"], reading["upper"])
        if reading
        else "none",
        "worst_cohort": worst["cohort"] if worst else "none",
        "worst_value": rounded_metadata(worst["value"] if worst else None),
        "worst_lower": rounded_metadata(worst["lower"] if worst else None),
        "worst_upper": rounded_metadata(worst["upper"] if worst else None),
        "cohorts": metadata_table(
            pd.DataFrame(
                verdict.cohorts,
                columns=["cohort", "value", "lower", "upper", "sufficient", "beyond_objective"],
            ).astype({"value": float, "lower": float, "upper": float}),
            {
                "cohort": "the SLO's own cohort first, then the furthest beyond the objective",
                "value": "the SLI's figure (fairness gaps as absolute gaps)",
                "lower": "95% interval, lower bound",
                "upper": "95% interval, upper bound",
                "sufficient": "large enough to be judged",
                "beyond_objective": "the whole interval lies beyond the objective",
            },
        ),
    }
    return dg.AssetCheckResult(
        check_name=verdict.slo.name,
        passed=verdict.status == "ok",
        severity=SEVERITY.get(verdict.status, dg.AssetCheckSeverity.WARN),
        description=summary,
        metadata=metadata,
    )


def budgets_table(verdicts: list[SLOVerdict]) -> dg.MetadataValue:
    """One row per SLO, the most severe first (page, ticket, ok; least budget left first)."""
    frame = pd.DataFrame(
        [
            {
                "slo": v.slo.name,
                "status": v.status,
                "sli_subject": v.reading["sli_subject"] if v.reading else None,
                "evidence_day": day_text(v.evidence_day),
                "remaining_days": float(v.budget["remaining_days"]),
                "budget_days": float(v.budget["budget_days"]),
                "bad_days": int(v.budget["bad_days"]),
                "known_days": int(v.budget["known_days"]),
                "burn_rate_short": float(v.budget["burn_rate_short"]),
                "burn_rate_long": float(v.budget["burn_rate_long"]),
            }
            for v in verdicts
        ],
        columns=[
            "slo", "status", "sli_subject", "evidence_day", "remaining_days", "budget_days",
            "bad_days", "known_days", "burn_rate_short", "burn_rate_long",
        ],
    )  # fmt: skip
    return metadata_table(
        frame,
        {
            "slo": "SLO name",
            "status": "ok / ticket / page, judged as of evidence_day",
            "sli_subject": "what the SLI read on evidence_day (the group it is about)",
            "evidence_day": "the last day with a verdict (later days await labels)",
            "remaining_days": "bad days the budget still allows (negative: overspent)",
            "budget_days": "bad days allowed over the compliance period",
            "bad_days": "bad days in the compliance period",
            "known_days": "days with a verdict in the compliance period",
            "burn_rate_short": "burn rate over the short window (2 days)",
            "burn_rate_long": "burn rate over the long window (7 days)",
        },
    )


_GAP_COLUMNS = {
    "group": "group vs its reference group",
    "metric": "disparity metric",
    "value": "the gap as stored (group minus reference; a ratio for disparate_impact_ratio)",
    "lower": "95% interval, lower bound",
    "upper": "95% interval, upper bound",
    "objective": "what the gap must satisfy (absolute gap for differences)",
    "objective_source": "the SLO or documented rule the objective comes from",
    "clearly_beyond": "the whole interval lies beyond the objective",
    "p_adjusted": "p-value that the gap is zero, Benjamini-Hochberg adjusted over the day's gaps",
}


def gaps_frame(view: FairnessView) -> pd.DataFrame:
    gaps = view.gaps
    return pd.DataFrame(
        {
            "group": (
                gaps.cohort_attribute + "=" + gaps.cohort_value + " vs " + gaps.reference_value
            ).astype(object),
            "metric": gaps.metric.astype(object),
            "value": gaps.value.astype(float),
            "lower": gaps.lower.astype(float),
            "upper": gaps.upper.astype(float),
            "objective": [
                None
                if op is None
                else f"{'|gap|' if m != 'disparate_impact_ratio' else 'ratio'} {op} {v:g}"
                for op, v, m in zip(
                    gaps.objective_op, gaps.objective_value, gaps.metric, strict=True
                )
            ],
            "objective_source": gaps.objective_source.astype(object),
            "clearly_beyond": gaps.clearly_beyond.astype(bool),
            "p_adjusted": gaps.p_value_adjusted.astype(float),
        }
    )


def worst_gap(view: FairnessView) -> float | None:
    """The absolute size of the first-ranked difference gap (None without one)."""
    differences = view.gaps[view.gaps.metric != "disparate_impact_ratio"]
    return float(differences.judged_value.iloc[0]) if len(differences) else None


def gaps_table(view: FairnessView) -> dg.MetadataValue:
    return metadata_table(gaps_frame(view), _GAP_COLUMNS, limit=ROWS_SHOWN)


def fairness_check_result(view: FairnessView) -> dg.AssetCheckResult:
    beyond = view.beyond
    if view.evidence_day is None:
        description = "no sufficient comparison up to this day: nothing to judge"
    elif beyond.empty:
        description = f"no gap clearly beyond its objective on {day_text(view.evidence_day)}"
    else:
        top = beyond.iloc[0]
        description = (
            f"{len(beyond)} gap(s) clearly beyond their objective on "
            f"{day_text(view.evidence_day)}; worst {top.cohort_attribute}={top.cohort_value} vs "
            f"{top.reference_value} {top.metric} "
            f"{_interval(top.value, top.lower, top.upper)} ({top.objective_source})"
        )
    return dg.AssetCheckResult(
        check_name=FAIRNESS_CHECK,
        passed=beyond.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "evidence_day": day_text(view.evidence_day),
            "gaps_beyond_objective": len(beyond),
            "worst_gap": rounded_metadata(worst_gap(view)),
            "gaps": metadata_table(
                gaps_frame(FairnessView(view.evidence_day, beyond)), _GAP_COLUMNS, limit=ROWS_SHOWN
            ),
        },
    )


def fairness_check_description() -> str:
    return (
        "No sufficient gap's whole 95% interval lies beyond its objective: the model's SLO "
        "objective for that metric, else a documented rule (four-fifths for "
        "disparate_impact_ratio). Judged on the newest day with a sufficient comparison; "
        "fails WARN (the SLO checks on error_budgets page)."
    )


_DRIFT_COLUMNS = {
    "feature": "feature (or score)",
    "cohort": "cohort",
    "method": "drift test",
    "statistic": "the test's statistic",
    "threshold": "its threshold (an adjusted p-value limit for ks and chi2)",
    "p_value_adjusted": "Benjamini-Hochberg adjusted p-value (tests only)",
}


def drifted_frame(drifted: pd.DataFrame) -> pd.DataFrame:
    """Flagged drift tests, strongest evidence first: statistic over threshold for effect
    sizes, threshold over adjusted p-value for tests."""
    if drifted.empty:
        return pd.DataFrame(
            {
                "feature": pd.Series(dtype=object), "cohort": pd.Series(dtype=object),
                "method": pd.Series(dtype=object), "statistic": pd.Series(dtype=float),
                "threshold": pd.Series(dtype=float), "p_value_adjusted": pd.Series(dtype=float),
            }
        )  # fmt: skip
    p_adjusted = drifted.p_value_adjusted.astype(float)
    strength = np.where(
        drifted.decided_on == "p_value_adjusted",
        drifted.threshold.astype(float) / p_adjusted.clip(lower=1e-300),
        drifted.statistic.astype(float).abs() / drifted.threshold.astype(float),
    )
    shown = drifted.iloc[np.argsort(-strength, kind="stable")]
    return pd.DataFrame(
        {
            "feature": shown.feature.astype(object),
            "cohort": np.where(
                shown.cohort_attribute == "all",
                "all",
                shown.cohort_attribute + "=" + shown.cohort_value,
            ).astype(object),
            "method": shown.method.astype(object),
            "statistic": shown.statistic.astype(float),
            "threshold": shown.threshold.astype(float),
            "p_value_adjusted": shown.p_value_adjusted.astype(float),
        }
    )


def drifted_table(drifted: pd.DataFrame) -> dg.MetadataValue:
    return metadata_table(drifted_frame(drifted), _DRIFT_COLUMNS, limit=ROWS_SHOWN)


def drift_check_result(drifted: pd.DataFrame, day_label: str) -> dg.AssetCheckResult:
    frame = drifted_frame(drifted)
    if frame.empty:
        description = f"no drift test flagged on {day_label}"
    else:
        top = frame.iloc[0]
        description = (
            f"{len(frame)} drift test(s) flagged on {day_label}; strongest {top.feature} @ "
            f"{top.cohort} {top.method} {rounded(top.statistic)} (threshold {rounded(top.threshold)})"
        )
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=frame.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "drift_flags": len(frame),
            "flagged": metadata_table(frame, _DRIFT_COLUMNS, limit=ROWS_SHOWN),
        },
    )


def drift_check_description() -> str:
    return (
        "No drift test is flagged on the day, as stored in monitoring.drift: ks and chi2 "
        "on Benjamini-Hochberg adjusted p-values (false discovery rate controlled across "
        "the day's tests), psi, js and null-rate change on their thresholds. Fails WARN."
    )


_COHORT_COLUMNS = {
    "cohort": "single-attribute cohort (sufficient ones only)",
    "n_labelled": "labelled predictions",
    "tpr": "true positive rate",
    "tpr_lower": "95% Wilson interval, lower bound",
    "tpr_upper": "95% Wilson interval, upper bound",
    "tpr_gap_to_all": "TPR minus everyone's TPR",
    "fpr": "false positive rate",
    "fpr_lower": "95% Wilson interval, lower bound",
    "fpr_upper": "95% Wilson interval, upper bound",
    "accuracy": "accuracy",
}


def cohorts_table(view: CohortView) -> dg.MetadataValue:
    return metadata_table(view.cohorts, _COHORT_COLUMNS, limit=ROWS_SHOWN)
