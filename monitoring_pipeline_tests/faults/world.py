"""Shared by the fault-injection tests: one demo day in a database, table fingerprints, and
`monitoring-pipeline` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml

from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.storage.database import create_engine

DAY = date(2026, 10, 1)
NOW = datetime(2026, 10, 3, tzinfo=UTC)
MODEL = "loan_approval"  # the demo model read from a PostgreSQL table
VOLUME = 15_000  # a write of several chunks, and still a few seconds a run
CHUNK_ROWS = 3_000
# Columns that differ between two runs of the same input by design: who wrote a row and
# when (the wall clock). The rows' own times (scored_at, labelled_at, ...) are compared.
STAMP_COLUMNS = {
    "run_id", "produced_at", "applied_at", "attempted_at", "delivered_at", "decided_at",
    "fitted_at", "triggered_at", "requested_at", "action_finished_at", "completed_at",
}  # fmt: skip


def publish_day(database_url: str, directory: Path) -> Path:
    """Publish ``DAY`` of the demo's loan model into the database; return a config file that
    monitors that model alone, streamed ``CHUNK_ROWS`` at a time."""
    traffic = {  # the demo publishes both models; only MODEL is configured
        MODEL: generate_traffic(MODEL, DAY, DAY, now=NOW, daily_volume=VOLUME),
        "job_screening": generate_traffic("job_screening", DAY, DAY, now=NOW, daily_volume=10),
    }
    engine = create_engine(database_url)
    try:
        publish_demo_sources(engine, traffic, directory / "data")
    finally:
        engine.dispose()
    raw = demo_config(DAY, directory / "data")
    raw["models"] = {MODEL: raw["models"][MODEL] | {"ingest_chunk_rows": CHUNK_ROWS}}
    config = directory / "monitored_models.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


Fingerprints = dict[str, tuple[int, str]]


def fingerprints(database_url: str) -> Fingerprints:
    """Every table of schema ``monitoring``: (rows, md5 of its rows sorted), without the
    columns in ``STAMP_COLUMNS``; not ``run_provenance``, the log of runs (a killed run's
    row stays: it ran), nor ``privacy_settings``, the model's threshold as its newest run's
    config gave it (not partition data: a killed run was configured so all the same)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            columns: dict[str, list[str]] = {}
            for table, column in conn.execute(
                sa.text(
                    "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                    "JOIN information_schema.tables t USING (table_schema, table_name) "
                    "WHERE c.table_schema = 'monitoring' AND t.table_type = 'BASE TABLE' "
                    "AND c.table_name NOT IN ('schema_migrations', 'run_provenance', 'privacy_settings') "
                    "ORDER BY c.ordinal_position"
                )
            ):
                if column not in STAMP_COLUMNS:
                    columns.setdefault(table, []).append(f'"{column}"')
            found = {}
            for table, names in sorted(columns.items()):
                found[table] = tuple(
                    conn.execute(
                        sa.text(
                            f"SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
                            f"FROM (SELECT ROW({', '.join(names)})::text AS r "
                            f'FROM monitoring."{table}") rows'
                        )
                    ).one()
                )
            return found
    finally:
        engine.dispose()


def assert_same_tables(single_url: str, other_url: str) -> None:
    """Every table of ``other_url`` equals the single-process run's in ``single_url``, byte
    for byte (rows and md5 of its sorted rows, who wrote a row and when aside), but for
    float sums in the last bits: a
    sum over a day's rows follows the order PostgreSQL returns them in, which its plan may
    change between two runs (seen: feature_attributions' signed sums, 1 part in 1e15).
    Those tables must still hold the same rows with the same figures."""
    single, distributed = fingerprints(single_url), fingerprints(other_url)
    assert single["labeled_prediction_rows"][0] > 0
    assert single.keys() == distributed.keys()
    for table in sorted(t for t in single if single[t] != distributed[t]):
        assert single[table][0] == distributed[table][0], table
        pd.testing.assert_frame_equal(
            _sorted_table(single_url, table),
            _sorted_table(other_url, table),
            check_exact=False,
            rtol=1e-12,
        )


def _sorted_table(url: str, table: str) -> pd.DataFrame:
    """``table`` without the stamp columns, rows sorted by every column (floats last)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = pd.read_sql_table(table, conn, schema="monitoring")
    engine.dispose()
    rows = rows[[c for c in rows.columns if c not in STAMP_COLUMNS]]
    floats = [c for c in rows.columns if pd.api.types.is_float_dtype(rows[c])]
    keys = [c for c in rows.columns if c not in floats]
    return rows.sort_values([*keys, *floats]).reset_index(drop=True).astype({k: str for k in keys})


def cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`monitoring-pipeline <args>` as a process of its own (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", *args],
        env={"PATH": os.environ["PATH"] + ":/usr/sbin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 120
) -> None:
    """Poll ``condition`` until true; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what} within {timeout} s")
        time.sleep(0.02)


def materialize_args() -> list[str]:
    return ["materialize", "--start", str(DAY), "--end", str(DAY)]
