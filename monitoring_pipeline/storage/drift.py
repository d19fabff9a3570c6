"""Reads and writes of the drift tables (``sql/005``): ``feature_bins``,
``feature_histograms`` and ``drift``. Bound parameters only; identifiers quoted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import labeled_values_source, read_frame

__all__ = [
    "baseline_row",
    "category_counts",
    "cohort_drift",
    "INGESTED_HISTOGRAMS_TABLE",
    "histogram_checksums",
    "ingested_histograms",
    "load_bins",
    "model_lock",
    "save_bins",
    "window_histograms",
]


def load_bins(conn: sa.Connection, model_name: str) -> list[Mapping[str, object]]:
    """Every ``feature_bins`` row of the model, as mappings (on ``conn``)."""
    return list(
        conn.execute(
            sa.text("SELECT * FROM monitoring.feature_bins WHERE model_name = :model"),
            {"model": model_name},
        ).mappings()
    )


def save_bins(conn: sa.Connection, model_name: str, rows: Sequence[Mapping[str, object]]) -> None:
    """Replace the model's bins of the features in ``rows`` (on ``conn``, in its
    transaction). Each row: ``feature, kind, edges, categories, n_bins_requested,
    max_categories, n_bins, fitted_from, fitted_to, fitted_values, discrete, checksum,
    run_id, produced_at``."""
    conn.execute(
        sa.text(
            "DELETE FROM monitoring.feature_bins "
            "WHERE model_name = :model AND feature = ANY(:features)"
        ),
        {"model": model_name, "features": [row["feature"] for row in rows]},
    )
    conn.execute(
        sa.text(
            "INSERT INTO monitoring.feature_bins (model_name, feature, feature_kind, edges, "
            "categories, n_bins_requested, max_categories, n_bins, fitted_from, fitted_to, "
            "fitted_values, bins_checksum, run_id, produced_at, discrete) VALUES (:model, "
            ":feature, :kind, CAST(:edges AS double precision[]), CAST(:categories AS text[]), "
            ":n_bins_requested, :max_categories, :n_bins, :fitted_from, :fitted_to, "
            ":fitted_values, :checksum, :run_id, :produced_at, :discrete)"
        ),
        [{"model": model_name, **row} for row in rows],
    )


def category_counts(
    conn: sa.Connection, model_name: str, categorical: Sequence[str], window: tuple[date, date]
) -> pd.DataFrame:
    """``feature, value, n``: how often each non-null value of each ``categorical`` feature
    occurs in the labeled predictions of ``window``, counted by the database."""
    params: dict[str, object] = {"model": model_name, "first": window[0], "last": window[1]}
    columns: list[str] = []
    source = labeled_values_source(conn.engine, columns, params, {}, (), categorical, ())
    quote = conn.dialect.identifier_preparer.quote
    values = ", ".join(
        f"(CAST(:categorical_{i} AS text), s.{quote(name)})" for i, name in enumerate(categorical)
    )
    return pd.read_sql_query(
        sa.text(
            f"SELECT v.feature, v.value, count(*) AS n FROM (SELECT {', '.join(columns)} "
            f"{source} WHERE r.model_name = :model "
            "AND r.partition_date BETWEEN :first AND :last) AS s "
            f"CROSS JOIN LATERAL (VALUES {values}) AS v(feature, value) "
            "WHERE v.value IS NOT NULL GROUP BY v.feature, v.value"
        ),
        conn,
        params=params,
    )


def histogram_checksums(
    engine: Engine, model_name: str, version: str, window: tuple[date, date]
) -> pd.DataFrame:
    """Distinct ``partition_date, feature, bins_checksum`` of the stored histograms of
    ``version`` in ``window``."""
    return read_frame(
        engine,
        "SELECT DISTINCT partition_date, feature, bins_checksum FROM monitoring.feature_histograms "
        "WHERE model_name = :model AND model_version = :version "
        "AND partition_date BETWEEN :first AND :last",
        {"model": model_name, "version": version, "first": window[0], "last": window[1]},
    )


def window_histograms(
    engine: Engine, model_name: str, version: str, window: tuple[date, date]
) -> pd.DataFrame:
    """The stored histogram rows of ``version`` in ``window``: ``partition_date,
    cohort_attribute, cohort_value, feature, feature_kind, bin, count, bins_checksum``."""
    return read_frame(
        engine,
        "SELECT partition_date, cohort_attribute, cohort_value, feature, feature_kind, bin, "
        "count, bins_checksum FROM monitoring.feature_histograms "
        "WHERE model_name = :model AND model_version = :version "
        "AND partition_date BETWEEN :first AND :last",
        {"model": model_name, "version": version, "first": window[0], "last": window[1]},
    )


# feature_histograms of a day as labeled_predictions counted them (sql/037).
INGESTED_HISTOGRAMS_TABLE = "ingested_feature_histograms"


def ingested_histograms(
    engine: Engine, model_name: str, day: date, spec_checksum: str
) -> pd.DataFrame:
    """The day's ``ingested_feature_histograms`` rows counted by ``spec_checksum``:
    ``cohort_attribute, cohort_value, feature, feature_kind, bin, count``; empty when the
    day was counted by another one, or not at all."""
    return read_frame(
        engine,
        "SELECT cohort_attribute, cohort_value, feature, feature_kind, bin, count "
        f"FROM monitoring.{INGESTED_HISTOGRAMS_TABLE} WHERE model_name = :model "
        "AND partition_date = :day AND spec_checksum = :checksum",
        {"model": model_name, "day": day, "checksum": spec_checksum},
    )


def baseline_row(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """The drift row that describes the day's baseline (``status, baseline_from,
    baseline_to, baseline_days, n_reference``), empty when drift did not run: the score is
    always watched, and the overall cohort is always binned when anything is."""
    return read_frame(
        engine,
        "SELECT status, baseline_from, baseline_to, baseline_days, n_reference "
        "FROM monitoring.drift WHERE model_name = :model AND partition_date = :day "
        "AND feature = 'score' AND cohort_attribute = 'all' AND model_version = 'all' "
        "AND method = 'psi'",
        {"model": model_name, "day": day},
    )


def cohort_drift(
    engine: Engine, model_name: str, day: date, *, feature: str, method: str
) -> pd.DataFrame:
    """Every cohort's drift figure of ``feature`` (every feature when it is ``*``) by
    ``method`` on ``day`` (model version ``all``): ``feature, cohort_attribute,
    cohort_value, value, lower, upper, sufficient, drifted, n_current`` (``value`` is the
    stored ``statistic``)."""
    return read_frame(
        engine,
        "SELECT feature, cohort_attribute, cohort_value, statistic AS value, lower, upper, "
        "sufficient, drifted, n_current FROM monitoring.drift WHERE model_name = :model "
        "AND partition_date = :day AND model_version = 'all' "
        "AND (feature = :feature OR :feature = '*') AND method = :method",
        {"model": model_name, "day": day, "feature": feature, "method": method},
    )


@contextmanager
def model_lock(engine: Engine, namespace: int, model_name: str) -> Iterator[None]:
    """Hold a session advisory lock on (``namespace``, ``model_name``) (released at exit,
    or by the server when the session dies)."""
    params = {"namespace": namespace, "model": model_name}
    conn = engine.connect()
    try:
        conn.execute(sa.text("SELECT pg_advisory_lock(:namespace, hashtext(:model))"), params)
        conn.commit()
        yield
    finally:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:namespace, hashtext(:model))"), params)
            conn.commit()
        except sa.exc.DBAPIError:  # a dead session holds no lock; do not pool it
            conn.invalidate()
        finally:
            conn.close()
