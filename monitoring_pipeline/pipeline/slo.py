"""SLO evaluation of one (model, day), and error budgets over the compliance period.

``slo_evaluations`` reads the day's published figures (cohort_metrics,
fairness_disparities, cohort_changes, drift, operational_metrics; for a set SLO also the
additive cohort_stats or latency_histograms, to recompute
its members' intervals at the Bonferroni-adjusted confidence, see ``core.slo_sets``),
never raw rows; ``error_budgets`` reads only ``slo_evaluations`` of the period, so both
are cheap to re-run when late labels arrive. Each SLO's budget status is capped at its
``max_severity`` (``MonitoringConfig.slo_max_severity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import (
    ANY,
    CanarySLI,
    CohortChangeSLI,
    CohortMetricSLI,
    ComplaintSLI,
    DriftSLI,
    FairnessSLI,
    ModelConfig,
    MonitoringConfig,
    OperationalSLI,
    SLOConfig,
)
from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics, to_long_format
from monitoring_pipeline.core.disparities import RATIO_METRICS, compute_disparities
from monitoring_pipeline.core.intervals import normal_quantile, wilson_interval
from monitoring_pipeline.core.objectives import AdaptiveBand, adaptive_band
from monitoring_pipeline.core.operational import (
    QUANTILES,
    poisson_interval,
    quantile_from_histogram,
)
from monitoring_pipeline.core.slo import error_budget
from monitoring_pipeline.core.slo_sets import bonferroni_confidence, judge_set
from monitoring_pipeline.core.sufficient_stats import cohort_names
from monitoring_pipeline.core.verdicts import absolute_intervals
from monitoring_pipeline.core.version_comparison import canary_harm
from monitoring_pipeline.pipeline.cohort_metrics import rows_to_stats
from monitoring_pipeline.storage import slo as slo_store
from monitoring_pipeline.storage.published import day_cohort_stats
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

# "<" and "<=" are judged alike: a day is bad only when the interval lies wholly beyond.
CORE_OP = {"<=": "<=", "<": "<=", ">=": ">=", ">": ">="}
PUBLISHED_CONFIDENCE = 0.95
MEMBER_COLUMNS = ["member", "attribute", "group", "reference", "value", "lower", "upper",
                  "sufficient", "n_labelled"]  # fmt: skip
NO_FIGURE = {
    "cohort_metrics": "no figure published for the day",
    "fairness_disparities": "no comparison published",
    "estimated_disparities": "no estimated comparison published",
    "version_comparison": "no canary comparison (one model version served the day)",
    "cohort_changes": "no change from baseline published (no baseline window yet)",
    "drift": "drift not computed",
    "operational_metrics": "no operational figure published for the day",
    "complaint_metrics": "no complaint rate published for the day",
}


@dataclass(frozen=True)
class Members:
    """The figures of an SLO's members on one day, as the SLO judges them.

    ``frame``: one row per member (``MEMBER_COLUMNS``): ``member`` its name (``"all"``,
    ``"sex=female"``, ``"sex=female vs male"``, ``"income @ sex=female"``), ``value, lower,
    upper`` the judged figure (a fairness difference by its size) and its interval at
    ``confidence``; ``sufficient`` as published; ``n_labelled`` when known.
    ``confidence``: two-sided level of the intervals (Bonferroni-adjusted for a set with
    more than one interval); None when no member has one.
    """

    frame: pd.DataFrame
    confidence: float | None
    is_set: bool


@dataclass(frozen=True)
class SLIReading:
    """The day's verdict on one SLO, ready to be written to ``slo_evaluations``."""

    subject: str
    value: float
    lower: float
    upper: float
    sufficient: bool
    status: str
    reason: str
    bad_members: tuple[str, ...] = ()
    unknown_members: tuple[str, ...] = ()
    members: int = 0
    confidence: float | None = None


def absolute_interval(value: float, lower: float, upper: float) -> tuple[float, float, float]:
    """|value| and an interval for it: [0, max] when the interval straddles 0."""
    if math.isnan(lower) or math.isnan(upper):
        return abs(value), math.nan, math.nan
    if lower <= 0 <= upper:
        return abs(value), 0.0, max(abs(lower), abs(upper))
    return abs(value), min(abs(lower), abs(upper)), max(abs(lower), abs(upper))


def sli_members(
    frames: dict[str, pd.DataFrame],
    model: ModelConfig,
    slo: SLOConfig,
    *,
    min_cohort_size: int | None = None,
) -> Members:
    """The SLO's members among the day's published rows (model version 'all').

    A set with more than one member that has an interval gets every interval recomputed at
    the Bonferroni-adjusted confidence (``core.slo_sets``) from ``frames["cohort_stats"]``
    with the same core functions that published them; a member that cannot be recomputed
    (no statistics, a reference group missing from them) has its published 95% interval
    widened around its value by the ratio of the normal quantiles, which is exact for the
    normal (Welch) intervals and close for the score intervals. A change from baseline
    is always widened so (its baseline window's statistics are not at hand), on its signed
    interval before it is judged by its size.
    """
    sli = slo.sli
    if isinstance(sli, CohortChangeSLI):
        return _change_members(frames.get("cohort_changes", pd.DataFrame()), model, slo)
    if isinstance(sli, CanarySLI):
        harm = canary_harm(frames.get("version_comparison", pd.DataFrame()))
        members = _cohort_metric_members(harm, model, slo)
    elif isinstance(sli, OperationalSLI | ComplaintSLI):
        published = frames.get(sli.source, pd.DataFrame())
        if "n" in published.columns:
            published = published.assign(n_labelled=published["n"])
        members = _cohort_metric_members(published, model, slo)
    elif isinstance(sli, CohortMetricSLI):
        members = _cohort_metric_members(frames["cohort_metrics"], model, slo)
    elif isinstance(sli, FairnessSLI):
        members = _fairness_members(frames[sli.source], slo)
    else:
        assert isinstance(sli, DriftSLI)
        members = _drift_members(frames["drift"], model, slo)
    with_interval = int((members.lower.notna() & members.upper.notna()).sum())
    if with_interval == 0:
        return Members(members, None, sli.is_set)
    confidence = bonferroni_confidence(with_interval, PUBLISHED_CONFIDENCE)
    if with_interval > 1:
        members = _adjusted_intervals(frames, members, slo, confidence, min_cohort_size)
    if isinstance(sli, ComplaintSLI) and complaint_window_open(frames):
        # The rate counted so far can only grow: its lower bound stands, its upper is 1.
        # Judged on the interval alone, the day is bad on clear evidence, else unknown.
        members = members.assign(upper=members.upper.where(members.upper.isna(), 1.0))
        members = members.assign(sufficient=False)
    return Members(members, confidence, sli.is_set)


def complaint_window_open(frames: dict[str, pd.DataFrame]) -> bool:
    """Whether the day's complaint window was still open when its complaints were counted."""
    rows = frames.get("complaint_metrics", pd.DataFrame())
    return "window_complete" in rows.columns and not rows.window_complete.astype(bool).all()


def _cohort_metric_members(rows: pd.DataFrame, model: ModelConfig, slo: SLOConfig) -> pd.DataFrame:
    sli = slo.sli
    wanted = set(model.cohort_members(sli.cohort, where=slo.name))
    if rows.empty:
        return _no_members()
    rows = rows[rows.metric == sli.metric]
    keep = [(a, v) in wanted for a, v in zip(rows.cohort_attribute, rows.cohort_value, strict=True)]
    rows = rows[keep]
    return pd.DataFrame(
        {
            "member": cohort_names(rows.cohort_attribute, rows.cohort_value),
            "attribute": rows.cohort_attribute.to_numpy(),
            "group": rows.cohort_value.to_numpy(),
            "reference": None,
            "value": rows.value.to_numpy(dtype=float),
            "lower": rows.lower.to_numpy(dtype=float),
            "upper": rows.upper.to_numpy(dtype=float),
            "sufficient": rows.sufficient.to_numpy(dtype=bool),
            "n_labelled": rows.n_labelled.to_numpy(dtype=float),
        },
        columns=MEMBER_COLUMNS,
    )


def _change_members(rows: pd.DataFrame, model: ModelConfig, slo: SLOConfig) -> Members:
    sli = slo.sli
    wanted = set(model.cohort_members(sli.cohort, where=slo.name))
    if rows.empty:
        return Members(_no_members(), None, sli.is_set)
    rows = rows[rows.metric == sli.metric]
    keep = [(a, v) in wanted for a, v in zip(rows.cohort_attribute, rows.cohort_value, strict=True)]
    rows = rows[keep]
    value = rows.difference.to_numpy(dtype=float)
    lower = rows.lower.to_numpy(dtype=float)
    upper = rows.upper.to_numpy(dtype=float)
    with_interval = int((~np.isnan(lower) & ~np.isnan(upper)).sum())
    confidence = (
        bonferroni_confidence(with_interval, PUBLISHED_CONFIDENCE) if with_interval else None
    )
    if with_interval > 1:
        scale = normal_quantile(confidence) / normal_quantile(PUBLISHED_CONFIDENCE)
        lower, upper = value - (value - lower) * scale, value + (upper - value) * scale
    members = pd.DataFrame(
        {
            "member": cohort_names(rows.cohort_attribute, rows.cohort_value),
            "attribute": rows.cohort_attribute.to_numpy(),
            "group": rows.cohort_value.to_numpy(),
            "reference": None,
            "value": value,
            "lower": lower,
            "upper": upper,
            "sufficient": rows.sufficient.to_numpy(dtype=bool),
            "n_labelled": rows.denominator.to_numpy(dtype=float),
        },
        columns=MEMBER_COLUMNS,
    )
    return Members(_judged_sizes(members, sli.metric), confidence, sli.is_set)


def _fairness_members(rows: pd.DataFrame, slo: SLOConfig) -> pd.DataFrame:
    sli = slo.sli
    if rows.empty:
        return _no_members()
    rows = rows[rows.metric == sli.metric]
    if sli.attribute != ANY:
        rows = rows[rows.cohort_attribute == sli.attribute]
    if sli.group is not None:
        rows = rows[rows.cohort_value == sli.group]
    members = pd.DataFrame(
        {
            "member": (
                rows.cohort_attribute + "=" + rows.cohort_value + " vs " + rows.reference_value
            ).to_numpy(),
            "attribute": rows.cohort_attribute.to_numpy(),
            "group": rows.cohort_value.to_numpy(),
            "reference": rows.reference_value.to_numpy(),
            "value": rows.value.to_numpy(dtype=float),
            "lower": rows.lower.to_numpy(dtype=float),
            "upper": rows.upper.to_numpy(dtype=float),
            "sufficient": rows.sufficient.to_numpy(dtype=bool),
            "n_labelled": np.nan,
        },
        columns=MEMBER_COLUMNS,
    )
    return _judged_sizes(members, sli.metric)


def _drift_members(rows: pd.DataFrame, model: ModelConfig, slo: SLOConfig) -> pd.DataFrame:
    sli = slo.sli
    if rows.empty:
        return _no_members()
    wanted = set(model.cohort_members(sli.cohort, where=slo.name))
    features = set(model.features.all) if sli.feature == ANY else {sli.feature}
    rows = rows[(rows.method == sli.method) & rows.feature.isin(features)]
    keep = [(a, v) in wanted for a, v in zip(rows.cohort_attribute, rows.cohort_value, strict=True)]
    rows = rows[keep]
    cohort = cohort_names(rows.cohort_attribute, rows.cohort_value)
    return pd.DataFrame(
        {
            "member": (rows.feature + " @ " + cohort).to_numpy(),
            "attribute": rows.cohort_attribute.to_numpy(),
            "group": rows.cohort_value.to_numpy(),
            "reference": None,
            "value": rows.statistic.to_numpy(dtype=float),
            # Drift figures are judged on their values (the published intervals of
            # null_rate_change aside, none has one).
            "lower": np.nan,
            "upper": np.nan,
            "sufficient": rows.drifted.notna().to_numpy(dtype=bool),
            "n_labelled": np.nan,
        },
        columns=MEMBER_COLUMNS,
    )


def _no_members() -> pd.DataFrame:
    return pd.DataFrame(columns=MEMBER_COLUMNS)


def _judged_sizes(members: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A fairness difference is judged by its size whatever its sign; a ratio as it is."""
    if metric in RATIO_METRICS or members.empty:
        return members
    value, lower, upper = absolute_intervals(
        members.value.to_numpy(float), members.lower.to_numpy(float), members.upper.to_numpy(float)
    )
    nan = np.isnan(members.lower.to_numpy(float)) | np.isnan(members.upper.to_numpy(float))
    return members.assign(
        value=value, lower=np.where(nan, np.nan, lower), upper=np.where(nan, np.nan, upper)
    )


def _adjusted_intervals(
    frames: dict[str, pd.DataFrame],
    members: pd.DataFrame,
    slo: SLOConfig,
    confidence: float,
    min_cohort_size: int | None,
) -> pd.DataFrame:
    """``members`` with every interval at ``confidence`` (see :func:`sli_members`)."""
    sli = slo.sli
    recomputed = pd.DataFrame(columns=["attribute", "group", "reference", "lower", "upper"])
    stats = frames.get("cohort_stats", pd.DataFrame())
    if isinstance(sli, OperationalSLI):
        recomputed = _operational_intervals(
            frames.get("latency_histograms"), sli.metric, confidence
        )
    elif isinstance(sli, ComplaintSLI):
        counts = frames.get("complaint_metrics", pd.DataFrame())
        if not counts.empty:
            interval = wilson_interval(
                counts.complaints.to_numpy(), counts.n.to_numpy(), confidence
            )
            recomputed = pd.DataFrame(
                {
                    "attribute": counts.cohort_attribute.to_numpy(),
                    "group": counts.cohort_value.to_numpy(),
                    "reference": None,
                    "lower": np.asarray(interval.lower, dtype=float),
                    "upper": np.asarray(interval.upper, dtype=float),
                }
            )
    elif not stats.empty and min_cohort_size is not None:
        wide = derive_cohort_metrics(
            rows_to_stats(stats), min_cohort_size=min_cohort_size, confidence=confidence
        )
        if isinstance(sli, CohortMetricSLI) and sli.source == "cohort_metrics":
            long = to_long_format(wide)
            long = long[long.metric == sli.metric]
            recomputed = pd.DataFrame(
                {
                    "attribute": long.cohort_attribute.to_numpy(),
                    "group": long.cohort_value.to_numpy(),
                    "reference": None,
                    "lower": long.lower.to_numpy(float),
                    "upper": long.upper.to_numpy(float),
                }
            )
        elif isinstance(sli, FairnessSLI) and sli.source == "fairness_disparities":
            # The published reference of each attribute, whichever rule chose it.
            references = dict(zip(members.attribute, members.reference, strict=True))
            gaps = compute_disparities(wide, reference=references, confidence=confidence)
            gaps = gaps[gaps.metric == sli.metric]
            gaps = _judged_sizes(
                pd.DataFrame(
                    {
                        "attribute": gaps.cohort_attribute.to_numpy(),
                        "group": gaps.cohort_value.to_numpy(),
                        "reference": gaps.reference_value.to_numpy(),
                        "value": gaps.value.to_numpy(float),
                        "lower": gaps.lower.to_numpy(float),
                        "upper": gaps.upper.to_numpy(float),
                    }
                ),
                sli.metric,
            )
            recomputed = gaps.drop(columns="value")
    keys = ["attribute", "group"] + (["reference"] if isinstance(sli, FairnessSLI) else [])
    merged = members.merge(
        recomputed[[*keys, "lower", "upper"]].astype({k: object for k in keys}),
        on=keys,
        how="left",
        suffixes=("", "_adjusted"),
    )
    scale = normal_quantile(confidence) / normal_quantile(PUBLISHED_CONFIDENCE)
    value = merged.value.to_numpy(float)
    widened_lower = value - (value - merged.lower.to_numpy(float)) * scale
    widened_upper = value + (merged.upper.to_numpy(float) - value) * scale
    if isinstance(sli, FairnessSLI) and sli.metric not in RATIO_METRICS:
        widened_lower = np.maximum(widened_lower, 0.0)  # a size is never below 0
    have = merged.lower_adjusted.notna() & merged.upper_adjusted.notna()
    return merged.assign(
        lower=np.where(have, merged.lower_adjusted, widened_lower),
        upper=np.where(have, merged.upper_adjusted, widened_upper),
    )[MEMBER_COLUMNS]


def _operational_intervals(
    histograms: pd.DataFrame | None, metric: str, confidence: float
) -> pd.DataFrame:
    """Each cohort's interval of an operational ``metric`` at ``confidence``, recomputed
    from the day's latency histograms (and prediction counts) as they were published."""
    columns = ["attribute", "group", "reference", "lower", "upper"]
    if histograms is None or histograms.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for cohort in histograms.itertuples(index=False):
        if metric == "throughput":
            lower, upper = (float(b[0]) for b in poisson_interval([cohort.predictions], confidence))
        else:
            counts = np.asarray(cohort.counts, dtype=np.int64)
            _, lower, upper = quantile_from_histogram(counts, QUANTILES[metric], confidence)
            if math.isnan(lower) or math.isnan(upper):  # as published: both or neither
                lower = upper = math.nan
        rows.append((cohort.cohort_attribute, cohort.cohort_value, None, lower, upper))
    return pd.DataFrame(rows, columns=columns)


def judge_members(members: Members, slo: SLOConfig, min_cohort_size: int | None) -> SLIReading:
    """The SLO's verdict on the day from its members (``core.slo_sets.judge_set``)."""
    frame = members.frame
    objective = f"{slo.objective.op} {slo.objective.value:g}"
    if frame.empty:
        subject = _empty_subject(slo)
        return SLIReading(
            subject, math.nan, math.nan, math.nan, False, "unknown", NO_FIGURE[slo.sli.source]
        )
    verdict = judge_set(
        frame.value.to_numpy(float),
        frame.lower.to_numpy(float),
        frame.upper.to_numpy(float),
        frame.sufficient.to_numpy(bool),
        CORE_OP[slo.objective.op],
        slo.objective.value,
    )
    row = frame.iloc[verdict.subject]
    names = frame.member.astype(str).to_numpy()
    bad = tuple(names[i] for i in verdict.bad)
    unknown = tuple(names[i] for i in verdict.unknown)
    own = verdict.statuses[verdict.subject]
    if verdict.status == "bad":
        reason = f"interval wholly beyond {objective}"
    elif verdict.status == "good" and own == "good" and not row.sufficient:
        reason = f"interval wholly within {objective}"
    elif verdict.status == "good":
        reason = (
            f"interval reaches {objective}" if len(frame) == 1 else f"no member beyond {objective}"
        )
    elif math.isnan(row.value):
        reason = "figure undefined (zero denominator)"
    else:
        reason = "below the minimum size and its interval straddles the objective"
        if members.confidence is None:
            reason = "below the minimum size, without an interval to judge on"
    if own in ("good", "bad") and not row.sufficient:
        size = "" if math.isnan(row.n_labelled) else f" {int(row.n_labelled)}"
        floor = "" if min_cohort_size is None else f" {min_cohort_size}"
        reason += f"; judged on its interval: n{size} below the minimum size{floor}"
    if members.is_set:
        reason += f"; {len(bad)} of {len(frame)} members bad"
        if unknown:
            shown = ", ".join(unknown[:SHOWN_MEMBERS])
            more = (
                f" and {len(unknown) - SHOWN_MEMBERS} more" if len(unknown) > SHOWN_MEMBERS else ""
            )
            reason += f"; cannot judge {shown}{more}"
        if members.confidence is not None and members.confidence != PUBLISHED_CONFIDENCE:
            reason += f" (intervals at {members.confidence:.4g}, Bonferroni)"
    return SLIReading(
        subject=str(row.member),
        value=float(row.value),
        lower=float(row.lower),
        upper=float(row.upper),
        sufficient=bool(row.sufficient),
        status=verdict.status,
        reason=reason,
        bad_members=bad,
        unknown_members=unknown,
        members=len(frame),
        confidence=members.confidence if not math.isnan(float(row.lower)) else None,
    )


SHOWN_MEMBERS = 5


def _empty_subject(slo: SLOConfig) -> str:
    sli = slo.sli
    if isinstance(sli, FairnessSLI):
        return sli.attribute if sli.group is None else f"{sli.attribute}={sli.group}"
    if isinstance(sli, DriftSLI):
        return f"{sli.feature} @ {sli.cohort}"
    return sli.cohort


def read_sli(
    frames: dict[str, pd.DataFrame],
    model: ModelConfig,
    slo: SLOConfig,
    *,
    min_cohort_size: int | None = None,
) -> SLIReading:
    """Judge the SLO on the day's published rows (``frames`` by table name; a set SLO's
    intervals are recomputed from ``frames["cohort_stats"]`` when given)."""
    members = sli_members(frames, model, slo, min_cohort_size=min_cohort_size)
    reading = judge_members(members, slo, min_cohort_size)
    if isinstance(slo.sli, ComplaintSLI) and complaint_window_open(frames):
        closes = pd.Timestamp(frames["complaint_metrics"].window_closes_at.iloc[0])
        judged = {
            "bad": "the complaints counted so far already put it beyond the objective",
            "unknown": "not yet beyond the objective, and its rate can still grow",
        }.get(reading.status, "")
        reason = f"complaint window open until {closes:%Y-%m-%d %H:%M} UTC: {judged}"
        if members.is_set:
            reason += f"; {len(reading.bad_members)} of {reading.members} members bad"
        reading = replace(reading, reason=reason)
    return reading


def _published(engine: Engine, table: str, model_name: str, day: date) -> pd.DataFrame:
    frame = slo_store.day_rows(engine, table, model_name, day)
    if "model_version" in frame.columns:
        frame = frame[frame.model_version == "all"]
    return frame


def objective_band(
    engine: Engine, model_name: str, slo: SLOConfig, day: date
) -> AdaptiveBand | None:
    """The band of an adaptive objective on ``day``: from the SLO's readings judged good
    over the ``window_days`` before it; None for a fixed objective or a short history."""
    adaptive = slo.objective.adaptive
    if adaptive is None:
        return None
    history = slo_store.slo_evaluations(
        engine, model_name, slo.name, day - timedelta(days=adaptive.window_days),
        day - timedelta(days=1),
    )  # fmt: skip
    good = history.value[history.status == "good"] if not history.empty else []
    return adaptive_band(good, slo.objective.op, k=adaptive.k, min_days=adaptive.min_days)


def _band_text(slo: SLOConfig, band: AdaptiveBand | None) -> str:
    adaptive = slo.objective.adaptive
    if band is None:
        return (
            f"adaptive objective: fewer than {adaptive.min_days} good days in the "
            f"{adaptive.window_days} before, so the fixed {slo.objective.value:g} applies"
        )
    side = "+" if slo.objective.op in ("<=", "<") else "-"
    return (
        f"adaptive objective {band.objective:.4g} = mean {band.mean:.4g} {side} "
        f"{band.k:g} x sd {band.sd:.4g} of {band.days} good days"
    )


def day_slo(slo: SLOConfig, band: AdaptiveBand | None) -> SLOConfig:
    """The SLO as judged on a day: an adaptive objective's value is the day's band edge."""
    return slo.judged_against(band.objective if band is not None else None)


def slo_evaluation_row(
    reading: SLIReading, slo: SLOConfig, band: AdaptiveBand | None = None
) -> dict:
    """One ``slo_evaluations`` row (without its key columns); ``slo`` as judged that day
    (:func:`day_slo`)."""
    return {
        "objective_kind": "fixed" if slo.objective.adaptive is None else "adaptive",
        "band_mean": band.mean if band else None,
        "band_sd": band.sd if band else None,
        "band_days": band.days if band else None,
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
        "status": reading.status,
        "reason": reading.reason,
        "bad_members": pg_text_array(reading.bad_members),
        "unknown_members": pg_text_array(reading.unknown_members),
        "members": reading.members,
        "interval_confidence": reading.confidence,
    }


def pg_text_array(items: tuple[str, ...]) -> str:
    """A PostgreSQL ``text[]`` literal for COPY: every element quoted, ``\\`` and ``"``
    escaped (config values hold no control characters)."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def evaluate_slo(
    engine: Engine,
    frames: dict[str, pd.DataFrame],
    config: MonitoringConfig,
    model_name: str,
    slo: SLOConfig,
    day: date,
    *,
    min_cohort_size: int | None,
) -> dict:
    """The ``slo_evaluations`` row of one SLO on ``day`` from the day's published
    ``frames``; an adaptive objective is first set to the day's band edge
    (:func:`objective_band`, read from the SLO's earlier evaluations)."""
    band = objective_band(engine, model_name, slo, day)
    judged = day_slo(slo, band)
    reading = read_sli(frames, config.models[model_name], judged, min_cohort_size=min_cohort_size)
    if slo.objective.adaptive is not None:
        reading = replace(reading, reason=reading.reason + "; " + _band_text(slo, band))
    return slo_evaluation_row(reading, judged, band)


def build_slo_evaluations(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> pd.DataFrame:
    """Judge every SLO of the model on ``day``; returns the rows written."""
    model = config.models[model_name]
    frames = {
        t: _published(engine, t, model_name, day)
        for t in (
            "cohort_metrics",
            "fairness_disparities",
            "estimated_disparities",
            "version_comparison",
            "cohort_changes",
            "drift",
            "operational_metrics",
            "complaint_metrics",
        )
    }
    if any(slo.sli.is_set and slo.sli.source == "operational_metrics" for slo in model.slos):
        frames["latency_histograms"] = _published(engine, "latency_histograms", model_name, day)
    if any(
        slo.sli.is_set and slo.sli.source in ("cohort_metrics", "fairness_disparities")
        for slo in model.slos
    ):
        frames["cohort_stats"] = day_cohort_stats(engine, model_name, day)
    min_size = config.min_cohort_size(model_name)
    rows = [
        evaluate_slo(engine, frames, config, model_name, slo, day, min_cohort_size=min_size)
        for slo in model.slos
    ]
    frame = pd.DataFrame(rows, columns=_EVALUATION_COLUMNS).assign(
        partition_date=day, model_name=model_name
    )
    frame = frame.astype({"band_mean": float, "band_sd": float, "band_days": "Int64"})
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
    "objective_op", "objective_value", "sufficient", "status", "reason", "bad_members",
    "unknown_members", "members", "interval_confidence", "objective_kind", "band_mean",
    "band_sd", "band_days",
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
        max_severity = config.slo_max_severity(slo)
        budget = error_budget(
            statuses,
            target=slo.target,
            period_days=slo.compliance_period_days,
            max_severity=max_severity,
        )
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
                all_days.reindex(as_of),
                target=slo.target,
                period_days=slo.compliance_period_days,
                max_severity=max_severity,
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
                "max_severity": max_severity,
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
