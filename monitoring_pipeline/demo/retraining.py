"""The demo's second phase: after a page that asks for retraining, request it
(retraining_job, whose command action runs the reference retrainer), then let the new
version serve the following days: a canary share first, then all traffic, so
``cohort_metrics`` and ``version_comparison`` show both versions side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.retraining import RETRAINING_JOB, retraining_run_config
from monitoring_pipeline.demo.generator import (
    DemoTraffic,
    VersionRollout,
    default_incidents,
    generate_traffic,
)
from monitoring_pipeline.demo.publish import publish_demo_sources
from monitoring_pipeline.demo.retrainer import load_scorer
from monitoring_pipeline.orchestrate import PartitionRun, days_between, run_days
from monitoring_pipeline.storage.retraining import get_request
from monitoring_pipeline.storage.writes import read_frame

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


def simulated_clock(last_day: date) -> datetime:
    """06:00 UTC the day after ``last_day``: when the demo pretends to run."""
    return datetime.combine(last_day + timedelta(days=1), time(6), tzinfo=UTC)


def simulate(
    start: date,
    through: date,
    *,
    scenario_end: date,
    seed: int,
    rollouts: dict[str, VersionRollout] | None = None,
    daily_volume: int | None = None,
) -> dict[str, DemoTraffic]:
    """Both demo models' traffic for ``start..through`` as known at the simulated clock,
    with the incidents of the whole scenario ``start..scenario_end`` (a day's rows do not
    depend on how far the range reaches)."""
    return {
        model: generate_traffic(
            model,
            start,
            through,
            now=simulated_clock(through),
            seed=seed,
            incidents=default_incidents(model, start, scenario_end),
            daily_volume=daily_volume,
            rollout=(rollouts or {}).get(model),
        )
        for model in DEMO_MODELS
    }


def slos_to_retrain(engine: Engine, day: date) -> list[tuple[str, str]]:
    """(model, SLO) pairs whose error budget pages on ``day`` and asks for retraining."""
    frame = read_frame(
        engine,
        "SELECT model_name, slo_name FROM monitoring.error_budgets WHERE partition_date = :day "
        "AND status = 'page' AND retrain_on_page ORDER BY model_name, slo_name",
        {"day": day},
    )
    return list(zip(frame.model_name, frame.slo_name, strict=True))


def demo_dedupe_key(model_name: str, slo_name: str, day: date) -> str:
    return f"demo:{model_name}:{slo_name}:{day.isoformat()}"


def request_retraining_now(
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    *,
    database_url: str,
    model_name: str,
    slo_name: str,
    as_of: date,
) -> dg.ExecuteInProcessResult:
    """Run retraining_job with the contract config, as the error-budget sensor would."""
    job = build_definitions(config, database_url=database_url).resolve_job_def(RETRAINING_JOB)
    return job.execute_in_process(
        run_config=retraining_run_config(
            model_name=model_name,
            slo_name=slo_name,
            as_of=as_of.isoformat(),
            alert_dedupe_key=demo_dedupe_key(model_name, slo_name, as_of),
        )
        | {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        instance=instance,
        raise_on_error=False,
    )


def retrain_paging_models(
    engine: Engine,
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    *,
    database_url: str,
    as_of: date,
    canary_days: int,
    canary_share: float,
) -> list[RetrainingOutcome]:
    """Request retraining for every page on ``as_of`` that asks for it (one per model) and
    turn each completed request into a rollout starting the next day."""
    outcomes = []
    seen_models: set[str] = set()
    for model_name, slo_name in slos_to_retrain(engine, as_of):
        if model_name in seen_models:
            continue  # one new version per model: the cooldown would suppress the rest
        seen_models.add(model_name)
        result = request_retraining_now(
            config,
            instance,
            database_url=database_url,
            model_name=model_name,
            slo_name=slo_name,
            as_of=as_of,
        )
        request_id = result.output_for_node("request_retraining") if result.success else None
        if request_id is None:
            reason = _failure_line(result)
            outcomes.append(
                RetrainingOutcome(model_name, slo_name, as_of, None, "failed", reason, None, None)
            )
            continue
        request = get_request(engine, request_id)
        rollout = None
        if request.status == "completed" and request.result_version:
            scorer, threshold = load_scorer(engine, model_name, request.result_version)
            first = as_of + timedelta(days=1)
            rollout = VersionRollout(
                version=request.result_version,
                scorer=scorer,
                canary_from=first,
                full_from=first + timedelta(days=canary_days),
                canary_share=canary_share,
                threshold=threshold,
            )
        outcomes.append(
            RetrainingOutcome(
                model_name,
                slo_name,
                as_of,
                request_id,
                request.status,
                request.status_reason or "",
                request.result_version,
                rollout,
            )
        )
    return outcomes


def _failure_line(result: dg.ExecuteInProcessResult) -> str:
    """The run's failure in one line (the Failure's description when it raised one)."""
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        failure = event.step_failure_data
        if failure.user_failure_data and failure.user_failure_data.description:
            return failure.user_failure_data.description
        if failure.error:
            return failure.error.message.strip().splitlines()[0]
    return "retraining_job did not succeed"


def continue_after_retraining(
    engine: Engine,
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    *,
    database_url: str,
    start: date,
    retrain_day: date,
    end: date,
    seed: int,
    data_dir: Path,
    canary_days: int = 3,
    canary_share: float = 0.5,
    daily_volume: int | None = None,
    progress: Callable[[int, int, PartitionRun], None] | None = None,
    report: Callable[[RetrainingOutcome], None] | None = None,
) -> tuple[list[RetrainingOutcome], list[PartitionRun]]:
    """Retrain what pages on ``retrain_day``, then publish ``start..end`` again (later days
    scored by the new versions; earlier days gain the labels that arrived meanwhile) and
    materialize ``retrain_day + 1 .. end``."""
    outcomes = retrain_paging_models(
        engine,
        config,
        instance,
        database_url=database_url,
        as_of=retrain_day,
        canary_days=canary_days,
        canary_share=canary_share,
    )
    for outcome in outcomes if report is not None else ():
        report(outcome)
    rollouts = {o.model_name: o.rollout for o in outcomes if o.rollout is not None}
    traffic = simulate(
        start, end, scenario_end=end, seed=seed, rollouts=rollouts, daily_volume=daily_volume
    )
    publish_demo_sources(engine, traffic, data_dir)
    runs = run_days(
        config,
        instance,
        days_between(retrain_day + timedelta(days=1), end),
        database_url=database_url,
        progress=progress,
    )
    return outcomes, runs


def canary_window_comparison(
    engine: Engine, config: MonitoringConfig, model_name: str, days: Sequence[date]
) -> pd.DataFrame:
    """The canary comparison over several days at once: the days' additive cohort_stats
    are summed per version and cohort first (a single day is often too small for a
    minority group), then compared as one sample."""
    from monitoring_pipeline.core.version_comparison import COUNTS, compare_versions

    if not days:
        return pd.DataFrame()
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTS)
    stats = read_frame(
        engine,
        f"SELECT model_version, cohort_attribute, cohort_value, {sums} FROM monitoring.cohort_stats "
        "WHERE model_name = :model AND partition_date BETWEEN :start AND :end "
        "AND model_version <> 'all' GROUP BY 1, 2, 3",
        {"model": model_name, "start": min(days), "end": max(days)},
    )
    first_seen = read_frame(
        engine,
        "SELECT model_version, min(partition_date) AS first_day FROM monitoring.cohort_stats "
        "WHERE model_name = :model AND model_version <> 'all' AND n > 0 GROUP BY 1",
        {"model": model_name},
    )
    return compare_versions(
        stats,
        dict(zip(first_seen.model_version, first_seen.first_day, strict=True)),
        min_cohort_size=config.min_cohort_size(model_name),
    )
