"""What each incident the demo simulator can inject should raise, and how fast; the incident
of each kind the backtests inject (README, "Setting objectives and replaying history").

The goal (issue 15): with objectives from ``calibrate`` on healthy weeks, ``backtest``
tickets or pages every incident kind within ``WITHIN_DAYS`` replayed days of its onset, and
a healthy stretch of at least 60 days pages nothing. ``EXPECTATIONS`` says per kind what
should answer it; ``monitoring_pipeline_tests/demo/test_incident_expectations.py``
measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from monitoring_pipeline.demo.generator import default_incidents
from monitoring_pipeline.demo.incidents import (
    DistributionShift,
    FeatureNulls,
    Incident,
    LabelOutage,
    LatencySpike,
    MalformedRows,
    MinorityDegradation,
    ProxyFeature,
    ThresholdChange,
)

__all__ = [
    "BASELINE_DAYS",
    "EXPECTATIONS",
    "WITHIN_DAYS",
    "Expectation",
    "days_to_alert",
    "incident_of_kind",
    "scenario_incidents",
]

# The demo scenario's first days are always healthy: the baseline the monitors compare
# against (``default_incidents``); a game day's incidents start after them by default.
BASELINE_DAYS = 14

# An alert decided at the end of the onset day is 0 days late; within 2 means by the end of
# the second day after it.
WITHIN_DAYS = 2


@dataclass(frozen=True)
class Expectation:
    """What an incident kind should raise: the severity at least, and from what."""

    kind: str
    model: str
    severity: str  # the least: "ticket" (a ticket or a page) or "page"
    raised_by: str


EXPECTATIONS: dict[str, Expectation] = {
    e.kind: e
    for e in (
        Expectation(
            "MinorityDegradation",
            "loan_approval",
            "ticket",
            "the change-from-baseline SLO over every group (approval_rate_shift): the group's "
            "approval rate falls on the day itself; the estimated TPR gap "
            "(estimated_tpr_gap_region, from scores) on the day too; the TPR-gap SLO "
            "(tpr_gap_region) pages once its labels arrive",
        ),
        Expectation(
            "ProxyFeature",
            "loan_approval",
            "ticket",
            "the change-from-baseline SLO over every group (approval_rate_shift) as the "
            "groups' scores part; the gap SLOs of that attribute once labels arrive",
        ),
        Expectation(
            "FeatureNulls",
            "loan_approval",
            "ticket",
            "pipeline health: the day's failed feature_nulls quality check (data_quality)",
        ),
        Expectation(
            "DistributionShift",
            "loan_approval",
            "ticket",
            "the feature's drift SLO (income_psi); a ticket, never a page: labels follow",
        ),
        Expectation(
            "ThresholdChange",
            "job_screening",
            "ticket",
            "the change-from-baseline SLO over every group (selection_rate_shift): the group "
            "is the reference, so the gaps against it barely move",
        ),
        Expectation(
            "LabelOutage",
            "loan_approval",
            "ticket",
            "pipeline health: the newest days get far fewer labels than earlier days had at "
            "the same age (label_arrival)",
        ),
        Expectation(
            "LatencySpike",
            "loan_approval",
            "page",
            "the latency SLO over every region (latency_p95_region): the region's 95th "
            "percentile is clearly above 200 ms on the day itself",
        ),
        Expectation(
            "MalformedRows",
            "loan_approval",
            "ticket",
            "pipeline health: the day's quarantined share above quality.max_malformed_share "
            "(data_quality), though each defect alone stays within its expectation's tolerance",
        ),
    )  # fmt: skip
}


def incident_of_kind(kind: str, onset: date, end: date) -> Incident:
    """The incident of ``kind`` the backtests inject, from ``onset`` to ``end``: the demo
    scenario's own where it has one, realistic strengths otherwise."""
    model = EXPECTATIONS[kind].model
    window = {"model": model, "start": onset, "end": end}
    match kind:
        case "MinorityDegradation":
            return MinorityDegradation(**window, attribute="region", group="west", severity=0.7)
        case "ProxyFeature":
            return ProxyFeature(**window, feature="postal_risk_index", attribute="region")
        case "FeatureNulls":
            return FeatureNulls(**window, feature="debt_to_income", rate=0.35)
        case "DistributionShift":
            return DistributionShift(**window, feature="income", shift=1.0)
        case "ThresholdChange":
            return ThresholdChange(**window, attribute="gender", group="man", threshold=0.4)
        case "LabelOutage":
            return LabelOutage(**window)
        case "MalformedRows":
            return MalformedRows(**window, share=0.1)
        case "LatencySpike":
            return LatencySpike(**window, factor=3.0, attribute="region", group="west")
    raise ValueError(f"unknown incident kind {kind!r}; expected one of {sorted(EXPECTATIONS)}")


def days_to_alert(first_alert: date | None, onset: date) -> int | None:
    """Replayed days from the onset to the first alert (0: at the end of the onset day);
    None when none fired."""
    return None if first_alert is None else (first_alert - onset).days


def scenario_incidents(
    model: str,
    start: date,
    end: date,
    *,
    healthy: bool = False,
    kinds: tuple[str, ...] = (),
    onset: date | None = None,
) -> list[Incident]:
    """The demo's incidents of ``model`` over ``start..end``: none when ``healthy``; for a
    game day (``kinds``), the backtests' incident of each kind that concerns ``model``
    (:func:`incident_of_kind`) from ``onset`` (default: the day after the
    ``BASELINE_DAYS`` healthy days) to ``end``; otherwise the default scenario.

    Example:
        >>> from datetime import date
        >>> [type(i).__name__ for i in scenario_incidents(
        ...     "loan_approval", date(2026, 10, 1), date(2026, 10, 28),
        ...     kinds=("MalformedRows", "ThresholdChange"))]
        ['MalformedRows']
        >>> scenario_incidents("job_screening", date(2026, 10, 1), date(2026, 10, 28),
        ...     kinds=("ThresholdChange",))[0].start
        datetime.date(2026, 10, 15)
    """
    if healthy:
        return []
    if not kinds:
        return default_incidents(model, start, end)
    first = onset or start + timedelta(days=BASELINE_DAYS)
    if not start < first <= end:
        raise ValueError(
            f"--onset {first} must fall after the first day {start} and by the last {end}"
        )
    unknown = sorted(set(kinds) - set(EXPECTATIONS))
    if unknown:
        raise ValueError(
            f"unknown incident(s) {', '.join(unknown)}; known: {', '.join(sorted(EXPECTATIONS))}"
        )
    return [
        incident_of_kind(kind, first, end) for kind in kinds if EXPECTATIONS[kind].model == model
    ]
