"""Label-free performance estimates of one (model, day): ``performance_estimates`` and
``estimated_disparities`` (``core.estimation`` for the method).

Reads only ``estimation_stats`` (written by ``cohort_metrics`` from its one pass over the
day's rows): the day's and the reference window's, which is the model's baseline fitting
window (the window reference groups are chosen on), the same for every day, so an estimate
does not move when later days are re-run. A day inside the window is calibrated on the
window without itself. Gaps are taken against the reference groups of
``fairness_disparities``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.drift_baseline import fitting_window
from monitoring_pipeline.core.estimation import (
    CELL_KEYS,
    ESTIMATION_SCORE_BINS,
    ScoreSums,
    estimate_with_reference,
    estimated_disparities,
)
from monitoring_pipeline.pipeline.cohort_metrics import reference_groups
from monitoring_pipeline.storage.estimation import (
    estimation_stats_between,
    rows_to_estimation_stats,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

ESTIMATES_TABLE = "performance_estimates"
DISPARITIES_TABLE = "estimated_disparities"


@dataclass(frozen=True)
class EstimationResult:
    rows: int
    estimated: int
    uncalibrated: int
    judged: int
    within_interval: int
    reference: tuple[date, date] | None
    # model version 'all', sufficient gaps, largest first.
    gaps: pd.DataFrame

    @property
    def coverage(self) -> float | None:
        return self.within_interval / self.judged if self.judged else None


def reference_window(config: MonitoringConfig, model_name: str) -> tuple[date, date]:
    baseline = config.models[model_name].baseline
    return fitting_window(
        config.partitions_start,
        preceding_days=baseline.preceding_days,
        start=baseline.start,
        end=baseline.end,
    )


def build_performance_estimates(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> EstimationResult:
    settings = config.models[model_name].estimation
    start, end = reference_window(config, model_name)
    # The reference window, and the day itself when it lies outside it (never the days
    # between: a day a year on reads 15 days of sums, not a year's).
    frames = rows_to_estimation_stats(estimation_stats_between(engine, model_name, start, end))
    if not start <= day <= end:
        frames = pd.concat(
            [
                frames,
                rows_to_estimation_stats(estimation_stats_between(engine, model_name, day, day)),
            ],
            ignore_index=True,
        )
    today = frames[frames.partition_date == day] if not frames.empty else frames
    if not settings.enabled or today.empty:
        _write(engine, model_name, day, audit, pd.DataFrame(), pd.DataFrame())
        return EstimationResult(0, 0, 0, 0, 0, None, pd.DataFrame())
    cells = today[CELL_KEYS].drop_duplicates().reset_index(drop=True)
    sums = ScoreSums.from_stats(today, ESTIMATION_SCORE_BINS, cells=cells)
    in_window = frames[(frames.partition_date >= start) & (frames.partition_date <= end)]
    reference = {
        when: ScoreSums.from_stats(rows, ESTIMATION_SCORE_BINS, cells=cells)
        for when, rows in in_window.groupby("partition_date", sort=True)
    }
    estimates = estimate_with_reference(
        sums,
        reference,
        day,
        min_cohort_size=config.min_cohort_size(model_name),
        min_label_coverage=settings.min_label_coverage,
    ).assign(reference_from=start, reference_to=end)
    gaps = estimated_disparities(estimates, reference_groups(engine, config, model_name))
    key = {"partition_date": day, "model_name": model_name}
    _write(engine, model_name, day, audit, estimates.assign(**key), gaps.assign(**key))
    judged = estimates.within_interval.notna()
    sufficient_gaps = gaps[gaps.sufficient].assign(size=gaps.value.abs())
    return EstimationResult(
        rows=len(estimates),
        estimated=int(estimates.sufficient.sum()),
        uncalibrated=int((estimates.status == "uncalibrated").sum()),
        judged=int(judged.sum()),
        within_interval=int(estimates.within_interval[judged].astype(bool).sum()),
        reference=(start, end),
        gaps=sufficient_gaps.sort_values("size", ascending=False).drop(columns="size"),
    )


def _write(
    engine: Engine,
    model_name: str,
    day: date,
    audit: Audit,
    estimates: pd.DataFrame,
    gaps: pd.DataFrame,
) -> None:
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[TableRows(ESTIMATES_TABLE, estimates), TableRows(DISPARITIES_TABLE, gaps)],
        audit=audit,
    )
