"""SLO evaluation of one (model, day), and error budgets over the compliance period.

``slo_evaluations`` reads the day's published figures (cohort_metrics,
fairness_disparities, drift), never raw rows; ``error_budgets`` reads only
``slo_evaluations`` of the period, so both are cheap to re-run when late labels arrive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import (
    CohortMetricSLI,
    DriftSLI,
    FairnessSLI,
    ModelConfig,
    MonitoringConfig,
    SLOConfig,
)
from monitoring_pipeline.core.disparities import RATIO_METRICS
from monitoring_pipeline.core.slo import classify_day, classify_days, error_budget
from monitoring_pipeline.core.verdicts import absolute_intervals
from monitoring_pipeline.storage import slo as slo_store
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

# "<" and "<=" are judged alike: a day is bad only when the interval lies wholly beyond.
CORE_OP = {"<=": "<=", "<": "<=", ">=": ">=", ">": ">="}


@dataclass(frozen=True)
class SLIReading:
    """The day's figure for one SLO, ready to be judged."""

    subject: str
    value: float
    lower: float
    upper: float
    sufficient: bool
    reason: str


NO_DATA = SLIReading("-", math.nan, math.nan, math.nan, False, "no figure published for the day")


def absolute_interval(value: float, lower: float, upper: float) -> tuple[float, float, float]:
    """|value| and an interval for it: [0, max] when the interval straddles 0."""
    if math.isnan(lower) or math.isnan(upper):
        return abs(value), math.nan, math.nan
    if lower <= 0 <= upper:
        return abs(value), 0.0, max(abs(lower), abs(upper))
    return abs(value), min(abs(lower), abs(upper)), max(abs(lower), abs(upper))


def read_sli(frames: dict[str, pd.DataFrame], model: ModelConfig, slo: SLOConfig) -> SLIReading:
    """Pick the SLO's figure out of the day's published rows (model version 'all')."""
    sli = slo.sli
    if isinstance(sli, CohortMetricSLI):
        attribute, value = model.parse_cohort(sli.cohort, where=slo.name)
        rows = frames["cohort_metrics"]
        rows = rows[
            (rows.cohort_attribute == attribute)
            & (rows.cohort_value == value)
            & (rows.metric == sli.metric)
        ]
        if rows.empty:
            return NO_DATA
        row = rows.iloc[0]
        reason = "figure published" if row.sufficient else "cohort below the minimum size"
        return SLIReading(
            sli.cohort, _f(row.value), _f(row.lower), _f(row.upper), bool(row.sufficient), reason
        )
    if isinstance(sli, FairnessSLI):
        rows = frames["fairness_disparities"]
        rows = rows[(rows.cohort_attribute == sli.attribute) & (rows.metric == sli.metric)]
        if sli.group is None:
            return _worst_group_reading(rows, slo)
        rows = rows[rows.cohort_value == sli.group]
        if rows.empty:
            return NO_DATA
        row = rows.iloc[0]
        subject = f"{sli.attribute}={row.cohort_value} vs {row.reference_value}"
        value, lower, upper = _f(row.value), _f(row.lower), _f(row.upper)
        if sli.metric not in RATIO_METRICS:
            value, lower, upper = absolute_interval(value, lower, upper)
        reason = "figure published" if row.sufficient else "a group below the minimum size"
        return SLIReading(subject, value, lower, upper, bool(row.sufficient), reason)
    assert isinstance(sli, DriftSLI)
    not_computed = SLIReading(
        f"{sli.feature} @ {sli.cohort}", math.nan, math.nan, math.nan, False, "drift not computed"
    )
    rows = frames["drift"]
    if rows.empty:
        return not_computed
    attribute, value = model.parse_cohort(sli.cohort, where=slo.name)
    rows = rows[
        (rows.cohort_attribute == attribute)
        & (rows.cohort_value == value)
        & (rows.feature == sli.feature)
        & (rows.method == sli.method)
    ]
    if rows.empty:
        return not_computed
    row = rows.iloc[0]
    sufficient = not pd.isna(row.drifted)
    reason = "figure published" if sufficient else "baseline or day too small"
    return SLIReading(
        f"{sli.feature} @ {sli.cohort}", _f(row.statistic), math.nan, math.nan, sufficient, reason
    )


def _worst_group_reading(rows: pd.DataFrame, slo: SLOConfig) -> SLIReading:
    """An SLO over every group of an attribute.

    Bad when any sufficient group is clearly beyond the objective (the clearest one is
    reported); good only when every group is sufficient and none is; unknown otherwise,
    because a group too small to judge may hide the violation.
    """
    sli = slo.sli
    if rows.empty:
        return SLIReading(
            sli.attribute, math.nan, math.nan, math.nan, False, "no comparison published"
        )
    values, lowers, uppers = (rows[c].to_numpy(dtype=float) for c in ("value", "lower", "upper"))
    if sli.metric not in RATIO_METRICS:
        values, lowers, uppers = absolute_intervals(values, lowers, uppers)
    op = CORE_OP[slo.objective.op]
    statuses = classify_days(
        values, lowers, uppers, op, slo.objective.value, rows.sufficient.to_numpy(bool)
    )
    # Severity: how far the evidence lies beyond the objective (NaN last).
    evidence = lowers if op == "<=" else -uppers
    point = values if op == "<=" else -values
    if (statuses == "bad").any():
        pick = int(np.nanargmax(np.where(statuses == "bad", evidence, -np.inf)))
        reason = "figure published"
    elif (statuses == "unknown").any():
        small = sorted(rows.cohort_value[statuses == "unknown"].astype(str))
        known = statuses != "unknown"
        pick = int(np.nanargmax(np.where(known, point, -np.inf))) if known.any() else 0
        row = rows.iloc[pick]
        return SLIReading(
            f"{sli.attribute}={row.cohort_value} vs {row.reference_value}",
            values[pick], lowers[pick], uppers[pick], False,
            f"cannot judge {', '.join(small)}: below the minimum size or undefined",
        )  # fmt: skip
    else:
        pick = int(np.nanargmax(point))
        reason = "figure published"
    row = rows.iloc[pick]
    subject = f"{sli.attribute}={row.cohort_value} vs {row.reference_value}"
    return SLIReading(subject, values[pick], lowers[pick], uppers[pick], True, reason)


def _f(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _published(engine: Engine, table: str, model_name: str, day: date) -> pd.DataFrame:
    frame = slo_store.day_rows(engine, table, model_name, day)
    if "model_version" in frame.columns:
        frame = frame[frame.model_version == "all"]
    return frame


def build_slo_evaluations(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> pd.DataFrame:
    """Judge every SLO of the model on ``day``; returns the rows written."""
    model = config.models[model_name]
    frames = {
        t: _published(engine, t, model_name, day)
        for t in ("cohort_metrics", "fairness_disparities", "drift")
    }
    rows = []
    for slo in model.slos:
        reading = read_sli(frames, model, slo)
        status = classify_day(
            reading.value,
            reading.lower,
            reading.upper,
            CORE_OP[slo.objective.op],
            slo.objective.value,
            reading.sufficient,
        )
        reason = reading.reason
        if status == "bad":
            reason = f"interval wholly beyond {slo.objective.op} {slo.objective.value:g}"
        elif status == "good" and reading.sufficient:
            reason = f"interval reaches {slo.objective.op} {slo.objective.value:g}"
        rows.append(
            {
                "slo_name": slo.name,
                "sli_source": slo.sli.source,
                "sli_metric": getattr(slo.sli, "metric", None) or getattr(slo.sli, "method", ""),
                "sli_subject": reading.subject,
                "value": reading.value,
                "lower": reading.lower,
                "upper": reading.upper,
                "objective_op": slo.objective.op,
                "objective_value": slo.objective.value,
                "sufficient": reading.sufficient,
                "status": status,
                "reason": reason,
            }
        )
    frame = pd.DataFrame(rows, columns=_EVALUATION_COLUMNS).assign(
        partition_date=day, model_name=model_name
    )
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows("slo_evaluations", frame)],
        audit=audit,
    )
    return frame


_EVALUATION_COLUMNS = [
    "slo_name", "sli_source", "sli_metric", "sli_subject", "value", "lower", "upper",
    "objective_op", "objective_value", "sufficient", "status", "reason",
]  # fmt: skip


def build_error_budgets(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> pd.DataFrame:
    """Each SLO's budget as of ``day`` from the evaluations of its compliance period.

    Days of the period never evaluated count as unknown (neither good nor bad). Budget
    counts cover the period ending on ``day``; burn rates and status are judged as of
    ``evidence_through``, the last day with a verdict.
    """
    model = config.models[model_name]
    longest = max((slo.compliance_period_days for slo in model.slos), default=1)
    # Twice the period: the alert may be judged as of an earlier day (see below).
    history = slo_store.slo_statuses_after(
        engine, model_name, day - timedelta(days=2 * longest), day
    )
    rows = []
    for slo in model.slos:
        period = pd.date_range(day - timedelta(days=slo.compliance_period_days - 1), day, freq="D")
        mine = history[history.slo_name == slo.name]
        statuses = pd.Series(
            mine.status.to_numpy(), index=pd.to_datetime(mine.partition_date)
        ).reindex(period)
        budget = error_budget(statuses, target=slo.target, period_days=slo.compliance_period_days)
        all_days = pd.Series(mine.status.to_numpy(), index=pd.to_datetime(mine.partition_date))
        known = all_days[all_days.isin(["good", "bad"])]
        evidence_through = known.index.max().date() if len(known) else None
        if evidence_through is not None and evidence_through < day:
            # The latest days have no verdict yet (their labels are still arriving): that is
            # no evidence of recovery, so burn rates and status are taken as of the last
            # day that has one, instead of decaying to ok while the data is missing.
            as_of = pd.date_range(
                evidence_through - timedelta(days=slo.compliance_period_days - 1),
                evidence_through,
                freq="D",
            )
            alert = error_budget(
                all_days.reindex(as_of), target=slo.target, period_days=slo.compliance_period_days
            )
            budget = replace(
                budget,
                status=alert.status,
                burn_rate_short=alert.burn_rate_short,
                burn_rate_long=alert.burn_rate_long,
            )
        rows.append(
            vars(budget)
            | {
                "slo_name": slo.name,
                "retrain_on_page": slo.retrain_on_page,
                "evidence_through": evidence_through,
            }
        )
    frame = pd.DataFrame(rows).assign(partition_date=day, model_name=model_name)
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows("error_budgets", frame)],
        audit=audit,
    )
    return frame
