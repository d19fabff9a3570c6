"""Benchmark one daily partition end to end: `monitoring-pipeline benchmark --rows N`.

Not a test. Simulates a day of N loan-approval predictions (3 cohort attributes, plus
``--extra-cohorts`` synthetic ones, 2 intersections, the demo's 9 features plus
``--features`` synthetic numeric ones, 11 by default) and, before it, ``--baseline-days``
days of ``--baseline-rows`` predictions each (other data, as in production: drift then
compares different samples, and every KS statistic and p-value is a real one), loads them
into a scratch database ``monitoring_benchmark`` chunk by chunk, ingests the baseline days,
then runs every partition step of the measured day in a fresh process and prints rows per
second per stage and that process' peak memory. Then, each in a fresh process of its own:

**The floor** (:func:`run_floor`): a deliberately minimal, independent implementation of
the same day's work on the same data, the least a monitoring pipeline must do, so the
ratio project / floor says what the project's extra work and overheads cost. It does:

1. read the day's predictions (every column of the log) from the source table, by one
   CSV export by PostgreSQL (storage/benchmark_floor.py) parsed by Arrow;
2. read the labels of those ids (a semi-join in the same SQL), keeping each id's newest
   label (pandas);
3. join them (pandas ``merge``, left: unlabelled predictions are kept);
4. write the joined rows, typed, by binary COPY (encoded from Arrow by ``pgpq``, the
   project's encoder, 200,000-row chunks, one transaction) into a scratch table that
   exists beforehand;
5. confusion counts (label: 0, 1 or missing x decision) of every cohort (everyone, each
   attribute's groups, each intersection) by one ``numpy.bincount``, and from them
   accuracy, TPR, FPR and selection rate;
6. drift of every numeric feature, the score and every attribution column (10 quantile
   bins of the baseline days plus one for missing values) and of every categorical
   feature (the baseline's categories plus one for the rest), in every cohort: the day's
   histogram counts by one ``numpy.bincount`` per feature, then PSI (0.5 added to every
   bin count, so an empty bin is finite) and, for numeric columns, the KS statistic of
   the binned distributions, against the baseline days' histograms.

The bins and the baseline's histograms are fitted once from the baseline days' source
rows (``floor bin fit (once)``), apart from the daily figure, as the project's one-off fit
is. The floor does not: validate rows (types, ranges, duplicates, quarantine, Great
Expectations), take partition locks or replace a previous run's rows, split figures by
model version, compute intervals, p-values, fairness gaps, label status, SLOs or error
budgets, store its metrics and drift figures (a few hundred rows), or record anything in
Dagster. Those are what the project does beyond it; moving the rows is common to both.

**The fixed cost per partition through Dagster** (:func:`run_dagster_days`):
``--dagster-days`` small days (``--dagster-rows`` predictions per model and day) of the
demo's ``--dagster-models`` models (the Postgres-table one and the Parquet-file one) run
through ``orchestrate.run_days``, the path of ``monitoring-pipeline materialize``: one run
per day on a persistent instance whose run storage is a scratch PostgreSQL database. For
each run, its wall time is compared with the sum of its steps' compute times as Dagster
itself records them (``STEP_START`` to ``STEP_SUCCESS``/``STEP_FAILURE`` in the run's
event log): the difference, per model and day, is what Dagster adds around the steps
(planning, run and event storage, resources, launching each step). It is a lower bound of
Dagster's cost: the events written inside a step (materializations, check evaluations)
count as the step's. Imports and building the job, paid once per process, are printed
apart.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import yaml

from monitoring_pipeline.storage.benchmark_floor import (
    FLOOR_CREATE_TABLE,
    FLOOR_READ_DAY,
    FLOOR_READ_LABELS,
    FLOOR_WRITE_ROWS,
    statement,
)

SCRATCH_DATABASE = "monitoring_benchmark"
# The Dagster measurement's own databases: the demo models' sources and monitoring tables,
# and Dagster's run storage (never the user's instance: its run history stays clean).
ORCHESTRATION_DATABASE = "monitoring_benchmark_orchestration"
DAGSTER_RUNS_DATABASE = "monitoring_benchmark_dagster"
DAGSTER_HOME_FOLDER = "benchmark_dagster"  # in MONITORING_HOME: that config, data, artifacts
SOURCE_SCHEMA = "bench_source"
FLOOR_SCHEMA = "bench_floor"
MODEL = "loan_approval"
DAY = date(2026, 1, 5)  # a Monday: full weekday volume
GENERATOR_CHUNK = 1_000_000
FIT_STAGE = "drift bin fit (once)"
FLOOR_FIT_STAGE = "floor bin fit (once)"
FLOOR_DAILY = "floor (every day)"
EXTRA_COHORT_GROUPS = ("g1", "g2", "g3", "g4")
FLOOR_COPY_ROWS = 200_000  # as the project's binary COPY chunks (storage.writes)


@dataclass(frozen=True)
class Shape:
    """What the simulated day holds beyond the generator's own columns: ``features``
    synthetic numeric features (standard normal) and ``extra_cohorts`` synthetic cohort
    attributes (four equally likely groups each)."""

    features: int = 11
    extra_cohorts: int = 0

    @property
    def extra_features(self) -> list[str]:
        return [f"signal_{i:02d}" for i in range(1, self.features + 1)]

    @property
    def extra_attributes(self) -> list[str]:
        return [f"segment_{i}" for i in range(1, self.extra_cohorts + 1)]


def _say(message: str) -> None:
    print(message, flush=True)


def baseline_days(days: int) -> list[date]:
    """The ``days`` days just before ``DAY``, oldest first."""
    return [DAY - timedelta(days=days - i) for i in range(days)]


def load_source(
    engine: sa.Engine,
    rows: int,
    seed: int,
    day: date = DAY,
    *,
    create: bool = True,
    shape: Shape = Shape(),
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
            MODEL, day, day, now=now, seed=day_seed, daily_volume=rows // chunks
        )
        rng = np.random.default_rng(day_seed)
        frame = traffic.predictions
        prefix = f"{day:%m%d}c{index}-"
        frame["prediction_id"] = prefix + frame["prediction_id"]
        for name in shape.extra_features:
            frame[name] = rng.normal(0.0, 1.0, len(frame))
        for name in shape.extra_attributes:
            frame[name] = rng.choice(EXTRA_COHORT_GROUPS, len(frame))
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


def write_config(path: Path, baseline: list[date], shape: Shape = Shape()) -> None:
    from monitoring_pipeline.demo.publish import demo_config

    raw = demo_config(baseline[0], path.parent)
    loan = raw["models"][MODEL]
    loan["predictions"] = {"kind": "postgres_table", "table": f"{SOURCE_SCHEMA}.predictions"}
    loan["labels"] = {"kind": "postgres_table", "table": f"{SOURCE_SCHEMA}.labels"}
    loan["features"]["numeric"] += shape.extra_features
    for name in shape.extra_attributes:
        loan["cohorts"]["attributes"][name] = list(EXTRA_COHORT_GROUPS)
    # A fixed baseline on the days before the measured one: bins are fitted on their rows
    # and the day is tested against their histograms, as in production.
    loan["baseline"] = {
        "start": baseline[0].isoformat(),
        "end": baseline[-1].isoformat(),
        "bins": 10,
    }
    raw["models"] = {MODEL: loan}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def ingest_baseline(config_path: Path, database_url: str, days: list[date]) -> None:
    """labeled_predictions of each baseline day (set-up, not timed), then the rows settled
    as weeks-old days are (vacuumed by then), so only the measured day's rows are fresh."""
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.resources import monitoring_engine
    from monitoring_pipeline.pipeline import labeled_predictions
    from monitoring_pipeline.storage.labeled_rows import ROWS_TABLE
    from monitoring_pipeline.storage.sources import settle_table
    from monitoring_pipeline.storage.writes import SCHEMA, Audit

    config = load_config(config_path)
    engine = monitoring_engine(database_url)
    audit = Audit(run_id="benchmark-baseline", produced_at=datetime.now(UTC))
    for day in days:
        labeled_predictions.build_labeled_predictions(engine, config, MODEL, day, audit)
    settle_table(engine, SCHEMA, ROWS_TABLE)


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
        # Fitting the drift bins and storing the baseline days' histograms on them happen
        # once per baseline: timed apart from the daily steps, which reuse both. First, as
        # in production, where a day's bins exist before it is ingested (fitted by the
        # first day after the fitting window), so ingestion counts its histograms on them.
        (FIT_STAGE, _fit_baseline),
        ("labeled_predictions", labeled_predictions.build_labeled_predictions),
        ("label_status", lambda e, c, m, d, a: label_status.build_label_status(e, m, d, a)),
        ("cohort_metrics", cohort_metrics.build_cohort_metrics),
        ("fairness_disparities", cohort_metrics.build_fairness_disparities),
        ("drift", drift.build_drift),
        ("slo_evaluations", slo.build_slo_evaluations),
        ("error_budgets", slo.build_error_budgets),
    ]
    timings, cpu, peaks, tests = {}, {}, {}, 0
    for name, step in steps:
        started, started_cpu = time.perf_counter(), time.process_time()
        result = step(engine, config, MODEL, DAY, audit)
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


# ---------------------------------------------------------------------------------------
# The floor: a minimal, independent single pass over the same day (see the docstring).
# Its SQL is in storage/benchmark_floor.py, four statements of its own on the benchmark's
# scratch tables: it shares none of the project's storage code, or it would measure the
# project against itself.


@dataclass(frozen=True)
class FloorColumns:
    """What the floor measures, read from the benchmark's config (nothing else of it)."""

    numeric: list[str]  # numeric features, the score and the attribution columns
    categorical: list[str]
    attributes: dict[str, list[str]]
    intersections: list[list[str]]
    bins: int
    min_cohort_size: int
    baseline_start: date
    baseline_end: date


def floor_columns(config_path: Path) -> FloorColumns:
    from monitoring_pipeline.config import load_config

    config = load_config(config_path)
    model = config.models[MODEL]
    return FloorColumns(
        numeric=[*model.features.numeric, "score", *model.attribution_columns],
        categorical=list(model.features.categorical),
        attributes={name: list(groups) for name, groups in model.cohorts.attributes.items()},
        intersections=[list(pair) for pair in model.cohorts.intersections],
        bins=model.baseline.bins,
        min_cohort_size=config.min_cohort_size(MODEL),
        baseline_start=model.baseline.start,
        baseline_end=model.baseline.end,
    )


def _utc_day_range(first: date, last: date) -> dict[str, datetime]:
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    return {"start": start, "end": start + timedelta(days=(last - first).days + 1)}


def _copy_out(cursor, statement, bounds: dict[str, datetime]):
    """The rows of ``statement`` (a CSV export, see storage/benchmark_floor.py), parsed by Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    buffer = io.BytesIO()
    # copy_expert takes no parameters: mogrify binds them (quoted by psycopg2).
    cursor.copy_expert(cursor.mogrify(statement, bounds).decode(), buffer)
    buffer.seek(0)
    # COPY's CSV writes NULL unquoted and an empty string quoted: keep them apart.
    convert = pa_csv.ConvertOptions(
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        column_types={
            "scored_at": pa.timestamp("us", tz="UTC"),
            "labelled_at": pa.timestamp("us", tz="UTC"),
            "decision": pa.int16(),
            "label": pa.int16(),
        },
    )
    return pa_csv.read_csv(buffer, convert_options=convert).to_pandas()


def _cohort_codes(frame, columns: FloorColumns):
    """Every row's cohort in every grouping (everyone, each attribute, each intersection),
    as indexes into one numbering of all cohorts: ``(indexes, cohort count)`` where
    ``indexes`` has one block of len(frame) per grouping. A value outside the configured
    groups (or missing) is a group of its own, so no row is dropped."""
    import pandas as pd

    codes = {}
    for name, groups in columns.attributes.items():
        raw = pd.Categorical(frame[name], categories=groups).codes.astype(np.int64)
        codes[name] = (np.where(raw < 0, len(groups), raw), len(groups) + 1)
    blocks = [(np.zeros(len(frame), dtype=np.int64), 1), *codes.values()]
    for first, second in columns.intersections:
        (a, size_a), (b, size_b) = codes[first], codes[second]
        blocks.append((a * size_b + b, size_a * size_b))
    offsets = np.cumsum([0] + [size for _, size in blocks])
    indexes = np.concatenate(
        [block + offset for (block, _), offset in zip(blocks, offsets[:-1], strict=True)]
    )
    return indexes, int(offsets[-1])


def _bin_indexes(frame, columns: FloorColumns, edges: dict, categories: dict) -> dict:
    """Each drift column's bin of every row: numeric on the fixed quantile edges (one more
    bin for missing values), categorical on the baseline's categories (one more for the
    rest). Returns column -> (bin indexes, bin count)."""
    import pandas as pd

    bins = {}
    for name in columns.numeric:
        values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        index = np.searchsorted(edges[name], values, side="right")
        bins[name] = (np.where(np.isnan(values), len(edges[name]) + 1, index), columns.bins + 1)
    for name in columns.categorical:
        raw = pd.Categorical(frame[name], categories=categories[name]).codes.astype(np.int64)
        bins[name] = (np.where(raw < 0, len(categories[name]), raw), len(categories[name]) + 1)
    return bins


def _histograms(cohorts: np.ndarray, cohort_count: int, bins: dict) -> dict:
    """column -> counts[cohort, bin], each by one bincount over every grouping at once."""
    groupings = len(cohorts) // len(next(iter(bins.values()))[0])
    return {
        name: np.bincount(
            cohorts * size + np.tile(index, groupings), minlength=cohort_count * size
        ).reshape(cohort_count, size)
        for name, (index, size) in bins.items()
    }


def _drift(day: dict, baseline: dict, numeric: list[str], min_size: int) -> dict:
    """column -> (PSI, binned KS statistic or None for categorical columns), one figure
    per cohort with at least ``min_size`` rows on both sides."""
    figures = {}
    for name, counts in day.items():
        tested = (counts.sum(axis=1) >= min_size) & (baseline[name].sum(axis=1) >= min_size)
        observed, expected = counts[tested], baseline[name][tested]
        current, reference = observed + 0.5, expected + 0.5
        current /= current.sum(axis=1, keepdims=True)
        reference /= reference.sum(axis=1, keepdims=True)
        psi = ((current - reference) * np.log(current / reference)).sum(axis=1)
        ks = None
        if name in numeric:
            # The missing-value bin (the last) is not on the scale.
            cdf, ref_cdf = (
                np.cumsum(c[:, :-1], axis=1) / np.maximum(c[:, :-1].sum(axis=1, keepdims=True), 1)
                for c in (observed, expected)
            )
            ks = np.abs(cdf - ref_cdf).max(axis=1)
        figures[name] = (psi, ks)
    return figures


def _confusion(frame, cohorts: np.ndarray, cohort_count: int) -> dict[str, np.ndarray]:
    """Per cohort: confusion counts (label 0 / 1 / missing x decision 0 / 1) by one
    bincount, and the rates derived from them (NaN where undefined)."""
    label = frame["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    state = np.where(np.isnan(label), 2, np.nan_to_num(label)).astype(np.int64) * 2
    state += frame["decision"].to_numpy(dtype=np.int64)
    groupings = len(cohorts) // len(frame)
    counts = np.bincount(cohorts * 6 + np.tile(state, groupings), minlength=cohort_count * 6)
    counts = counts.reshape(cohort_count, 3, 2).astype(np.float64)
    labelled = counts[:, :2, :].sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "counts": counts,
            "accuracy": (counts[:, 0, 0] + counts[:, 1, 1]) / labelled,
            "tpr": counts[:, 1, 1] / counts[:, 1, :].sum(axis=1),
            "fpr": counts[:, 0, 1] / counts[:, 0, :].sum(axis=1),
            "selection_rate": counts[:, :, 1].sum(axis=1) / counts.sum(axis=(1, 2)),
        }


def _postgres_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    return {
        pa.string(): "text",
        pa.large_string(): "text",
        pa.float64(): "double precision",
        pa.int16(): "smallint",
        pa.int64(): "bigint",
        pa.bool_(): "boolean",
    }[arrow_type]


def _write_rows(connection, table, rows) -> None:
    """Binary COPY of ``rows`` (an Arrow table) in one transaction, encoded by pgpq."""
    from pgpq import ArrowToPostgresBinaryEncoder

    cursor = connection.cursor()
    for start in range(0, rows.num_rows, FLOOR_COPY_ROWS):
        encoder = ArrowToPostgresBinaryEncoder(rows.schema)
        buffer = io.BytesIO()
        buffer.write(encoder.write_header())
        for batch in rows.slice(start, FLOOR_COPY_ROWS).to_batches():
            buffer.write(encoder.write_batch(batch))
        buffer.write(encoder.finish())
        buffer.seek(0)
        cursor.copy_expert(statement(FLOOR_WRITE_ROWS, table=table).as_string(cursor), buffer)
    connection.commit()


def run_floor(config_path: Path, database_url: str) -> dict:
    """The floor of :data:`DAY` (runs in its own process): seconds per phase, rows, figures."""
    import pyarrow as pa

    from monitoring_pipeline.storage.database import create_engine

    columns = floor_columns(config_path)
    engine = create_engine(database_url)
    connection = engine.raw_connection().driver_connection
    cursor = connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    predictions, labels = (SOURCE_SCHEMA, "predictions"), (SOURCE_SCHEMA, "labels")
    table = (FLOOR_SCHEMA, "labeled_rows")
    timings, cpu = {}, {}
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str | None) -> None:
        """Time since the last lap as ``name``'s (None: not timed)."""
        now, now_cpu = time.perf_counter(), time.process_time()
        if name is not None:
            timings[name], cpu[name] = now - clock[0], now_cpu - clock[1]
        clock[:] = [now, now_cpu]

    # Once per baseline: the bins and the baseline days' histograms on them.
    baseline = _copy_out(
        cursor,
        statement(
            FLOOR_READ_DAY,
            columns=[*columns.numeric, *columns.categorical, *columns.attributes],
            predictions=predictions,
        ),
        _utc_day_range(columns.baseline_start, columns.baseline_end),
    )
    quantiles = np.linspace(0.0, 1.0, columns.bins + 1)[1:-1]
    edges = {
        name: np.nanquantile(baseline[name].to_numpy(dtype=np.float64, na_value=np.nan), quantiles)
        for name in columns.numeric
    }
    categories = {name: sorted(baseline[name].dropna().unique()) for name in columns.categorical}
    baseline_cohorts, cohort_count = _cohort_codes(baseline, columns)
    reference = _histograms(
        baseline_cohorts, cohort_count, _bin_indexes(baseline, columns, edges, categories)
    )
    del baseline, baseline_cohorts
    lap(FLOOR_FIT_STAGE)

    # Every day: read, join, store, count.
    bounds = _utc_day_range(DAY, DAY)
    day = _copy_out(
        cursor, statement(FLOOR_READ_DAY, columns=None, predictions=predictions), bounds
    )
    lap("read predictions")
    label_rows = _copy_out(
        cursor, statement(FLOOR_READ_LABELS, labels=labels, predictions=predictions), bounds
    )
    lap("read labels")
    newest = label_rows.sort_values("labelled_at").drop_duplicates("prediction_id", keep="last")
    joined = day.merge(newest, on="prediction_id", how="left", validate="many_to_one")
    joined["label"] = joined["label"].astype("Int16")  # smallint, null where unlabelled
    rows = pa.Table.from_pandas(joined, preserve_index=False)
    lap("join")
    # The floor's table exists before the day, as the project's rows table does: not timed.
    definition = statement(
        ", ".join(f"{{c{i}}} {_postgres_type(f.type)}" for i, f in enumerate(rows.schema)),
        **{f"c{i}": field.name for i, field in enumerate(rows.schema)},
    )
    cursor.execute(
        statement(FLOOR_CREATE_TABLE, schema=FLOOR_SCHEMA, table=table, definition=definition)
    )
    connection.commit()
    lap(None)
    _write_rows(connection, table, rows)
    lap("binary COPY")
    cohorts, _ = _cohort_codes(joined, columns)
    metrics = _confusion(joined, cohorts, cohort_count)
    lap("bincount metrics")
    histograms = _histograms(
        cohorts, cohort_count, _bin_indexes(joined, columns, edges, categories)
    )
    drift = _drift(histograms, reference, columns.numeric, columns.min_cohort_size)
    lap("histogram drift")
    connection.close()
    engine.dispose()
    daily = [name for name in timings if name != FLOOR_FIT_STAGE]
    return {
        "timings": timings,
        "cpu": cpu,
        "daily_seconds": sum(timings[name] for name in daily),
        "daily_cpu": sum(cpu[name] for name in daily),
        "rows": len(joined),
        "labelled": int(joined["label"].notna().sum()),
        "cohorts": int((metrics["counts"].sum(axis=(1, 2)) > 0).sum()),
        "drift_figures": sum(
            len(psi) + (0 if ks is None else len(ks)) for psi, ks in drift.values()
        ),
        "peak_rss_mib": _peak_rss_mib(),
    }


# ---------------------------------------------------------------------------------------
# The fixed cost per partition through Dagster (see the docstring).

DAGSTER_FIRST_DAY = DAY


def prepare_dagster_days(
    admin_url: str, home: Path, *, days: int, models: int, rows: int, seed: int
) -> tuple[Path, str, str]:
    """Scratch databases, the demo models' sources for ``days`` days and their config
    (set-up, not timed); returns (config path, monitoring URL, Dagster storage URL)."""
    from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
    from monitoring_pipeline.demo.retraining import simulate
    from monitoring_pipeline.storage.database import (
        create_engine,
        recreate_database,
        with_database,
    )
    from monitoring_pipeline.storage.migrations import apply_migrations

    for database in (ORCHESTRATION_DATABASE, DAGSTER_RUNS_DATABASE):
        recreate_database(admin_url, database)
    monitoring_url = with_database(admin_url, ORCHESTRATION_DATABASE)
    engine = create_engine(monitoring_url)
    apply_migrations(engine)
    last = DAGSTER_FIRST_DAY + timedelta(days=days - 1)
    # Healthy traffic: no incident changes what a day does between runs.
    traffic = simulate(
        DAGSTER_FIRST_DAY, last, scenario_end=last, seed=seed, daily_volume=rows, healthy=True
    )
    publish_demo_sources(engine, traffic, home / "data")
    engine.dispose()
    raw = demo_config(DAGSTER_FIRST_DAY, home / "data")
    raw["schedule"] = {"enabled": False}  # days are run here, never by the wall clock
    raw["models"] = dict(list(raw["models"].items())[:models])
    config_path = home / "dagster_models.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config_path, monitoring_url, with_database(admin_url, DAGSTER_RUNS_DATABASE)


def run_dagster_days(
    home: Path, config_path: Path, monitoring_url: str, dagster_url: str, days: int
) -> dict:
    """Run ``days`` days through ``orchestrate.run_days`` (in its own process, so imports
    are paid here as in ``materialize``); per run: wall seconds and the steps' seconds."""
    started = time.perf_counter()
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.demo.scenario import simulated_clock
    from monitoring_pipeline.orchestrate import dagster_instance, days_between, run_days

    imports = time.perf_counter() - started
    config = load_config(config_path)
    settings, urls = _scratch_instance_settings(home, config_path, monitoring_url, dagster_url)
    last = DAGSTER_FIRST_DAY + timedelta(days=days - 1)
    started = time.perf_counter()
    with dagster_instance(settings, urls) as instance:
        runs = run_days(
            config, instance, days_between(DAGSTER_FIRST_DAY, last), as_of=simulated_clock(last)
        )
        setup = time.perf_counter() - started - sum(run.seconds for run in runs)
        measured = [
            _measured_run(
                instance, run.run_id, day=run.partition_key, success=run.success, wall=run.seconds
            )
            for run in runs
        ]
    return {"imports": imports, "setup": setup, "models": len(config.models), "runs": measured}


def run_daemon_backfill(
    home: Path,
    config_path: Path,
    monitoring_url: str,
    dagster_url: str,
    days: int,
    *,
    backfill_job: bool = False,
) -> dict:
    """The same days as a backfill launched through Dagster's daemon, as from the UI: each
    run a process of its own started by the daemon's code server, queued behind the
    model's earlier runs (the chains' pools); per run: wall and steps' seconds, and the
    backfill's wall from its runs' creation to the last one's end. ``backfill_job``: one
    run of backfill_job over the days instead (each model's days in one process of its
    own); its days' runs are measured the same way, the wall from its creation to its end.
    """
    import dagster as dg
    import yaml

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.backfill import BACKFILL_JOB, BACKFILL_RUN_TAG, backfill_op_name
    from monitoring_pipeline.defs.jobs import MONITOR_MODELS_JOB
    from monitoring_pipeline.orchestrate import create_chain_pools, dagster_instance
    from monitoring_pipeline.runtime import DAGSTER_HOME, dagster_environment
    from monitoring_pipeline.stopping import stop_process_group

    config = load_config(config_path)
    settings, urls = _scratch_instance_settings(home, config_path, monitoring_url, dagster_url)
    env = os.environ | dagster_environment(settings, urls)
    workspace = str(DAGSTER_HOME / "workspace.yaml")
    last = DAGSTER_FIRST_DAY + timedelta(days=days - 1)
    if backfill_job:
        run_config = home / "backfill_job.yaml"
        days_config = {"start": DAGSTER_FIRST_DAY.isoformat(), "end": last.isoformat()}
        run_config.write_text(
            yaml.safe_dump(
                {"ops": {backfill_op_name(name): {"config": days_config} for name in config.models}}
            )
        )
        launch = ["job", "launch", "-j", BACKFILL_JOB, "--config", str(run_config)]
        awaited, expected = dg.RunsFilter(job_name=BACKFILL_JOB), 1
    else:
        launch = ["job", "backfill", "-j", MONITOR_MODELS_JOB, "--from",
                  DAGSTER_FIRST_DAY.isoformat(), "--to", last.isoformat(), "--noprompt"]  # fmt: skip
        awaited, expected = dg.RunsFilter(job_name=MONITOR_MODELS_JOB), days
    with dagster_instance(settings, urls) as instance:
        create_chain_pools(instance, list(config.models))
        with (home / "daemon.log").open("w") as log:
            daemon = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", workspace],
                env=env, cwd=DAGSTER_HOME, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            subprocess.run(
                [sys.executable, "-m", "dagster", *launch, "-w", workspace],
                env=env, cwd=DAGSTER_HOME, capture_output=True, text=True, check=True,
            )  # fmt: skip
            deadline = time.time() + 120 + 60 * days
            while True:
                records = instance.get_run_records(awaited)
                finished = [r for r in records if r.dagster_run.is_finished]
                if len(records) >= expected and len(finished) == len(records):
                    break
                if time.time() > deadline or daemon.poll() is not None:
                    raise RuntimeError(
                        f"the daemon's backfill did not finish: {len(finished)} of {expected} "
                        f"runs done (daemon log: {home / 'daemon.log'})"
                    )
                time.sleep(0.5)
        finally:
            stop_process_group(daemon, signal.SIGTERM)
        # From the first run's creation (the backfill daemon queues them all at once): the
        # daemon's own start-up, which a deployment's daemon has behind it, is left out.
        queued = min(record.create_timestamp.timestamp() for record in records)
        backfill_end = max(record.end_time for record in records)
        if backfill_job:
            (parent,) = records
            days_runs = instance.get_run_records(
                dg.RunsFilter(tags={BACKFILL_RUN_TAG: parent.dagster_run.run_id})
            )
            if not days_runs:  # else a failed day is reported with the others
                raise RuntimeError(
                    f"backfill_job run {parent.dagster_run.run_id} ended "
                    f"{parent.dagster_run.status.value} with {len(days_runs)} day run(s)"
                )
            records = days_runs
        records.sort(key=lambda record: record.start_time)
        runs = [
            _measured_run(
                instance,
                record.dagster_run.run_id,
                day=record.dagster_run.tags.get("dagster/partition"),
                model=record.dagster_run.tags.get("model"),
                success=record.dagster_run.status == dg.DagsterRunStatus.SUCCESS,
                wall=record.end_time - record.start_time,
                started=record.start_time - queued,
                ended=record.end_time - queued,
            )
            for record in records
        ]
    return {
        "models": len(config.models),
        "days": days,
        "runs": runs,
        "backfill_wall": backfill_end - queued,
        "backfill_job": backfill_job,
    }


def _scratch_instance_settings(
    home: Path, config_path: Path, monitoring_url: str, dagster_url: str
):
    """The settings and server URLs of the benchmark's scratch Dagster instance."""
    from monitoring_pipeline.settings import Settings
    from monitoring_pipeline.storage.database import ServerUrls

    settings = Settings(
        home=home,
        config_path=config_path,
        database_url=monitoring_url,
        dagster_database_url=dagster_url,
    )
    return settings, ServerUrls(monitoring=monitoring_url, dagster=dagster_url, embedded=False)


def _measured_run(instance, run_id: str, **figures) -> dict:
    """``figures`` of one run with its steps' seconds, by step and summed."""
    step_seconds = _step_seconds(instance, run_id)
    return {**figures, "step_seconds": step_seconds, "steps": sum(step_seconds.values())}


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """The run's step durations as its event log records them, by step key: each step's
    STEP_START to its STEP_SUCCESS or STEP_FAILURE (the in-process executor runs one step
    at a time, so they add up). ``all_logs`` is a method of the public DagsterInstance."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds[event.step_key] = entry.timestamp - started.pop(event.step_key)
    return seconds


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
    parser.add_argument(
        "--features",
        type=int,
        default=Shape.features,
        help="synthetic numeric features besides the demo's 9 (default 11)",
    )
    parser.add_argument(
        "--extra-cohorts",
        type=int,
        default=Shape.extra_cohorts,
        help="synthetic cohort attributes (4 groups each) besides the demo's 3 (default 0)",
    )
    parser.add_argument(
        "--dagster-days",
        type=int,
        default=3,
        help="small days run through Dagster for its fixed cost per model-day (default 3; 0: skip)",
    )
    parser.add_argument(
        "--dagster-models",
        type=int,
        choices=[1, 2],
        default=2,
        help="the demo's models in those runs (default 2)",
    )
    parser.add_argument(
        "--dagster-rows",
        type=int,
        default=1_000,
        help="predictions per model and day in those runs (default 1,000)",
    )
    parser.add_argument(
        "--dagster-via",
        choices=["process", "daemon", "backfill-job"],
        default="process",
        help="process: those days' runs in one process, one after another, as `materialize` "
        "runs them (default); daemon: a backfill of them launched through Dagster's daemon, "
        "as from the UI (each run a process of its own); backfill-job: one run of "
        "backfill_job launched through the daemon (each model's days in one process)",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases afterwards")
    # The measuring processes: their database URLs (with passwords) come on stdin.
    parser.add_argument("--stages", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--floor", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--dagster-runs", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages:
        (url,) = json.loads(sys.stdin.read())
        print(json.dumps(run_stages(Path(args.stages), url)))
        return 0
    if args.floor:
        (url,) = json.loads(sys.stdin.read())
        print(json.dumps(run_floor(Path(args.floor), url)))
        return 0
    if args.dagster_runs:
        home, config, days = args.dagster_runs
        monitoring, dagster = json.loads(sys.stdin.read())
        print(
            json.dumps(run_dagster_days(Path(home), Path(config), monitoring, dagster, int(days)))
        )
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
    shape = Shape(features=args.features, extra_cohorts=args.extra_cohorts)
    status = 0
    try:
        for rows in args.rows or [1_000_000]:
            recreate_database(urls.monitoring, SCRATCH_DATABASE)
            url = with_database(urls.monitoring, SCRATCH_DATABASE)
            engine = create_engine(url)
            apply_migrations(engine)
            _say(
                f"benchmark: one day of ~{rows:,} predictions, {3 + shape.extra_cohorts} cohort "
                f"attributes + 2 intersections, {9 + shape.features} features"
            )
            started = time.perf_counter()
            baseline = baseline_days(max(1, args.baseline_days))
            baseline_rows = args.baseline_rows or min(rows, 200_000)
            for index, day in enumerate(baseline):
                load_source(engine, baseline_rows, args.seed, day, create=index == 0, shape=shape)
            predictions, labels = load_source(engine, rows, args.seed, create=False, shape=shape)
            index_source(engine)
            _say(f"  source loaded in {time.perf_counter() - started:.1f}s")
            engine.dispose()
            config_path = settings.home / "benchmark_models.yaml"
            settings.home.mkdir(parents=True, exist_ok=True)
            write_config(config_path, baseline, shape)
            started = time.perf_counter()
            ingest_baseline(config_path, url, baseline)
            _say(
                f"  baseline: {len(baseline)} day(s) {baseline[0]}..{baseline[-1]} of "
                f"~{baseline_rows:,} predictions ingested in {time.perf_counter() - started:.1f}s "
                "(not timed below)"
            )
            result = _in_fresh_process("--stages", str(config_path), urls=[url])
            if result is None:
                return 1
            # The floor holds the whole day (~2 GiB per million rows): when it fails (out of
            # memory on a large day) the project's own figures are still printed.
            floor = _in_fresh_process("--floor", str(config_path), urls=[url])
            _print_stages(result, floor, predictions, labels)
            if floor is None:
                status = 1
        if args.dagster_days > 0:
            home = settings.home / DAGSTER_HOME_FOLDER
            home.mkdir(parents=True, exist_ok=True)
            config_path, monitoring_url, dagster_url = prepare_dagster_days(
                urls.monitoring, home, days=args.dagster_days, models=args.dagster_models,
                rows=args.dagster_rows, seed=args.seed,
            )  # fmt: skip
            if args.dagster_via != "process":
                dagster = run_daemon_backfill(
                    home, config_path, monitoring_url, dagster_url, args.dagster_days,
                    backfill_job=args.dagster_via == "backfill-job",
                )  # fmt: skip
                _print_daemon_backfill(dagster, args.dagster_rows)
            else:
                dagster = _in_fresh_process(
                    "--dagster-runs", str(home), str(config_path), str(args.dagster_days),
                    urls=[monitoring_url, dagster_url],
                )  # fmt: skip
                if dagster is None:
                    return 1
                _print_dagster(dagster, args.dagster_rows)
            if not all(run["success"] for run in dagster["runs"]):
                return 1
    finally:
        if not args.keep:
            for database in (SCRATCH_DATABASE, ORCHESTRATION_DATABASE, DAGSTER_RUNS_DATABASE):
                drop_database(urls.monitoring, database)
            # The Dagster runs' local artifacts and logs, of a run storage now gone.
            shutil.rmtree(settings.home / DAGSTER_HOME_FOLDER, ignore_errors=True)
    return status


def _in_fresh_process(*args: str, urls: list[str]) -> dict | None:
    """This module run with ``args`` in a new interpreter, ``urls`` passed on its stdin (a
    command line is readable by every local user, and a URL holds its password): its JSON
    answer, or None (its stderr's end and its exit status printed) when it failed."""
    done = subprocess.run(
        [sys.executable, "-m", "monitoring_pipeline.benchmark", *args],
        input=json.dumps(urls), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        killed = (
            f" (killed by signal {-done.returncode}: out of memory?)" if done.returncode < 0 else ""
        )
        _say(f"{done.stderr[-3000:]}\n  {args[0]} process failed: exit {done.returncode}{killed}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_stages(result: dict, floor: dict | None, predictions: int, labels: int) -> None:
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
    _say(f"  {'... with the bin fit':<22}{with_fit:>9.2f}{'':>9}{predictions / with_fit:>14,.0f}")
    _say(
        f"  predictions {predictions:,}, label rows {labels:,}; peak memory of the stages process: "
        f"{result['peak_rss_mib']:,.0f} MiB; drift rows (tests) {result['drift_rows']:,}"
    )
    _say(
        "  floor: the same day in one minimal pass, in its own process (read, join, binary "
        "COPY, bincount metrics, histogram drift; see benchmark.py)"
    )
    if floor is None:
        _say("  floor: failed (see above); no ratio")
        return
    for name, seconds in floor["timings"].items():
        _say(f"  {'  ' + name:<22}{seconds:>9.2f}{floor['cpu'][name]:>9.2f}")
    _say(
        f"  {FLOOR_DAILY:<22}{floor['daily_seconds']:>9.2f}{floor['daily_cpu']:>9.2f}"
        f"{floor['rows'] / floor['daily_seconds']:>14,.0f}{floor['peak_rss_mib']:>10,.0f}"
    )
    _say(
        f"  floor: {floor['rows']:,} rows ({floor['labelled']:,} labelled), "
        f"{floor['cohorts']} cohorts, {floor['drift_figures']:,} drift figures"
    )
    _say(
        f"  ratio label join -> budgets / floor: {total / floor['daily_seconds']:.2f}x "
        f"({total:.2f} s / {floor['daily_seconds']:.2f} s)"
    )


def _failed_runs(runs: list[dict]) -> list[str]:
    """The failed runs as "<model> <day>" (the day alone for a run of every model)."""
    return [
        " ".join(filter(None, (run.get("model"), run["day"]))) for run in runs if not run["success"]
    ]


def _print_dagster(dagster: dict, rows: int) -> None:
    runs, models = dagster["runs"], dagster["models"]
    model_days = len(runs) * models
    wall = sum(run["wall"] for run in runs) / model_days
    steps = sum(run["steps"] for run in runs) / model_days
    overheads = [(run["wall"] - run["steps"]) / models for run in runs]
    failed = _failed_runs(runs)
    _say(
        f"  Dagster: {len(runs)} day(s) x {models} model(s) of ~{rows:,} predictions, one run per "
        "day through orchestrate.run_days on a persistent instance (PostgreSQL run storage)"
        + (f"; FAILED runs: {', '.join(failed)}" if failed else "")
    )
    _say(
        f"    once per process: imports {dagster['imports']:.2f} s, "
        f"instance + job build {dagster['setup']:.2f} s"
    )
    _say(
        f"    per model-day: Dagster wall {wall:.2f} s, steps {steps:.2f} s, overhead "
        f"{wall - steps:.2f} s (by run: {min(overheads):.2f}..{max(overheads):.2f} s)"
    )
    by_asset: dict[str, float] = {}
    for run in runs:
        for step_key, seconds in run["step_seconds"].items():
            # A step key is the asset key joined by "__": <model>__<asset>.
            asset = step_key.split("__", 1)[-1]
            by_asset[asset] = by_asset.get(asset, 0.0) + seconds / model_days
    slowest = sorted(by_asset.items(), key=lambda item: -item[1])[:8]
    _say(
        "    steps per model-day, slowest first: "
        + ", ".join(f"{asset} {seconds:.2f} s" for asset, seconds in slowest)
    )


def _print_daemon_backfill(dagster: dict, rows: int) -> None:
    runs, models, days = dagster["runs"], dagster["models"], dagster["days"]
    model_days = days * models
    failed = _failed_runs(runs)
    walls = sorted(run["wall"] for run in runs)
    # From one run's end to the next one's start, among the runs of one model's chain (a
    # job backfill's runs hold every model; backfill_job runs the models side by side):
    # the queue's look, the run's process started by the code server, its imports (for
    # backfill_job the next day in the same process). Overlapping runs of one chain would
    # be a broken pool.
    chains: dict = {}
    for run in runs:
        chains.setdefault(run.get("model"), []).append(run)
    pairs = [(a, b) for chain in chains.values() for a, b in zip(chain, chain[1:], strict=False)]
    gaps = sorted(b["started"] - a["ended"] for a, b in pairs)
    overlaps = sum(1 for a, b in pairs if b["started"] < a["ended"])
    # Dagster's share: each chain's span from its first run's start to its last run's end,
    # less its steps (the run's own start and end, and the gaps between runs).
    around_steps = sum(
        max(run["ended"] for run in chain)
        - min(run["started"] for run in chain)
        - sum(run["steps"] for run in chain)
        for chain in chains.values()
    )
    how = (
        "one backfill_job run (each model's days in one process)"
        if dagster["backfill_job"]
        else "launched as from the UI (each run a process of its own)"
    )
    _say(
        f"  Dagster daemon: a backfill of {days} day(s) x {models} model(s) of ~{rows:,} "
        f"predictions, {how}" + (f"; FAILED runs: {', '.join(failed)}" if failed else "")
    )
    _say(
        f"    backfill: {dagster['backfill_wall']:.1f} s from its runs' creation to the last "
        "one's end, "
        f"{dagster['backfill_wall'] / model_days:.2f} s per model-day; runs "
        f"{walls[0]:.1f}..{walls[-1]:.1f} s (median {walls[len(walls) // 2]:.1f}), steps "
        f"{sum(run['steps'] for run in runs) / model_days:.2f} s per model-day"
        + (f", between runs {gaps[len(gaps) // 2]:.1f} s (median)" if gaps else "")
        + f"; overlapping runs: {overlaps}"
    )
    _say(
        f"    overhead: {around_steps / model_days:.2f} s per model-day around and between "
        "the steps (each chain's first run's start to its last run's end, less its steps); "
        f"the first run started {min(run['started'] for run in runs):.1f} s after the "
        "backfill's creation"
    )


if __name__ == "__main__":
    sys.exit(main())
