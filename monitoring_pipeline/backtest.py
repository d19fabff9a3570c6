"""`monitoring-pipeline backtest`: replay past days as production would have seen them, and
say which alerts would have fired when.

Each day ``d`` of the period, in order, at the replayed clock ``end of d`` (00:00 UTC of
``d + 1``):

1. ``late_labels_sensor`` ticks: earlier days whose labels grew (labels recorded by the
   clock only) re-run their label-dependent assets, with that label cutoff; so does
   ``late_complaints_sensor`` for days whose complaints grew or whose window closed;
2. ``monitor_models_job`` materializes day ``d``, joining the labels recorded by the end of
   ``d`` (run tag ``monitoring/labels_as_of``; never the wall clock);
3. ``error_budget_sensor`` ticks: its decisions are recorded in ``monitoring.alerts`` as in
   production, but the ``alert_job`` and ``retraining_job`` runs it requests are not
   launched, so nothing is delivered and nobody is paged.

Where it writes: a database of its own on the same server, ``<monitoring db>_backtest``,
dropped and created fresh by each backtest (see :mod:`monitoring_pipeline.storage.replay`),
so production tables, alerts and the Dagster run history are never touched; its Dagster runs
go to an in-memory instance. The HTML report asset is left out (it decides nothing).
Objectives can be tried before they are applied (``objectives``: a `calibrate` output).

The first days of the period are the drift baseline and the start of every compliance
period: begin it ``baseline.preceding_days`` before the days you want judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig, PostgresTableSource
from monitoring_pipeline.defs.alerts import ERROR_BUDGET_SENSOR
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.sensors import LATE_COMPLAINTS_SENSOR, LATE_LABELS_SENSOR
from monitoring_pipeline.defs.tags import LABELS_AS_OF_TAG
from monitoring_pipeline.orchestrate import (
    PartitionRun,
    SensorTick,
    days_between,
    run_partitions,
    tick_sensor,
)
from monitoring_pipeline.storage.alerts import decided_alerts
from monitoring_pipeline.storage.database import create_engine, redact
from monitoring_pipeline.storage.migrations import apply_migrations
from monitoring_pipeline.storage.replay import backtest_url, copy_table_slice, create_fresh_database

__all__ = [
    "BacktestResult",
    "ReplayedDay",
    "alert_timeline",
    "replay_clock",
    "restrict_models",
    "run_backtest",
]


def replay_clock(day: date) -> datetime:
    """The replayed "now" of ``day``: its end (00:00 UTC of the next day)."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def replayed_day(moment: datetime) -> date:
    """The day whose end ``moment`` is (inverse of :func:`replay_clock`)."""
    return (moment.astimezone(UTC) - timedelta(microseconds=1)).date()


@dataclass(frozen=True)
class ReplayedDay:
    """One replayed day: its run, the late-label re-runs before it, the alerts decided."""

    day: date
    run: PartitionRun
    reruns: list[str]  # "<model> <day>" per late-label re-run
    rerun_failures: list[str]
    alerts_decided: int
    seconds: float

    @property
    def day_runs(self) -> int:
        """Runs of the day: its own and the re-runs of earlier days."""
        return 1 + len(self.reruns)


@dataclass(frozen=True)
class BacktestResult:
    start: date
    end: date
    models: list[str]
    database: str  # redacted URL of the replay's database
    days: list[ReplayedDay]
    alerts: pd.DataFrame  # decided_alerts + replayed_day (the day at whose end it fired)
    seconds: float

    @property
    def success(self) -> bool:
        return all(d.run.success and not d.rerun_failures for d in self.days)

    @property
    def seconds_per_day(self) -> float:
        return self.seconds / len(self.days) if self.days else 0.0

    @property
    def runs_per_day(self) -> float:
        return sum(d.day_runs for d in self.days) / len(self.days) if self.days else 0.0


def restrict_models(config: MonitoringConfig, models: Sequence[str] | None) -> MonitoringConfig:
    """``config`` with only ``models`` (all when None); an unknown name raises ValueError."""
    if not models:
        return config
    unknown = sorted(set(models) - set(config.models))
    if unknown:
        raise ValueError(f"no model {unknown} in the config (models: {sorted(config.models)})")
    return config.model_copy(update={"models": {m: config.models[m] for m in models}})


def run_backtest(
    config: MonitoringConfig,
    *,
    monitoring_url: str,
    start: date,
    end: date,
    instance: dg.DagsterInstance | None = None,
    progress: Callable[[int, int, ReplayedDay], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
) -> BacktestResult:
    """Replay ``start..end`` of every model of ``config`` (see the module docstring).

    ``monitoring_url``: the production monitoring database, which holds the table sources;
    the replay writes to ``<its name>_backtest`` on the same server, created fresh.
    ``instance``: where the replay's Dagster runs go (default: an in-memory instance).
    ``resume``: keep the replay database as an earlier backtest left it (up to the day
    before ``start``) and go on from there; the table sources are copied again, from
    ``late_labels.lookback_days`` before ``start``, so re-runs of those days see them.
    The result's alerts are then every alert of the database, earlier ones included.
    """
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    started = time.monotonic()
    url = backtest_url(monitoring_url)
    if not resume:
        create_fresh_database(url)
    engine = create_engine(url)
    try:
        apply_migrations(engine)
        production = create_engine(monitoring_url)
        copy_from = start - timedelta(days=config.late_labels.lookback_days) if resume else start
        try:
            _copy_table_sources(production, engine, config, copy_from, end)
        finally:
            production.dispose()
        now = [replay_clock(start)]
        defs = build_definitions(
            config,
            database_url=url,
            clock=lambda: now[0],
            labels_as_of_clock=True,
            reports=False,
        )
        job = defs.resolve_job_def(MONITOR_MODELS_JOB)
        resources = {"monitoring_db": MonitoringDatabase(database_url=url)}
        owned = instance is None
        instance = instance or dg.DagsterInstance.ephemeral()
        days: list[ReplayedDay] = []
        alert_cursor: str | None = None
        # Alert run keys already counted (a resumed replay's earlier alerts stay pending).
        announced = {f"alert:{a.dedupe_key}:{a.kind}" for a in decided_alerts(engine).itertuples()}
        try:
            # Partitions exist up to the replay's end, whatever day it is run on.
            with dg.partition_loading_context(effective_dt=replay_clock(end)):
                period = days_between(start, end)
                for index, day in enumerate(period, start=1):
                    if should_stop is not None and should_stop():
                        break
                    now[0] = replay_clock(day)
                    replayed, alert_cursor = _replay_day(
                        defs, job, instance, resources, day, now[0], alert_cursor, announced
                    )
                    days.append(replayed)
                    if progress is not None:
                        progress(index, len(period), replayed)
        finally:
            if owned:
                instance.dispose()
        alerts = decided_alerts(engine)
        alerts["replayed_day"] = [replayed_day(t) for t in alerts["decided_at"]]
        return BacktestResult(
            start=start,
            end=end,
            models=list(config.models),
            database=redact(url),
            days=days,
            alerts=alerts,
            seconds=time.monotonic() - started,
        )
    finally:
        engine.dispose()


def _replay_day(
    defs: dg.Definitions,
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    resources: Mapping[str, object],
    day: date,
    now: datetime,
    alert_cursor: str | None,
    announced: set[str],
) -> tuple[ReplayedDay, str | None]:
    started = time.monotonic()
    # Re-runs first: the day's error budgets then count the earlier days as they now are.
    late = tick_sensor(defs, instance, LATE_LABELS_SENSOR, cursor=None, resources=dict(resources))
    reruns = list(late.runs)
    if any(sensor.name == LATE_COMPLAINTS_SENSOR for sensor in defs.sensors or ()):
        complaints = tick_sensor(
            defs, instance, LATE_COMPLAINTS_SENSOR, cursor=None, resources=dict(resources)
        )
        reruns += complaints.runs
    cutoff = {LABELS_AS_OF_TAG: now.isoformat(), "trigger": "backtest"}
    (run,) = run_partitions(job, instance, [day], tags_for=lambda _: cutoff)
    alerts = tick_sensor(
        defs,
        instance,
        ERROR_BUDGET_SENSOR,
        cursor=alert_cursor,
        resources=dict(resources),
        launch=lambda request: False,  # recorded in monitoring.alerts, never delivered
    )
    return (
        ReplayedDay(
            day=day,
            run=run,
            reruns=[_rerun_name(r.run_key) for r in reruns if r.run_id is not None],
            rerun_failures=[
                f"{_rerun_name(r.run_key)}: {r.error}"
                for r in reruns
                if r.run_id is not None and not r.success
            ],
            alerts_decided=_newly_decided(alerts, announced),
            seconds=time.monotonic() - started,
        ),
        alerts.cursor,
    )


def _rerun_name(run_key: str) -> str:
    # late-labels:<model>:<day>:<label rows>, late-complaints:<model>:<day>:<count>:<window>
    kind, model, day, *_ = run_key.split(":")
    return f"{model} {day}" + (" (complaints)" if kind == "late-complaints" else "")


def _newly_decided(tick: SensorTick, announced: set[str]) -> int:
    # The declined alert_job requests are every pending alert: this tick's and those of
    # earlier ticks, which stay pending since nothing delivers them.
    new = {r.run_key for r in tick.runs if not r.launched and r.run_key.startswith("alert:")}
    new -= announced
    announced |= new
    return len(new)


def _copy_table_sources(
    production: Engine, replay: Engine, config: MonitoringConfig, start: date, end: date
) -> None:
    """Copy the period's rows of every Postgres-table source into the replay's database:
    predictions scored in the period, labels and complaints recorded in it (one recorded
    later was never seen by any replayed day, and none precedes its prediction)."""
    low = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    high = replay_clock(end)
    done: set[str] = set()
    for model in config.models.values():
        logs = [
            (model.predictions, model.columns.scored_at),
            (model.labels, model.columns.labelled_at),
        ]
        if model.complaints is not None:
            logs.append((model.complaints.source, model.complaints.complained_at))
        for log, column in logs:
            if isinstance(log, PostgresTableSource) and log.table not in done:
                copy_table_slice(production, replay, log.table, column, low, high)
                done.add(log.table)


# --- what would have fired ----------------------------------------------------------------


TIMELINE_COLUMNS = [
    "model_name", "source", "subject", "first_ticket", "first_page", "resolved", "notifications",
]  # fmt: skip


def alert_timeline(alerts: pd.DataFrame) -> pd.DataFrame:
    """Per (model, source, subject): the replayed day of the first ticket, of the first
    page, the days it resolved (comma-separated) and the number of notifications.

    ``alerts``: :func:`decided_alerts` rows with ``replayed_day``. A page that escalated
    from a ticket counts as a page on the day it escalated; an episode that opened at page
    has no ticket day.

    >>> rows = pd.DataFrame({"model_name": ["m"] * 3, "source": ["error_budget"] * 3,
    ...     "subject": ["s"] * 3, "kind": ["firing", "firing", "resolved"],
    ...     "severity": ["ticket", "page", "page"],
    ...     "replayed_day": [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 9)]})
    >>> alert_timeline(rows).iloc[0].to_dict()["first_page"]
    datetime.date(2026, 11, 3)
    """
    out = []
    for (model, source, subject), rows in alerts.groupby(
        ["model_name", "source", "subject"], sort=True
    ):
        firing = rows[rows.kind == "firing"]
        out.append(
            {
                "model_name": model,
                "source": source,
                "subject": subject,
                "first_ticket": _first(firing[firing.severity == "ticket"].replayed_day),
                "first_page": _first(firing[firing.severity == "page"].replayed_day),
                "resolved": ", ".join(
                    d.isoformat() for d in sorted(rows[rows.kind == "resolved"].replayed_day)
                ),
                "notifications": len(rows),
            }
        )
    return pd.DataFrame(out, columns=TIMELINE_COLUMNS)


def _first(days: pd.Series) -> date | None:
    return min(days) if len(days) else None


def first_alert_day(
    alerts: pd.DataFrame, model: str, *, since: date, severities: Sequence[str] = ("ticket", "page")
) -> date | None:
    """The first replayed day from ``since`` on at whose end ``model`` got a firing alert of
    one of ``severities`` (any SLO or health check); None when none fired."""
    fired = alerts[
        (alerts.model_name == model)
        & (alerts.kind == "firing")
        & alerts.severity.isin(list(severities))
        & (alerts.replayed_day >= since)
    ]
    return _first(fired.replayed_day)


def report_lines(result: BacktestResult) -> list[str]:
    """The backtest's printed summary: per SLO / health check when it would have fired."""
    lines = [
        f"Backtest {result.start} .. {result.end} ({len(result.days)} day(s), "
        f"models {', '.join(result.models)}), written to {result.database}; alerts recorded "
        "there, none delivered.",
        f"  {result.seconds:.0f}s in all: {result.seconds_per_day:.1f}s and "
        f"{result.runs_per_day:.1f} run(s) per replayed day (its own and late-label re-runs).",
    ]
    timeline = alert_timeline(result.alerts)
    if timeline.empty:
        lines.append("  No alert would have fired.")
        return lines
    lines.append("  Would have fired (day = the replayed day at whose end the sensor decided):")
    header = f"  {'model':<16}{'source':<14}{'subject':<28}{'ticket':<12}{'page':<12}resolved"
    lines.append(header)
    for row in timeline.itertuples(index=False):
        lines.append(
            f"  {row.model_name:<16}{row.source:<14}{row.subject:<28}"
            f"{_day(row.first_ticket):<12}{_day(row.first_page):<12}{row.resolved or '-'}"
        )
    return lines


def _day(value: date | None) -> str:
    return "-" if value is None or pd.isna(value) else value.isoformat()
