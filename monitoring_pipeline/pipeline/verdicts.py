"""What the Dagster UI shows of one (model, day): each SLO's verdict with its evidence, the
fairness gaps clearly beyond their objectives, the cohorts furthest from the overall rate.

Everything is read from the published tables (no raw rows) and describes the newest day
with sufficient evidence up to the partition's day, which it names: a day whose labels
are still arriving (a few percent) shows the last day that could be judged instead of
"nothing to show". No Dagster here; ``defs`` turns these into checks and metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.messages import rank_worst_cohorts
from monitoring_pipeline.config.models import (
    ANY,
    CohortChangeSLI,
    CohortMetricSLI,
    DriftSLI,
    FairnessSLI,
    ModelConfig,
    MonitoringConfig,
    SLOConfig,
)
from monitoring_pipeline.core.verdicts import GapObjective, judge_gaps
from monitoring_pipeline.pipeline.alerts import sli_cohorts
from monitoring_pipeline.pipeline.slo import CORE_OP
from monitoring_pipeline.storage.published import (
    day_cohort_metrics,
    day_disparities,
    newest_sufficient_day,
    slo_evaluations_between,
)

__all__ = [
    "CohortView",
    "FairnessView",
    "SLOVerdict",
    "cohort_view",
    "fairness_view",
    "gap_objectives",
    "slo_verdicts",
]

# Cohorts listed with each SLO's check (its own cohort first, then the furthest beyond).
SLO_COHORTS_SHOWN = 8
_STATUS_ORDER = {"page": 0, "ticket": 1, "ok": 2}


@dataclass(frozen=True)
class SLOVerdict:
    """One SLO's ``error_budgets`` row with the evidence behind it.

    ``budget``: the row as a mapping (status, remaining_days, burn rates, windows, ...).
    ``reading``: the SLO's ``slo_evaluations`` row on ``evidence_day`` (None without one).
    ``cohorts``: every cohort's figure of the SLI on ``evidence_day`` (rank_worst_cohorts'
    records), the SLO's own cohort first, then the furthest beyond the objective.
    ``worst``: the cohort furthest beyond the objective (None without any).
    ``bad_days``: the bad days of the compliance period, oldest first.
    """

    slo: SLOConfig
    budget: Mapping[str, Any]
    reading: Mapping[str, Any] | None
    cohorts: list[dict[str, Any]]
    worst: dict[str, Any] | None
    bad_days: list[date]

    @property
    def status(self) -> str:
        return str(self.budget["status"])

    @property
    def evidence_day(self) -> date | None:
        value = self.budget.get("evidence_through")
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    @property
    def objective(self) -> str:
        return f"{self.slo.objective.op} {self.slo.objective.value:g}"


def slo_verdicts(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, budgets: pd.DataFrame
) -> list[SLOVerdict]:
    """The verdict of each SLO in ``budgets`` (the rows ``build_error_budgets`` wrote for
    ``day``), most severe first (page, ticket, ok; least budget left first)."""
    model = config.models[model_name]
    if budgets.empty:
        return []
    longest = max(slo.compliance_period_days for slo in model.slos)
    evaluations = slo_evaluations_between(
        engine, model_name, day - timedelta(days=2 * longest), day
    )
    verdicts = []
    for row in budgets.to_dict("records"):
        slo = next(s for s in model.slos if s.name == row["slo_name"])
        mine = evaluations[evaluations.slo_name == slo.name]
        period_start = day - timedelta(days=slo.compliance_period_days - 1)
        bad_days = [
            pd.Timestamp(d).date()
            for d in mine.partition_date[
                (mine.status == "bad") & (mine.partition_date >= period_start)
            ]
        ]
        evidence_day = row.get("evidence_through")
        evidence_day = None if evidence_day is None or pd.isna(evidence_day) else evidence_day
        reading_rows = mine[mine.partition_date == evidence_day] if evidence_day else mine.iloc[0:0]
        reading = reading_rows.iloc[0].to_dict() if len(reading_rows) else None
        if reading is not None:  # an adaptive objective: as the evidence day was judged
            slo = slo.judged_against(reading.get("objective_value"))
        cohorts: list[dict[str, Any]] = []
        worst = None
        if evidence_day is not None:
            figures = sli_cohorts(engine, model_name, evidence_day, slo)
            ranked = rank_worst_cohorts(
                figures, slo.objective.op, slo.objective.value, limit=len(figures)
            )
            worst = ranked[0] if ranked else None
            own = _own_cohort(slo, reading)
            cohorts = sorted(ranked, key=lambda c: c["cohort"] != own)[:SLO_COHORTS_SHOWN]
        verdicts.append(SLOVerdict(slo, row, reading, cohorts, worst, bad_days))
    return sorted(
        verdicts,
        key=lambda v: (_STATUS_ORDER.get(v.status, 3), _or_inf(v.budget.get("remaining_days"))),
    )


def _own_cohort(slo: SLOConfig, reading: Mapping[str, Any] | None) -> str | None:
    """The cohort an SLO judges, named as ``sli_cohorts`` names it."""
    sli = slo.sli
    if isinstance(sli, FairnessSLI) or sli.is_set:  # a set: the member it named that day
        return reading["sli_subject"] if reading else None
    assert isinstance(sli, CohortMetricSLI | CohortChangeSLI | DriftSLI)
    return sli.cohort


def _or_inf(value: Any) -> float:
    return math.inf if value is None or pd.isna(value) else float(value)


def gap_objectives(model: ModelConfig) -> dict[tuple[str | None, str], GapObjective]:
    """Objectives the model's fairness SLOs set: per (attribute, metric) (attribute ``*``:
    every attribute and intersection) and, from the first SLO on a metric, for that metric
    on every attribute."""
    objectives: dict[tuple[str | None, str], GapObjective] = {}
    for slo in model.slos:
        if not isinstance(slo.sli, FairnessSLI):
            continue
        objective = GapObjective(CORE_OP[slo.objective.op], slo.objective.value, f"SLO {slo.name}")
        attributes = (
            model.cohort_attribute_names if slo.sli.attribute == ANY else [slo.sli.attribute]
        )
        for attribute in attributes:
            objectives.setdefault((attribute, slo.sli.metric), objective)
        objectives.setdefault((None, slo.sli.metric), objective)
    return objectives


@dataclass(frozen=True)
class FairnessView:
    """The gaps of the newest day with a sufficient comparison (``evidence_day``, None when
    no day up to the partition has one), judged and ranked by ``core.verdicts.judge_gaps``."""

    evidence_day: date | None
    gaps: pd.DataFrame

    @property
    def beyond(self) -> pd.DataFrame:
        return self.gaps[self.gaps.clearly_beyond.astype(bool)] if len(self.gaps) else self.gaps


def fairness_view(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date
) -> FairnessView:
    evidence_day = newest_sufficient_day(engine, "fairness_disparities", model_name, day)
    if evidence_day is None:
        return FairnessView(None, judge_gaps(_no_disparities(), {}))
    rows = day_disparities(engine, model_name, evidence_day)
    return FairnessView(evidence_day, judge_gaps(rows, gap_objectives(config.models[model_name])))


def _no_disparities() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["cohort_attribute", "cohort_value", "reference_value", "metric", "value",
                 "lower", "upper", "sufficient", "p_value_adjusted"]
    )  # fmt: skip


@dataclass(frozen=True)
class CohortView:
    """``label_coverage``: labelled share of the partition's own day (None without rows).
    ``cohorts``: on ``evidence_day`` (the newest day up to the partition with a sufficient
    group), each sufficient single-attribute cohort's TPR, FPR and accuracy with
    intervals and its TPR gap to everyone's, furthest from everyone's first."""

    label_coverage: float | None
    evidence_day: date | None
    cohorts: pd.DataFrame


_COHORT_COLUMNS = [
    "cohort", "n_labelled", "tpr", "tpr_lower", "tpr_upper", "tpr_gap_to_all",
    "fpr", "fpr_lower", "fpr_upper", "accuracy",
]  # fmt: skip


def cohort_view(engine: Engine, model_name: str, day: date) -> CohortView:
    today = day_cohort_metrics(engine, model_name, day)
    everyone = today[(today.cohort_attribute == "all") & (today.metric == "accuracy")]
    coverage = None
    if len(everyone) and everyone.n.iloc[0]:
        coverage = float(everyone.n_labelled.iloc[0]) / float(everyone.n.iloc[0])
    evidence_day = newest_sufficient_day(engine, "cohort_metrics", model_name, day)
    if evidence_day is None:
        return CohortView(coverage, None, pd.DataFrame(columns=_COHORT_COLUMNS))
    rows = today if evidence_day == day else day_cohort_metrics(engine, model_name, evidence_day)
    wide = _wide(rows)
    overall = wide.loc[wide.cohort_attribute == "all", "tpr"]
    overall_tpr = float(overall.iloc[0]) if len(overall) else np.nan
    groups = wide[
        (wide.cohort_attribute != "all")
        & wide.sufficient
        & ~wide.cohort_attribute.str.contains("&", regex=False)
    ]
    groups = groups.assign(
        cohort=groups.cohort_attribute + "=" + groups.cohort_value,
        tpr_gap_to_all=groups.tpr - overall_tpr,
    )
    groups = groups.iloc[
        np.argsort(-groups.tpr_gap_to_all.abs().fillna(-1).to_numpy(), kind="stable")
    ]
    return CohortView(coverage, evidence_day, groups[_COHORT_COLUMNS].reset_index(drop=True))


def _wide(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cohort: ``<metric>``, ``<metric>_lower``, ``<metric>_upper`` for TPR,
    FPR and accuracy, with ``n_labelled`` and ``sufficient``."""
    keys = ["cohort_attribute", "cohort_value"]
    out = rows.groupby(keys, as_index=False).agg(
        n_labelled=("n_labelled", "first"), sufficient=("sufficient", "first")
    )
    for metric in ("tpr", "fpr", "accuracy"):
        mine = rows[rows.metric == metric].set_index(keys)[["value", "lower", "upper"]]
        mine.columns = [metric, f"{metric}_lower", f"{metric}_upper"]
        out = out.merge(mine.astype(float), left_on=keys, right_index=True, how="left")
    out["sufficient"] = out.sufficient.astype(bool)
    return out
