"""The demo's second phase: after the error-budget sensor's page asked for retraining
(its retraining_job run, whose command action runs the reference retrainer), let the new
version serve the following days: a canary share first, then all traffic, so
``cohort_metrics`` and ``version_comparison`` show both versions side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.demo.expectations import scenario_incidents
from monitoring_pipeline.demo.generator import (
    DemoTraffic,
    VersionRollout,
    generate_traffic,
)
from monitoring_pipeline.demo.publish import publish_demo_sources
from monitoring_pipeline.demo.retrainer import load_scorer
from monitoring_pipeline.demo.scenario import simulated_clock
from monitoring_pipeline.orchestrate import PartitionRun, days_between, run_days
from monitoring_pipeline.storage.cohorts import (
    version_cohort_counts_between,
    version_first_days,
)
from monitoring_pipeline.storage.retraining import requests_of_firing_alerts
from monitoring_pipeline.storage.slo import paging_retrain_slos

DEMO_MODELS = ("loan_approval", "job_screening")


@dataclass(frozen=True)
class RetrainingOutcome:
    """One retraining the demo asked for, and what came of it."""

    model_name: str
    slo_name: str
    as_of: date
    request_id: int | None
    status: str
    reason: str
    new_version: str | None
    rollout: VersionRollout | None


def simulate(
    start: date,
    through: date,
    *,
    scenario_end: date,
    seed: int,
    rollouts: dict[str, VersionRollout] | None = None,
    daily_volume: int | None = None,
    healthy: bool = False,
    kinds: tuple[str, ...] = (),
    onset: date | None = None,
) -> dict[str, DemoTraffic]:
    """Both demo models' traffic for ``start..through`` as known at the simulated clock,
    with the incidents of the whole scenario ``start..scenario_end`` (a day's rows do not
    depend on how far the range reaches); ``healthy``: no incidents at all; ``kinds`` and
    ``onset``: a game day's incidents instead of the default ones (``scenario_incidents``)."""
    return {
        model: generate_traffic(
            model,
            start,
            through,
            now=simulated_clock(through),
            seed=seed,
            incidents=scenario_incidents(
                model, start, scenario_end, healthy=healthy, kinds=kinds, onset=onset
            ),
            daily_volume=daily_volume,
            rollout=(rollouts or {}).get(model),
        )
        for model in DEMO_MODELS
    }


def slos_to_retrain(engine: Engine, day: date) -> list[tuple[str, str]]:
    """(model, SLO) pairs whose error budget pages on ``day`` and asks for retraining."""
    return paging_retrain_slos(engine, day)


def retraining_outcomes(
    engine: Engine,
    as_of: date,
    *,
    canary_days: int,
    canary_share: float,
) -> list[RetrainingOutcome]:
    """The retraining requests the error-budget sensor's pages of ``as_of`` created (via
    retraining_job), each with a rollout of its new version from the next day when it
    completed. One rollout per model: a second request is suppressed by the cooldown."""
    requests = requests_of_firing_alerts(engine, as_of)
    outcomes = []
    rolled_out: set[str] = set()
    for r in requests.itertuples(index=False):
        rollout = None
        if r.status == "completed" and r.result_version and r.model_name not in rolled_out:
            rolled_out.add(r.model_name)
            scorer, threshold = load_scorer(engine, r.model_name, r.result_version)
            first = as_of + timedelta(days=1)
            rollout = VersionRollout(
                version=r.result_version,
                scorer=scorer,
                canary_from=first,
                full_from=first + timedelta(days=canary_days),
                canary_share=canary_share,
                threshold=threshold,
            )
        outcomes.append(
            RetrainingOutcome(
                r.model_name,
                r.slo_name,
                as_of,
                int(r.request_id),
                r.status,
                r.status_reason if isinstance(r.status_reason, str) else "",
                r.result_version if isinstance(r.result_version, str) else None,
                rollout,
            )
        )
    return outcomes


def continue_after_retraining(
    engine: Engine,
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    outcomes: Sequence[RetrainingOutcome],
    *,
    database_url: str | None = None,
    start: date,
    retrain_day: date,
    end: date,
    seed: int,
    data_dir: Path,
    healthy: bool = False,
    kinds: tuple[str, ...] = (),
    onset: date | None = None,
    daily_volume: int | None = None,
    progress: Callable[[int, int, PartitionRun], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[PartitionRun]:
    """Publish ``start..end`` again (later days scored by the new versions of ``outcomes``;
    earlier days gain the labels that arrived meanwhile, which late_labels_sensor notices)
    and materialize ``retrain_day + 1 .. end`` as of the simulated clock of ``end`` (so the
    days exist as Dagster partitions whatever the run date); ``should_stop`` is asked before
    each day (see :func:`~monitoring_pipeline.orchestrate.run_days`)."""
    rollouts = {o.model_name: o.rollout for o in outcomes if o.rollout is not None}
    traffic = simulate(
        start,
        end,
        scenario_end=end,
        seed=seed,
        rollouts=rollouts,
        daily_volume=daily_volume,
        healthy=healthy,
        kinds=kinds,
        onset=onset,
    )
    publish_demo_sources(engine, traffic, data_dir)
    return run_days(
        config,
        instance,
        days_between(retrain_day + timedelta(days=1), end),
        database_url=database_url,
        progress=progress,
        as_of=simulated_clock(end),
        should_stop=should_stop,
    )


def canary_window_comparison(
    engine: Engine, config: MonitoringConfig, model_name: str, days: Sequence[date]
) -> pd.DataFrame:
    """The canary comparison over several days at once: the days' additive cohort_stats
    are summed per version and cohort first (a single day is often too small for a
    minority group), then compared as one sample."""
    from monitoring_pipeline.core.version_comparison import COUNTS, compare_versions

    if not days:
        return pd.DataFrame()
    stats = version_cohort_counts_between(engine, model_name, min(days), max(days), COUNTS)
    return compare_versions(
        stats,
        version_first_days(engine, model_name),
        min_cohort_size=config.min_cohort_size(model_name),
    )
