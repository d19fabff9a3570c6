"""`monitoring-pipeline demo`: the whole monitoring loop on simulated traffic, in simulated
time (see README, "The demo").

Phase 1 simulates ``--days`` days up to the retraining day, publishes them to their sources,
writes the demo config and materializes every day; one tick of error_budget_sensor pages
and requests retraining. Phase 2 lets the retrained version serve the remaining days up to
``--end``; a second tick sends what follows (escalations, resolved notices); then the
summary.

Time: the days come from the scenario's calendar (:mod:`.scenario`), never from the wall
clock, so the same seed gives the same tables, alerts and summary on any run date.

Stopping: SIGINT (Ctrl-C) and SIGTERM stop the demo as a whole. The work runs in a worker
thread (see :mod:`monitoring_pipeline.stopping`): the day in flight runs to its end, no
further day starts, the webhook receiver stops, the embedded server started for the demo
stops at exit, and the exit code is 130 (SIGINT) or 143 (SIGTERM) after one line saying
where the demo stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from monitoring_pipeline.alerting.receiver import DEFAULT_PORT as RECEIVER_PORT
from monitoring_pipeline.config import load_config
from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.demo.alerting import (
    describe_tick,
    evaluate_alerts,
    local_receiver,
    local_webhook_url,
)
from monitoring_pipeline.demo.expectations import scenario_incidents
from monitoring_pipeline.demo.publish import publish_demo_sources, write_demo_config
from monitoring_pipeline.demo.retraining import (
    DEMO_MODELS,
    RetrainingOutcome,
    continue_after_retraining,
    retraining_outcomes,
    simulate,
)
from monitoring_pipeline.demo.scenario import SCENARIO_END, DemoCalendar, simulated_clock
from monitoring_pipeline.demo.summary import (
    print_alert_summary,
    print_retraining_summary,
    print_summary,
)
from monitoring_pipeline.orchestrate import (
    PartitionRun,
    SensorTick,
    dagster_instance,
    progress_lines,
    run_days,
)
from monitoring_pipeline.settings import load_settings
from monitoring_pipeline.stopping import Stopped, StopRequest, run_in_worker, stop_on_signals
from monitoring_pipeline.storage.database import create_engine, redact, resolve_server
from monitoring_pipeline.storage.migrations import apply_migrations

__all__ = ["DemoOptions", "run_demo", "tick_error_budget_sensor"]

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class DemoOptions:
    """The demo's command-line options (defaults: the README's scenario)."""

    days: int = 28
    after_retrain_days: int = 5
    end: date = SCENARIO_END
    seed: int = 7
    healthy: bool = False
    # A game day: these incident kinds (``demo.expectations.EXPECTATIONS``) from ``onset``
    # instead of the default scenario's.
    incidents: tuple[str, ...] = ()
    onset: date | None = None
    alerts: bool = True
    webhook_port: int = RECEIVER_PORT
    canary_days: int = 3

    def calendar(self) -> DemoCalendar:
        return DemoCalendar.of(
            days=self.days, after_retrain_days=self.after_retrain_days, end=self.end
        )


def run_demo(options: DemoOptions, *, say: Say = _say) -> int:
    """Play the demo; returns the exit code: 0 when every run succeeded, 1 when one failed,
    2 for a bad option, 130 / 143 when stopped by SIGINT / SIGTERM."""
    try:
        calendar = options.calendar()
        if options.healthy and options.incidents:
            raise ValueError("--healthy and --incident exclude each other")
        for model in DEMO_MODELS:  # an unknown incident or an onset outside the days
            scenario_incidents(
                model, calendar.start, calendar.end, kinds=options.incidents, onset=options.onset
            )
    except ValueError as exc:
        say(str(exc))
        return 2
    stop = StopRequest()
    with stop_on_signals(stop):
        demo = _Demo(options, stop, say)
        code = run_in_worker(demo.play, name="demo")
    if stop.requested:
        say(demo.stopped_line())
        return stop.exit_code
    return code


def tick_error_budget_sensor(
    config: MonitoringConfig,
    instance: dg.DagsterInstance,
    *,
    database_url: str | None = None,
    day: date,
    cursor: str | None,
) -> SensorTick:
    """One tick of error_budget_sensor as the daemon would run it on the morning after
    ``day`` (simulated time: missing health rows are judged against that day, not today)."""
    at_day = build_definitions(
        config, database_url=database_url, clock=lambda: simulated_clock(day)
    )
    return evaluate_alerts(at_day, instance, database_url=database_url, cursor=cursor)


@dataclass
class _Demo:
    """One play of the demo and how far it got (for the line said when it is stopped)."""

    options: DemoOptions
    stop: StopRequest
    say: Say
    calendar: DemoCalendar = field(init=False)
    stage: str = "before the first day"
    materialized: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.calendar = self.options.calendar()

    def play(self) -> int:
        try:
            return self._play()
        except Stopped:
            return 0  # run_demo says where it stopped and returns the signal's exit code

    def stopped_line(self) -> str:
        done = self.materialized
        where = f"monitoring-pipeline demo: stopped by {self.stop.signal_name} {self.stage}: "
        if not done:
            return where + "no day materialized"
        return where + (
            f"{len(done)} of {self.calendar.total_days} days materialized "
            f"({done[0]}..{done[-1]}), each whole; no further day started"
        )

    def _progress(self, index: int, total: int, run: PartitionRun) -> None:
        self.materialized.append(run.partition_key)
        self.stage = f"after {run.partition_key}"
        for line in progress_lines(index, total, run):
            self.say(line)

    def _play(self) -> int:
        options, calendar, say, stop = self.options, self.calendar, self.say, self.stop
        start, retrain_day, end = calendar.start, calendar.retrain_day, calendar.end
        settings = load_settings()
        started = time.monotonic()
        say(
            f"monitoring_pipeline demo: {start} .. {end} ({calendar.total_days} days), "
            f"state in {settings.home}"
        )
        urls = resolve_server(settings)
        apply_migrations(create_engine(urls.monitoring))
        where = (
            "embedded PostgreSQL in " + str(settings.pgdata)
            if urls.embedded
            else redact(urls.monitoring)
        )
        say(f"- database: {where}")
        stop.check()

        self.stage = "while simulating the traffic"
        now = simulated_clock(retrain_day)
        game = {"healthy": options.healthy, "kinds": options.incidents, "onset": options.onset}
        traffic = simulate(start, retrain_day, scenario_end=end, seed=options.seed, **game)
        for model in DEMO_MODELS:
            incidents = scenario_incidents(model, start, end, **game)
            say(
                f"- simulated {model}: {len(traffic[model].predictions):,} predictions, "
                f"{len(traffic[model].labels):,} label rows known at {now:%Y-%m-%d %H:%M} UTC"
                + ("; healthy: no incidents" if options.healthy else "")
            )
            for incident in incidents:
                say(
                    f"    incident {type(incident).__name__} {incident.start}..{incident.end}: "
                    f"{incident.description}"
                )
        stop.check()
        self.stage = "while publishing the sources"
        engine = create_engine(urls.monitoring)
        placed = publish_demo_sources(engine, traffic, settings.demo_data_dir)
        for model, place in placed.items():
            say(f"- {model} logs written to {place}")
        write_demo_config(
            settings.config_path, start, settings.demo_data_dir, webhook_port=options.webhook_port
        )
        say(f"- config written to {settings.config_path}")
        stop.check()
        self.stage = "before the first day"
        config = load_config(settings.config_path)
        webhook = local_webhook_url(config) if options.alerts else None
        receiver = (
            local_receiver(webhook, out=settings.home / "demo_alerts.jsonl", say=say)
            if webhook
            else nullcontext(False)
        )
        if not options.alerts:
            say(
                "- --no-alerts: error_budget_sensor is left to the Dagster daemon "
                "(`monitoring-pipeline ui`); no retraining in the demo"
            )
        phase_days = calendar.first_phase_days()
        say(
            f"- materializing {len(phase_days)} daily partitions of every asset "
            "(job monitor_models_job):"
        )
        outcomes: list[RetrainingOutcome] = []
        ticks: list[SensorTick] = []
        with dagster_instance(settings, urls) as instance, receiver:

            def tick(day: date) -> None:
                stop.check()
                self.stage = f"at error_budget_sensor's tick on {day}"
                cursor = ticks[-1].cursor if ticks else None
                ticks.append(
                    # No database_url: runs read it (with its password) from the environment
                    # dagster_instance sets, so it stays out of the stored snapshots.
                    tick_error_budget_sensor(config, instance, day=day, cursor=cursor)
                )
                for line in describe_tick(ticks[-1], day):
                    say(line)
                self.stage = f"after error_budget_sensor's tick on {day}"

            runs = run_days(
                config,
                instance,
                phase_days,
                progress=self._progress,
                as_of=simulated_clock(retrain_day),
                should_stop=lambda: stop.requested,
            )
            stop.check()
            if options.alerts:
                tick(retrain_day)
                outcomes = retraining_outcomes(
                    engine, retrain_day, canary_days=options.canary_days, canary_share=0.5
                )
                for outcome in outcomes:
                    say(_retraining_line(outcome))
            if retrain_day < end:
                stop.check()
                self.stage = "while publishing the days after the retraining"
                rolled_out = [o.model_name for o in outcomes if o.rollout is not None]
                say(
                    f"- {(end - retrain_day).days} more day(s) up to {end}, "
                    + (
                        f"new version(s) of {', '.join(rolled_out)} serving"
                        if rolled_out
                        else "the same versions serving"
                    )
                    + "; earlier days gain the labels that arrived meanwhile:"
                )
                runs += continue_after_retraining(
                    engine,
                    config,
                    instance,
                    outcomes,
                    start=start,
                    retrain_day=retrain_day,
                    end=end,
                    seed=options.seed,
                    data_dir=settings.demo_data_dir,
                    **game,
                    progress=self._progress,
                    should_stop=lambda: stop.requested,
                )
                stop.check()
                if options.alerts:
                    tick(end)
        stop.check()
        self.stage = "while printing the summary"
        print_summary(engine, config, runs, start=start, end=end)
        if options.alerts:
            print_alert_summary(engine, start=start, end=end)
        print_retraining_summary(engine, config, outcomes, end=end)
        _say_next_steps(say, time.monotonic() - started)
        sensor_runs_ok = all(run.success for t in ticks for run in t.runs)
        return 0 if all(run.success for run in runs) and sensor_runs_ok else 1


def _retraining_line(outcome: RetrainingOutcome) -> str:
    detail = (
        f"new version {outcome.new_version} serves the next days (a canary share first)"
        if outcome.rollout
        else outcome.reason or "no new version"
    )
    return (
        f"    request {outcome.request_id} ({outcome.model_name}/{outcome.slo_name}): "
        f"{outcome.status}, {detail}"
    )


def _say_next_steps(say: Say, seconds: float) -> None:
    say(f"\nDone in {seconds:.0f}s. Open the Dagster UI on these runs with:")
    say("  .venv/bin/monitoring-pipeline ui        # then browse http://127.0.0.1:3000")
    say("Query the tables read-only with:  .venv/bin/monitoring-pipeline db psql --reader")
