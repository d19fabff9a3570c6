"""Privacy (issue 13, item 5; sql/025): the analysts' role reads no person's row and no
figure of a cell smaller than the configured min_cell_size; a separate role reads the rest;
no prediction id or raw value of a person reaches a metric table.

One world for the module: a day of the demo's loan model run by monitor_models_job (with
malformed rows, so quarantined_rows holds raw rows), plus a hand-written model whose
region "east" is one person approved (the issue's "selection rate 1.0 for one person").
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.common import model_provenance
from monitoring_pipeline.demo.incidents import MalformedRows
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.storage.credentials import READER_ROLE
from monitoring_pipeline.storage.migrations import sql_directory
from monitoring_pipeline.storage.privacy import (
    RAW_READER_ROLE,
    RAW_ROW_TABLES,
    record_privacy_settings,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions
from monitoring_pipeline_tests.helpers.databases import partitions_of
from monitoring_pipeline_tests.helpers.privacy import person_ids, rows_holding
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day, table

pytestmark = pytest.mark.e2e

LOAN, TINY = "loan_approval", "tiny_model"
DAY = START + timedelta(days=1)
DEFAULT_MIN_CELL_SIZE = 10
# Published per cohort: the reader reads them through <table>_protected only.
COHORT_TABLES = (
    "cohort_stats", "cohort_metrics", "cohort_changes", "fairness_disparities",
    "fairness_disparities_vs_rest", "feature_histograms", "drift", "version_comparison",
    "slo_evaluations", "performance_estimates", "estimated_disparities",
    "feature_attributions", "operational_metrics", "latency_histograms", "complaint_metrics",
)  # fmt: skip
# Score sums per cohort, decision and score bin: no view, the raw role only (sql/029).
RAW_ONLY_TABLES = ("estimation_stats",)
PROTECTED_VIEWS = tuple(f"{name}_protected" for name in COHORT_TABLES)
# The demo's malformed cohort value of the loan model: a raw value no metric table may hold.
RAW_COHORT_VALUE = "atlantis"


@pytest.fixture(scope="module")
def world(module_engine, module_database_url, module_dagster_instance, tmp_path_factory):
    engine, tmp_path = module_engine, tmp_path_factory.mktemp("privacy_world")
    malformed = MalformedRows(model=LOAN, start=DAY, end=DAY, share=0.05)
    config, _ = build_world(engine, tmp_path, incidents=[malformed], tolerance=0.5, volume=400)
    run = run_day(
        config, module_database_url, module_dagster_instance, DAY, models=[LOAN], reports=False
    )
    assert run.success
    _write_tiny_model(engine)
    return engine


@contextmanager
def acting_as(engine: sa.Engine, role: str):
    """A connection acting as ``role`` inside one transaction, rolled back."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.text(f"SET ROLE {role}"))
        yield conn
        transaction.rollback()


def read_as(engine: sa.Engine, role: str, query: str, **params) -> pd.DataFrame:
    with acting_as(engine, role) as conn:
        return pd.read_sql_query(sa.text(query), conn, params=params)


# ---- the hand-written model: a cohort of one ------------------------------------------------

# (group, n, pred_pos, tp, fp, tn, fn): every prediction labelled. east is one person,
# approved; west has 30 people but only 9 actual positives.
TINY_GROUPS = [
    ("north", 40, 20, 15, 5, 15, 5),
    ("west", 30, 9, 6, 3, 18, 3),
    ("east", 1, 1, 1, 0, 0, 0),
]


def _write_tiny_model(engine: sa.Engine) -> None:
    zeros = "{" + ",".join(["0"] * 10) + "}"
    stats, metrics, gaps = [], [], []
    total = [sum(g[i] for g in TINY_GROUPS) for i in range(1, 7)]
    for attribute, (group, n, pred_pos, tp, fp, tn, fn) in [
        ("all", ("all", *total)),
        *[("region", g) for g in TINY_GROUPS],
    ]:
        stats.append(
            {
                "model_version": "all", "cohort_attribute": attribute, "cohort_value": group,
                "n": n, "n_labelled": n, "label_pos": tp + fn, "pred_pos": pred_pos,
                "pred_pos_labelled": tp + fp, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                "brier_sum": 0.1 * n, "bin_n": zeros, "bin_score_sum": zeros,
                "bin_label_sum": zeros,
            }
        )  # fmt: skip
        metrics.append(
            {
                "model_version": "all", "cohort_attribute": attribute, "cohort_value": group,
                "metric": "selection_rate", "value": pred_pos / n, "lower": 0.0, "upper": 1.0,
                "denominator": n, "n": n, "n_labelled": n, "sufficient": n >= 30,
            }
        )  # fmt: skip
    for group, metric, value in (
        ("east", "demographic_parity_difference", 0.5),
        ("west", "demographic_parity_difference", -0.2),
        ("west", "tpr_difference", -0.08),
    ):
        gaps.append(
            {
                "model_version": "all", "cohort_attribute": "region", "cohort_value": group,
                "reference_value": "north", "metric": metric, "value": value,
                "lower": value - 0.1, "upper": value + 0.1, "sufficient": False,
                "passes_four_fifths": None, "is_worst": False,
            }
        )  # fmt: skip
    key = {"partition_date": DAY, "model_name": TINY}
    frames = {
        "cohort_stats": pd.DataFrame(stats),
        "cohort_metrics": pd.DataFrame(metrics),
        "fairness_disparities": pd.DataFrame(gaps).astype({"passes_four_fifths": "boolean"}),
        **_other_tiny_tables(),
    }
    replace_partitions(
        engine,
        model_name=TINY,
        partition_date=DAY,
        rows=[TableRows(name, frame.assign(**key)) for name, frame in frames.items()],
        audit=Audit("tiny-run", datetime(2026, 10, 11, tzinfo=UTC)),
    )


# The other per-cohort tables: for each, a row of region=east (a cell of one or a few) and
# one of region=north (40 people or more), figures in the column named.
TINY_FIGURES = {
    "cohort_changes": "difference",
    "drift": "statistic",
    "feature_histograms": "count",
    "version_comparison": "difference",
    "slo_evaluations": "value",
    "performance_estimates": "value",
    "estimated_disparities": "value",
    "feature_attributions": "mean_abs",
    "operational_metrics": "value",
    "latency_histograms": "counts",
    "complaint_metrics": "value",
}


def _other_tiny_tables() -> dict[str, pd.DataFrame]:
    cohort = {"cohort_attribute": "region"}
    changes, drift, histograms, versions, evaluations = [], [], [], [], []
    estimates, estimated_gaps, attributions, operational, latencies = [], [], [], [], []
    complaints = []
    for group, size in (("east", 1), ("north", 40)):
        # sql/033: the complaint rate of a cohort of one says whether that person complained.
        complaints.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "metric": "complaint_rate",
                "value": 1 / size, "lower": 0.0, "upper": 0.5, "n": size, "complaints": 1,
                "sufficient": size >= 30, "window_closes_at": datetime(2026, 10, 17, tzinfo=UTC),
                "counted_as_of": datetime(2026, 10, 11, tzinfo=UTC), "window_complete": False,
            }
        )  # fmt: skip
        # sql/032: a percentile of one person is that person's latency.
        operational.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "metric": "latency_p95",
                "value": 80.0, "lower": 70.0, "upper": 90.0, "n": size, "sufficient": size >= 30,
            }
        )  # fmt: skip
        latencies.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "predictions": size,
                "latency_invalid": 0, "counts": "{" + ",".join(["0"] * 160 + [str(size)]) + "}",
            }
        )  # fmt: skip
        # sql/031: one attribution summary per cohort; its cell is n.
        attributions.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "feature": "income",
                "attribution_column": "attribution_income", "n": size, "abs_sum": 0.4 * size,
                "signed_sum": 0.1 * size, "sq_sum": 0.3 * size, "mean_abs": 0.4, "lower": 0.3,
                "upper": 0.5, "mean": 0.1, "share": 1.0, "sufficient": size >= 30,
            }
        )  # fmt: skip
        changes.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "metric": "selection_rate",
                "value": 0.5, "baseline_value": 0.4, "difference": 0.1, "lower": 0.0,
                "upper": 0.2, "denominator": size, "baseline_denominator": 400,
                "sufficient": size >= 30, "baseline_from": DAY - timedelta(days=14),
                "baseline_to": DAY - timedelta(days=1), "baseline_days": 14,
            }
        )  # fmt: skip
        drift.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "feature": "income",
                "feature_kind": "numeric", "method": "psi", "statistic": 0.3, "p_value": None,
                "p_value_adjusted": None, "lower": None, "upper": None, "threshold": 0.25,
                "direction": "higher_is_drift", "decided_on": "statistic", "drifted": True,
                "sufficient": True, "n_reference": 4000, "n_current": size,
                "baseline_from": DAY - timedelta(days=14), "baseline_to": DAY - timedelta(days=1),
                "baseline_days": 14, "status": "ok",
            }
        )  # fmt: skip
        for bin_index, count in enumerate((size // 2, size - size // 2)):
            histograms.append(
                cohort | {
                    "model_version": "all", "cohort_value": group, "feature": "income",
                    "feature_kind": "numeric", "bin": f"{bin_index:03d}", "bin_lower": None,
                    "bin_upper": None, "count": count, "bins_checksum": "c",
                }
            )  # fmt: skip
        versions.append(
            cohort | {
                "cohort_value": group, "candidate_version": "v2", "incumbent_version": "v1",
                "metric": "selection_rate", "candidate_value": 0.6, "incumbent_value": 0.5,
                "difference": 0.1, "lower": 0.0, "upper": 0.2, "candidate_denominator": size,
                "incumbent_denominator": 400, "candidate_n_labelled": size,
                "incumbent_n_labelled": 400, "sufficient": size >= 30, "verdict": "higher",
            }
        )  # fmt: skip
        # An SLO on the group's selection rate: its cell is the cohort_metrics one.
        evaluations.append(
            {
                "slo_name": f"selection_{group}", "sli_source": "cohort_metrics",
                "sli_metric": "selection_rate", "sli_subject": f"region={group}", "value": 0.5,
                "lower": 0.3, "upper": 0.7, "objective_op": "<=", "objective_value": 0.9,
                "sufficient": size >= 30, "status": "good", "reason": "test",
            }
        )  # fmt: skip
        # SLOs of the sources added after sql/025: an estimated gap and a canary's harm.
        for source, metric, subject in (
            ("estimated_disparities", "tpr_difference", f"region={group} vs west"),
            ("version_comparison", "selection_rate", f"region={group}"),
            ("operational_metrics", "latency_p95", f"region={group}"),
            ("complaint_metrics", "complaint_rate", f"region={group}"),
        ):
            evaluations.append(
                {
                    "slo_name": f"{source}_{group}", "sli_source": source, "sli_metric": metric,
                    "sli_subject": subject, "value": 0.1, "lower": 0.0, "upper": 0.2,
                    "objective_op": "<=", "objective_value": 0.3, "sufficient": size >= 30,
                    "status": "good", "reason": f"{subject}: 0.100 within 0.3",
                }
            )  # fmt: skip
        estimates.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "metric": "tpr", "value": 0.7,
                "standard_error": 0.05, "lower": 0.6, "upper": 0.8,
                "expected_denominator": size / 2, "n": size, "sufficient": size >= 30,
                "status": "estimated", "realised": 0.75, "realised_denominator": size,
                "label_coverage": 1.0, "estimation_error": 0.05, "within_interval": True,
                "reference_days": 14, "reference_misses": 0,
            }
        )  # fmt: skip
        # Against west (30 people): east's gap rests on 1 person, north's on 30.
        estimated_gaps.append(
            cohort | {
                "model_version": "all", "cohort_value": group, "reference_value": "west",
                "metric": "tpr_difference", "value": 0.1, "lower": 0.0, "upper": 0.2,
                "sufficient": size >= 30, "realised_value": 0.12,
            }
        )  # fmt: skip
    # west: 30 predictions (its estimate shows) but 9 actual positives (its realised TPR
    # does not).
    estimates.append({**estimates[-1], "cohort_value": "west", "n": 30})
    return {
        "feature_attributions": pd.DataFrame(attributions),
        "operational_metrics": pd.DataFrame(operational),
        "latency_histograms": pd.DataFrame(latencies),
        "complaint_metrics": pd.DataFrame(complaints),
        "performance_estimates": pd.DataFrame(estimates),
        "estimated_disparities": pd.DataFrame(estimated_gaps),
        "cohort_changes": pd.DataFrame(changes),
        "drift": pd.DataFrame(drift).astype({"drifted": "boolean"}),
        "feature_histograms": pd.DataFrame(histograms),
        "version_comparison": pd.DataFrame(versions),
        "slo_evaluations": pd.DataFrame(evaluations),
    }


# ---- who reads what -------------------------------------------------------------------------


def test_the_reader_cannot_read_person_rows_or_unsuppressed_cells_the_raw_role_can(world):
    for name in (*RAW_ROW_TABLES, *RAW_ONLY_TABLES, *COHORT_TABLES):
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied for"),
            acting_as(world, READER_ROLE) as conn,
        ):
            conn.execute(sa.text(f"SELECT * FROM monitoring.{name} LIMIT 1"))
        rows = read_as(world, RAW_READER_ROLE, f"SELECT count(*) AS n FROM monitoring.{name}")
        assert rows.n.iloc[0] >= 0, name
    raw = read_as(
        world, RAW_READER_ROLE, "SELECT row_data, reason FROM monitoring.quarantined_rows"
    )
    assert len(raw) > 0 and raw.reason.str.contains(RAW_COHORT_VALUE).any()
    assert len(read_as(world, RAW_READER_ROLE, "SELECT * FROM monitoring.labeled_predictions")) > 0
    # Nor a day's partition of the person rows, read directly (sql/038).
    partition = partitions_of(world, "monitoring.labeled_prediction_rows")[0]
    with (
        pytest.raises(sa.exc.ProgrammingError, match="permission denied for schema"),
        acting_as(world, READER_ROLE) as conn,
    ):
        conn.execute(sa.text(f"SELECT * FROM {partition} LIMIT 1"))


def test_the_reader_reads_the_protected_views_and_the_threshold(world):
    for name in PROTECTED_VIEWS:
        rows = read_as(world, READER_ROLE, f"SELECT * FROM monitoring.{name}")
        assert {"suppressed", "min_cell_size"} <= set(rows.columns), name
        if name.removesuffix("_protected") in ("cohort_metrics", "fairness_disparities", "drift"):
            assert len(rows) > 0, name
    assert len(read_as(world, READER_ROLE, "SELECT * FROM monitoring.privacy_settings")) == 1
    with world.connect() as conn:
        undocumented = conn.execute(
            sa.text(
                "SELECT c.relname, a.attname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                " WHERE n.nspname = 'monitoring' AND c.relname = ANY(:views)"
                "   AND (col_description(c.oid, a.attnum) IS NULL"
                "        OR obj_description(c.oid, 'pg_class') IS NULL)"
            ),
            {"views": list(PROTECTED_VIEWS)},
        ).all()
    assert undocumented == []


def test_a_new_table_is_not_the_readers_until_a_migration_grants_it(world):
    with world.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.text("CREATE TABLE monitoring.privacy_probe (prediction_id text)"))
        readable = conn.execute(
            sa.text(
                "SELECT has_table_privilege(:reader, 'monitoring.privacy_probe', 'SELECT'),"
                " has_table_privilege(:raw, 'monitoring.privacy_probe', 'SELECT')"
            ),
            {"reader": READER_ROLE, "raw": RAW_READER_ROLE},
        ).one()
        transaction.rollback()
    assert tuple(readable) == (False, True)


@pytest.mark.parametrize("number", ["029", "030", "031", "032"])
def test_the_newest_privacy_migrations_apply_twice_without_error(world, number):
    # 029 and 030 replace views of 025 with more columns, so 025 itself no longer re-applies.
    (path,) = sql_directory().glob(f"{number}_*.sql")
    with world.connect() as conn, conn.begin() as transaction:
        conn.exec_driver_sql(path.read_text().replace("%", "%%"))
        transaction.rollback()


# ---- suppression ----------------------------------------------------------------------------


def test_a_cell_of_one_person_is_null_and_flagged(world):
    rates = read_as(
        world,
        READER_ROLE,
        "SELECT cohort_value, value, lower, upper, denominator, n, suppressed, min_cell_size"
        " FROM monitoring.cohort_metrics_protected WHERE model_name = :m",
        m=TINY,
    ).set_index("cohort_value")
    east, north = rates.loc["east"], rates.loc["north"]
    assert east.n == 1 and bool(east.suppressed)
    assert east[["value", "lower", "upper", "denominator"]].isna().all()
    assert not north.suppressed and north.value == pytest.approx(0.5) and north.denominator == 40
    assert (rates.min_cell_size == DEFAULT_MIN_CELL_SIZE).all()  # no privacy_settings row
    # The raw role sees what the reader does not.
    stored = read_as(
        world,
        RAW_READER_ROLE,
        "SELECT value FROM monitoring.cohort_metrics WHERE model_name = :m AND cohort_value = 'east'",
        m=TINY,
    )
    assert stored.value.iloc[0] == pytest.approx(1.0)
    counts = read_as(
        world,
        READER_ROLE,
        "SELECT cohort_value, n, tp, pred_pos, suppressed FROM monitoring.cohort_stats_protected"
        " WHERE model_name = :m",
        m=TINY,
    ).set_index("cohort_value")
    assert counts.loc["east", "suppressed"] and pd.isna(counts.loc["east", "pred_pos"])
    assert counts.loc["east", "n"] == 1
    # west: 30 people but 9 actual positives: its label counts are withheld too.
    assert counts.loc["west", "suppressed"] and not counts.loc["north", "suppressed"]


@pytest.mark.parametrize("name", sorted(TINY_FIGURES))
def test_every_protected_view_hides_the_small_cell_and_shows_the_large_one(world, name):
    figure = TINY_FIGURES[name]
    group = "split_part(sli_subject, '=', 2)" if name == "slo_evaluations" else "cohort_value"
    rows = read_as(
        world,
        READER_ROLE,
        f"SELECT {group} AS grp, {figure} AS figure, suppressed, min_cell_size"
        f" FROM monitoring.{name}_protected WHERE model_name = :m",
        m=TINY,
    )
    east, north = rows[rows.grp == "east"], rows[rows.grp == "north"]
    assert len(east) > 0 and len(north) > 0
    assert east.suppressed.all() and east.figure.isna().all()
    assert not north.suppressed.any() and north.figure.notna().all()
    assert (rows.min_cell_size == DEFAULT_MIN_CELL_SIZE).all()


def test_a_gap_is_judged_on_the_cell_of_the_metric_it_compares(world):
    gaps = read_as(
        world,
        READER_ROLE,
        "SELECT cohort_value, metric, value, lower, suppressed"
        " FROM monitoring.fairness_disparities_protected WHERE model_name = :m",
        m=TINY,
    ).set_index(["cohort_value", "metric"])
    # east vs north compares selection rates of 1 and 40 people: suppressed.
    assert gaps.loc[("east", "demographic_parity_difference"), "suppressed"]
    assert pd.isna(gaps.loc[("east", "demographic_parity_difference"), "value"])
    # west vs north: 30 and 40 predictions, but 9 and 20 actual positives.
    selection = gaps.loc[("west", "demographic_parity_difference")]
    assert not selection.suppressed and selection.value == pytest.approx(-0.2)
    tpr = gaps.loc[("west", "tpr_difference")]
    assert tpr.suppressed and pd.isna(tpr.value) and pd.isna(tpr.lower)


def test_an_estimate_rests_on_the_predictions_its_realised_figure_on_the_labels(world):
    rows = read_as(
        world,
        READER_ROLE,
        "SELECT cohort_value, value, lower, realised, estimation_error, within_interval,"
        " suppressed, realised_suppressed FROM monitoring.performance_estimates_protected"
        " WHERE model_name = :m",
        m=TINY,
    ).set_index("cohort_value")
    east, west, north = rows.loc["east"], rows.loc["west"], rows.loc["north"]
    assert east.suppressed and east.realised_suppressed and pd.isna(east.value)
    # west: 30 predictions, 9 actual positives: the estimate shows, the realised TPR and
    # what compares the two do not.
    assert not west.suppressed and west.value == pytest.approx(0.7)
    assert west.realised_suppressed and pd.isna(west.realised)
    assert pd.isna(west.estimation_error) and pd.isna(west.within_interval)
    assert not north.suppressed and not north.realised_suppressed
    assert north.realised == pytest.approx(0.75) and north.within_interval
    gaps = read_as(
        world,
        READER_ROLE,
        "SELECT cohort_value, value, realised_value, suppressed, realised_suppressed"
        " FROM monitoring.estimated_disparities_protected WHERE model_name = :m",
        m=TINY,
    ).set_index("cohort_value")
    # north vs west: 40 and 30 predictions (shown), label cells 10 and 3 (realised hidden).
    assert not gaps.loc["north", "suppressed"] and gaps.loc["north", "value"] == pytest.approx(0.1)
    assert gaps.loc["north", "realised_suppressed"] and pd.isna(gaps.loc["north", "realised_value"])
    assert gaps.loc["east", "suppressed"] and pd.isna(gaps.loc["east", "value"])


def test_slo_readings_of_estimates_and_canaries_have_cells_and_hide_their_reason(world):
    readings = read_as(
        world,
        READER_ROLE,
        "SELECT slo_name, value, reason, suppressed, objective_kind"
        " FROM monitoring.slo_evaluations_protected WHERE model_name = :m",
        m=TINY,
    ).set_index("slo_name")
    for source in (
        "estimated_disparities", "version_comparison", "operational_metrics", "complaint_metrics",
    ):  # fmt: skip
        east, north = readings.loc[f"{source}_east"], readings.loc[f"{source}_north"]
        assert east.suppressed and pd.isna(east.value) and pd.isna(east.reason), source
        assert not north.suppressed and north.value == pytest.approx(0.1), source
        assert north.reason.startswith("region=north"), source
    assert (readings.objective_kind == "fixed").all()


def test_the_reader_reads_release_recommendations_and_estimation_accuracy(world):
    for name in ("release_recommendations", "estimation_accuracy"):
        rows = read_as(world, READER_ROLE, f"SELECT count(*) AS n FROM monitoring.{name}")
        assert rows.n.iloc[0] >= 0, name


def test_the_loans_estimates_are_suppressed_exactly_below_the_threshold(world):
    shown = read_as(
        world,
        READER_ROLE,
        "SELECT model_version, cohort_attribute, cohort_value, metric, n, realised,"
        " suppressed, realised_suppressed FROM monitoring.performance_estimates_protected"
        " WHERE model_name = :m",
        m=LOAN,
    )
    assert len(shown) > 0
    assert (shown.suppressed == (shown.n < DEFAULT_MIN_CELL_SIZE)).all()
    cells = loan_cells(world)
    label_cell = cells.loc[list(map(tuple, shown[STATS_KEY].to_numpy())), "label"].to_numpy()
    assert (shown.realised_suppressed == (label_cell < DEFAULT_MIN_CELL_SIZE)).all()
    assert shown.realised_suppressed.any() and (~shown.realised_suppressed).any()
    assert shown.loc[shown.realised_suppressed, "realised"].isna().all()


# Figures of selection rates rest on the predictions; the others on the labelled rows, whose
# five margins must each reach the threshold (together they give the confusion matrix).
SELECTION_METRICS = {"selection_rate", "demographic_parity_difference", "disparate_impact_ratio"}
STATS_KEY = ["model_version", "cohort_attribute", "cohort_value"]


def loan_cells(engine: sa.Engine) -> pd.DataFrame:
    """The loan model's cells per (version, attribute, value), from its cohort_stats."""
    stats = table(engine, "cohort_stats")
    stats = stats[stats.model_name == LOAN].set_index(STATS_KEY)
    margins = [
        stats.n_labelled,
        stats.tp + stats.fn,
        stats.fp + stats.tn,
        stats.tp + stats.fp,
        stats.tn + stats.fn,
    ]
    return pd.DataFrame({"n": stats.n, "label": pd.concat(margins, axis=1).min(axis=1)})


def cell_of(cells: pd.DataFrame, metric: str, key: tuple) -> int:
    return int(cells.loc[key, "n" if metric in SELECTION_METRICS else "label"])


def expected_metric_cells(engine: sa.Engine) -> pd.Series:
    """The cell of every cohort_metrics row of the loan model, by (version, attribute,
    value, metric)."""
    metrics = table(engine, "cohort_metrics")
    metrics = metrics[metrics.model_name == LOAN]
    cells = loan_cells(engine)
    return pd.Series(
        [
            cell_of(cells, row.metric, (row.model_version, row.cohort_attribute, row.cohort_value))
            for row in metrics.itertuples()
        ],
        index=pd.MultiIndex.from_frame(metrics[[*STATS_KEY, "metric"]]),
    )


def test_the_pipelines_figures_are_suppressed_exactly_below_the_threshold(world):
    metrics = table(world, "cohort_metrics")
    metrics = metrics[metrics.model_name == LOAN]
    key = [*STATS_KEY, "metric"]
    shown = read_as(
        world, READER_ROLE, "SELECT * FROM monitoring.cohort_metrics_protected WHERE model_name = :m",
        m=LOAN,
    )  # fmt: skip
    both = metrics.merge(shown, on=key, suffixes=("", "_shown"))
    assert len(both) == len(metrics)
    cells = expected_metric_cells(world)
    small = pd.Series(
        cells.loc[list(map(tuple, both[key].to_numpy()))].to_numpy() < DEFAULT_MIN_CELL_SIZE,
        index=both.index,
    )
    assert (both.suppressed == small).all()
    assert small.any() and (~small & both.value.notna()).any()  # both kinds occur
    assert both.loc[small, ["value_shown", "lower_shown", "upper_shown"]].isna().all().all()
    kept = both[~small & both.value.notna()]
    assert np.allclose(kept.value_shown, kept.value)
    assert (both.n_shown == both.n).all()  # sizes stay visible
    # A cohort's label figures go together: one small margin hides them all; its selection
    # rate rests on all its predictions and may stay.
    label = both[both.metric != "selection_rate"].groupby(STATS_KEY).suppressed
    assert (label.any() == label.all()).all() and label.any().any()
    selection = both[both.metric == "selection_rate"].set_index(STATS_KEY).suppressed
    hidden_labels = label.all()[label.all()].index
    assert (~selection.loc[hidden_labels]).any()

    cohort_cells = loan_cells(world)
    gaps = read_as(
        world,
        READER_ROLE,
        "SELECT * FROM monitoring.fairness_disparities_protected WHERE model_name = :m",
        m=LOAN,
    )
    assert len(gaps) > 0 and gaps.suppressed.any() and (~gaps.suppressed).any()
    for row in gaps.itertuples():
        group = cell_of(
            cohort_cells, row.metric, (row.model_version, row.cohort_attribute, row.cohort_value)
        )
        reference = cell_of(
            cohort_cells, row.metric, (row.model_version, row.cohort_attribute, row.reference_value)
        )
        assert row.suppressed == (min(group, reference) < DEFAULT_MIN_CELL_SIZE), row
        if row.suppressed:
            assert pd.isna(row.value) and pd.isna(row.lower) and pd.isna(row.is_worst)
    # The analyst views show no figure the protected views withhold.
    worst = read_as(world, READER_ROLE, "SELECT * FROM monitoring.worst_cohorts")
    assert worst.suppressed.any()
    assert worst.loc[worst.suppressed, ["gap", "lower", "upper", "rank"]].isna().all().all()
    drift = read_as(world, READER_ROLE, "SELECT * FROM monitoring.drift_last_7_days")
    assert drift.loc[drift.suppressed, ["statistic", "drifted"]].isna().all().all()
    assert "suppressed" in read_as(world, READER_ROLE, "SELECT * FROM monitoring.slo_status")


def test_the_run_records_the_threshold_and_changing_it_changes_what_is_suppressed(world):
    recorded = read_as(world, READER_ROLE, "SELECT * FROM monitoring.privacy_settings")
    assert recorded.set_index("model_name").min_cell_size.to_dict() == {LOAN: DEFAULT_MIN_CELL_SIZE}
    key = [*STATS_KEY, "metric"]

    def suppressed() -> pd.Series:
        rows = read_as(
            world,
            READER_ROLE,
            "SELECT * FROM monitoring.cohort_metrics_protected WHERE model_name = :m",
            m=LOAN,
        )
        return rows.set_index(key).suppressed

    cells = expected_metric_cells(world)
    try:
        for threshold in (1, 25, 10**6):
            record_privacy_settings(world, model_name=LOAN, min_cell_size=threshold, run_id="t")
            got = suppressed()
            assert (got == (cells.loc[got.index] < threshold)).all(), threshold
        assert suppressed().all()
    finally:
        record_privacy_settings(
            world, model_name=LOAN, min_cell_size=DEFAULT_MIN_CELL_SIZE, run_id="restore"
        )
    got = suppressed()
    assert (got == (cells.loc[got.index] < DEFAULT_MIN_CELL_SIZE)).all()


def test_the_threshold_comes_from_the_model_else_the_top_level_config(tmp_path: Path):
    raw = demo_config(START, tmp_path / "data")
    raw["privacy"] = {"min_cell_size": 20}
    raw["models"][LOAN]["privacy"] = {"min_cell_size": 5}
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert config.min_cell_size(LOAN) == 5
    assert config.min_cell_size("job_screening") == 20
    assert model_provenance(config, LOAN).min_cell_size == 5
    # Not part of the code version: changing it re-runs nothing.
    raw["models"][LOAN]["privacy"] = {"min_cell_size": 50}
    path.write_text(yaml.safe_dump(raw))
    assert model_provenance(load_config(path), LOAN).config_hash == (
        model_provenance(config, LOAN).config_hash
    )


# ---- nothing of a person in a metric table --------------------------------------------------


def test_no_prediction_id_or_raw_value_reaches_a_metric_table(world):
    ids = person_ids(world)
    assert len(ids) > 300  # the day's predictions and its quarantined rows
    assert rows_holding(world, ids) == {}
    assert rows_holding(world, [RAW_COHORT_VALUE]) == {}
