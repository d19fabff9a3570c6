"""Benchmark one daily partition end to end: `monitoring-pipeline benchmark --rows N`.

Not a test. Simulates a day of N loan-approval predictions (3 cohort attributes, 2
intersections, ~20 features: the demo's 9 plus synthetic numeric ones) and, before it,
``--baseline-days`` days of ``--baseline-rows`` predictions each (other data, as in
production: drift then compares different samples, and every KS statistic and p-value is
a real one), loads them into a scratch database ``monitoring_benchmark`` chunk by chunk,
ingests the baseline days, then runs every partition step of the measured day in a fresh
process and prints rows per second per stage and that process' peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import yaml

SCRATCH_DATABASE = "monitoring_benchmark"
SOURCE_SCHEMA = "bench_source"
DAY = date(2026, 1, 5)  # a Monday: full weekday volume
EXTRA_FEATURES = [f"signal_{i:02d}" for i in range(1, 12)]
GENERATOR_CHUNK = 1_000_000
FIT_STAGE = "drift bin fit (once)"


def _say(message: str) -> None:
    print(message, flush=True)


def baseline_days(days: int) -> list[date]:
    """The ``days`` days just before ``DAY``, oldest first."""
    return [DAY - timedelta(days=days - i) for i in range(days)]


def load_source(
    engine: sa.Engine, rows: int, seed: int, day: date = DAY, *, create: bool = True
) -> tuple[int, int]:
    """Generate and COPY ``day`` chunk by chunk, so loading never holds the whole day;
    ``create`` (the first day loaded) creates the source tables."""
    from monitoring_pipeline.demo.generator import generate_traffic
    from monitoring_pipeline.storage.sources import copy_into_source_table

    now = datetime.combine(DAY + timedelta(days=60), datetime.min.time(), tzinfo=UTC)
    predictions = labels = 0
    chunks = max(1, round(rows / GENERATOR_CHUNK))
    for index in range(chunks):
        day_seed = seed + index + 1_000 * (DAY - day).days
        traffic = generate_traffic(
            "loan_approval", day, day, now=now, seed=day_seed, daily_volume=rows // chunks
        )
        rng = np.random.default_rng(day_seed)
        frame = traffic.predictions
        prefix = f"{day:%m%d}c{index}-"
        frame["prediction_id"] = prefix + frame["prediction_id"]
        for name in EXTRA_FEATURES:
            frame[name] = rng.normal(0.0, 1.0, len(frame))
        label_rows = traffic.labels.assign(prediction_id=prefix + traffic.labels["prediction_id"])
        first = create and index == 0
        copy_into_source_table(engine, SOURCE_SCHEMA, "predictions", frame, create=first)
        copy_into_source_table(engine, SOURCE_SCHEMA, "labels", label_rows, create=first)
        predictions += len(frame)
        labels += len(label_rows)
        _say(
            f"  {day}: loaded chunk {index + 1}/{chunks}: {predictions:,} predictions, "
            f"{labels:,} label rows"
        )
    return predictions, labels


def index_source(engine: sa.Engine) -> None:
    """What a production log table has: an index on the scoring time and on the id."""
    from monitoring_pipeline.storage.sources import index_source_table

    index_source_table(engine, SOURCE_SCHEMA, "predictions", "scored_at")
    index_source_table(engine, SOURCE_SCHEMA, "labels", "prediction_id")


def write_config(path: Path, baseline: list[date]) -> None:
    from monitoring_pipeline.demo.publish import demo_config

    raw = demo_config(baseline[0], path.parent)
    loan = raw["models"]["loan_approval"]
    loan["predictions"] = {"kind": "postgres_table", "table": f"{SOURCE_SCHEMA}.predictions"}
    loan["labels"] = {"kind": "postgres_table", "table": f"{SOURCE_SCHEMA}.labels"}
    loan["features"]["numeric"] += EXTRA_FEATURES
    # A fixed baseline on the days before the measured one: bins are fitted on their rows
    # and the day is tested against their histograms, as in production.
    loan["baseline"] = {
        "start": baseline[0].isoformat(),
        "end": baseline[-1].isoformat(),
        "bins": 10,
    }
    raw["models"] = {"loan_approval": loan}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def ingest_baseline(config_path: Path, database_url: str, days: list[date]) -> None:
    """labeled_predictions of each baseline day (set-up, not timed)."""
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.resources import monitoring_engine
    from monitoring_pipeline.pipeline import labeled_predictions
    from monitoring_pipeline.storage.writes import Audit

    config = load_config(config_path)
    engine = monitoring_engine(database_url)
    audit = Audit(run_id="benchmark-baseline", produced_at=datetime.now(UTC))
    for day in days:
        labeled_predictions.build_labeled_predictions(engine, config, "loan_approval", day, audit)


def run_stages(config_path: Path, database_url: str) -> dict:
    """Every partition step of the day, in chain order, timed (runs in its own process)."""
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.resources import monitoring_engine
    from monitoring_pipeline.pipeline import (
        cohort_metrics,
        drift,
        label_status,
        labeled_predictions,
        slo,
    )
    from monitoring_pipeline.storage.writes import Audit

    config = load_config(config_path)
    engine = monitoring_engine(database_url)
    audit = Audit(run_id="benchmark", produced_at=datetime.now(UTC))
    steps = [
        ("labeled_predictions", labeled_predictions.build_labeled_predictions),
        ("label_status", lambda e, c, m, d, a: label_status.build_label_status(e, m, d, a)),
        ("cohort_metrics", cohort_metrics.build_cohort_metrics),
        ("fairness_disparities", cohort_metrics.build_fairness_disparities),
        # Fitting the drift bins and storing the baseline days' histograms on them happen
        # once per baseline: timed apart from the daily drift step, which reuses both.
        (FIT_STAGE, _fit_baseline),
        ("drift", drift.build_drift),
        ("slo_evaluations", slo.build_slo_evaluations),
        ("error_budgets", slo.build_error_budgets),
    ]
    timings, cpu, peaks, tests = {}, {}, {}, 0
    for name, step in steps:
        started, started_cpu = time.perf_counter(), time.process_time()
        result = step(engine, config, "loan_approval", DAY, audit)
        timings[name] = time.perf_counter() - started
        cpu[name] = time.process_time() - started_cpu
        # The process' peak so far: the stage that raises it is the one that needs it.
        peaks[name] = _peak_rss_mib()
        if name == "drift":
            tests = int(result.rows)
    return {
        "timings": timings,
        "cpu": cpu,
        "peaks": peaks,
        "peak_rss_mib": _peak_rss_mib(),
        "drift_rows": tests,
    }


def _fit_baseline(engine, config, model_name, day, audit) -> None:
    from monitoring_pipeline.core.drift_baseline import baseline_window
    from monitoring_pipeline.pipeline import drift

    settings = drift.drift_settings(config, model_name)
    state = drift.ensure_bins(engine, config, model_name, settings, audit)
    model = config.models[model_name]
    window = baseline_window(
        day, config.partitions_start, start=model.baseline.start, end=model.baseline.end,
        preceding_days=model.baseline.preceding_days,
    )  # fmt: skip
    attributes = list(model.cohorts.attributes)
    drift.fill_baseline_days(engine, model_name, window, state.bins, attributes, audit)


def _peak_rss_mib() -> float:
    """This process' own peak resident memory. Not ``getrusage``'s ru_maxrss: Linux carries
    that across exec, so a stages process started by the loader would report the loader's
    peak (measured: a child of a 1.5 GB parent reports 1.5 GB)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitoring-pipeline benchmark")
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="predictions in the day (repeatable); default 1,000,000",
    )
    parser.add_argument(
        "--baseline-days",
        type=int,
        default=7,
        help="days before the measured one forming its drift baseline (default 7)",
    )
    parser.add_argument(
        "--baseline-rows",
        type=int,
        help="predictions per baseline day (default: the day's rows, at most 200,000)",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--stages", nargs=2, metavar=("CONFIG", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages:
        print(json.dumps(run_stages(Path(args.stages[0]), args.stages[1])))
        return 0

    from monitoring_pipeline.settings import load_settings
    from monitoring_pipeline.storage.database import (
        create_engine,
        drop_database,
        recreate_database,
        resolve_server,
        with_database,
    )
    from monitoring_pipeline.storage.migrations import apply_migrations

    settings = load_settings()
    urls = resolve_server(settings)
    for rows in args.rows or [1_000_000]:
        recreate_database(urls.monitoring, SCRATCH_DATABASE)
        url = with_database(urls.monitoring, SCRATCH_DATABASE)
        engine = create_engine(url)
        apply_migrations(engine)
        _say(
            f"benchmark: one day of ~{rows:,} predictions, 3 cohort attributes + 2 intersections, "
            f"{9 + len(EXTRA_FEATURES)} features"
        )
        started = time.perf_counter()
        baseline = baseline_days(max(1, args.baseline_days))
        baseline_rows = args.baseline_rows or min(rows, 200_000)
        for index, day in enumerate(baseline):
            load_source(engine, baseline_rows, args.seed, day, create=index == 0)
        predictions, labels = load_source(engine, rows, args.seed, create=False)
        index_source(engine)
        _say(f"  source loaded in {time.perf_counter() - started:.1f}s")
        engine.dispose()
        config_path = settings.home / "benchmark_models.yaml"
        settings.home.mkdir(parents=True, exist_ok=True)
        write_config(config_path, baseline)
        started = time.perf_counter()
        ingest_baseline(config_path, url, baseline)
        _say(
            f"  baseline: {len(baseline)} day(s) {baseline[0]}..{baseline[-1]} of ~{baseline_rows:,} "
            f"predictions ingested in {time.perf_counter() - started:.1f}s (not timed below)"
        )
        done = subprocess.run(
            [sys.executable, "-m", "monitoring_pipeline.benchmark", "--stages", str(config_path), url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            _say(done.stderr[-3000:])
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        daily = [name for name in result["timings"] if name != FIT_STAGE]
        total = sum(result["timings"][name] for name in daily)
        _say(f"  {'stage':<22}{'seconds':>9}{'cpu s':>9}{'rows/s':>14}{'peak MiB':>10}")
        for name, seconds in result["timings"].items():
            _say(
                f"  {name:<22}{seconds:>9.2f}{result['cpu'][name]:>9.2f}"
                f"{predictions / seconds:>14,.0f}{result['peaks'][name]:>10,.0f}"
            )
        cpu_total = sum(result["cpu"][name] for name in daily)
        _say(
            f"  {'label join -> budgets':<22}{total:>9.2f}{cpu_total:>9.2f}"
            f"{predictions / total:>14,.0f}   (every day; without the one-off bin fit)"
        )
        with_fit = total + result["timings"][FIT_STAGE]
        _say(
            f"  {'... with the bin fit':<22}{with_fit:>9.2f}{'':>9}{predictions / with_fit:>14,.0f}"
        )
        _say(
            f"  predictions {predictions:,}, label rows {labels:,}; peak memory of the stages process: "
            f"{result['peak_rss_mib']:,.0f} MiB; drift rows (tests) {result['drift_rows']:,}"
        )
    if not args.keep:
        drop_database(urls.monitoring, SCRATCH_DATABASE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
