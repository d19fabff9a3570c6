"""Reads of the ingestion tables (``sql/003``, ``012``): ``labeled_prediction_rows``,
``ingestion_stats``, ``quality_results`` and ``label_status``. Bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = [
    "blocked_days",
    "count_labeled_rows",
    "days_with_rows",
    "ingested_days",
    "label_coverage_between",
    "label_rows_in_table",
    "label_rows_used",
    "label_status_between",
    "label_status_figures",
    "label_status_figures_from_rows",
    "partition_prediction_ids",
    "refresh_row_statistics",
    "rows_read_history",
]

# Autovacuum analyzes a table after 10% of its rows changed, so a new day of a large table
# is missing from its statistics when the day's own queries run. The planner then takes the
# day for empty: it joined each row to its layout by a nested loop (a 1.1M-row day read in
# 17 s instead of 2.3 s) and counted ids on other days by 11.3M index probes (44 s on a
# 10M-row day). Below this many rows a poor plan costs less than ANALYZE (~0.3 s).
ANALYZE_AFTER_ROWS = 20_000

# percentile_cont interpolates linearly between order statistics (numpy's default method).
_LABEL_STATUS_FIGURES = """
SELECT
    count(*)                                            AS predictions,
    count(label)                                        AS labelled,
    count(*) FILTER (WHERE label_revisions > 1)         AS corrected,
    count(*) FILTER (WHERE label = 1)                   AS positives,
    percentile_cont(0.5)  WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p50_hours,
    percentile_cont(0.9)  WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p90_hours,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY label_lag_hours) AS label_lag_p99_hours,
    max(label_lag_hours)                                AS label_lag_max_hours
FROM monitoring.labeled_prediction_rows
WHERE model_name = :model AND partition_date = :day
"""


# What labeled_predictions counted while writing the day (migration 034); NULL counts for a
# day written before, whose rows are then read.
_COUNTED_LABEL_FIGURES = """
SELECT rows_written AS predictions, labelled, corrected, positives, label_lag_p50_hours,
       label_lag_p90_hours, label_lag_p99_hours, label_lag_max_hours
FROM monitoring.ingestion_stats
WHERE model_name = :model AND partition_date = :day AND labelled IS NOT NULL
"""


def label_status_figures(engine: Engine, model_name: str, day: date) -> pd.Series:
    """Counts and label-lag quantiles of one written partition (one row: ``predictions,
    labelled, corrected, positives, label_lag_p50_hours, ..._p90_, ..._p99_, ..._max_``):
    those ingestion counted as it wrote the rows, else (a day written before it counted
    them) from the stored rows."""
    counted = read_frame(engine, _COUNTED_LABEL_FIGURES, {"model": model_name, "day": day})
    if len(counted):
        return counted.iloc[0]
    return label_status_figures_from_rows(engine, model_name, day)


def label_status_figures_from_rows(engine: Engine, model_name: str, day: date) -> pd.Series:
    """:func:`label_status_figures` computed from the stored rows, whatever ingestion kept."""
    return read_frame(engine, _LABEL_STATUS_FIGURES, {"model": model_name, "day": day}).iloc[0]


def rows_read_history(engine: Engine, model_name: str, start: date, day: date) -> pd.DataFrame:
    """``partition_date, rows_read`` of the days from ``start`` up to (not including) ``day``."""
    return read_frame(
        engine,
        "SELECT partition_date, rows_read FROM monitoring.ingestion_stats WHERE model_name = :model "
        "AND partition_date >= :start AND partition_date < :day",
        {"model": model_name, "start": start, "day": day},
    )


def days_with_rows(engine: Engine, model_name: str, first: date, last: date) -> list[date]:
    """Days from ``first`` to ``last`` whose ingestion wrote at least one row, in order."""
    return read_frame(
        engine,
        "SELECT partition_date FROM monitoring.ingestion_stats WHERE model_name = :model "
        "AND partition_date BETWEEN :first AND :last AND rows_written > 0 ORDER BY 1",
        {"model": model_name, "first": first, "last": last},
    ).partition_date.tolist()


def ingested_days(conn: sa.Connection, model_name: str, first: date, last: date) -> set[date]:
    """Days from ``first`` to ``last`` whose labeled predictions were written (on ``conn``,
    inside its transaction)."""
    return {
        row[0]
        for row in conn.execute(
            sa.text(
                "SELECT partition_date FROM monitoring.ingestion_stats "
                "WHERE model_name = :model AND partition_date BETWEEN :first AND :last"
            ),
            {"model": model_name, "first": first, "last": last},
        )
    }


def count_labeled_rows(conn: sa.Connection, model_name: str, first: date, last: date) -> int:
    """Labeled prediction rows of the model from ``first`` to ``last`` (on ``conn``)."""
    return conn.execute(
        sa.text(
            "SELECT count(*) FROM monitoring.labeled_prediction_rows "
            "WHERE model_name = :model AND partition_date BETWEEN :first AND :last"
        ),
        {"model": model_name, "first": first, "last": last},
    ).scalar_one()


def label_rows_used(engine: Engine, model_name: str, since: date) -> pd.DataFrame:
    """Per written day since ``since``: ``partition_date, predictions, label_rows_used``
    (the label rows the partition was built from, corrections included)."""
    return read_frame(
        engine,
        "SELECT partition_date, count(*) AS predictions, sum(label_revisions) AS label_rows_used "
        "FROM monitoring.labeled_prediction_rows WHERE model_name = :model AND partition_date >= :since "
        "GROUP BY partition_date",
        {"model": model_name, "since": since},
    )


def label_rows_in_table(
    engine: Engine,
    model_name: str,
    since: date,
    *,
    label_table: str,
    prediction_id_column: str,
    labelled_at_column: str,
    labels_as_of: datetime | None = None,
) -> pd.DataFrame:
    """Per written day since ``since``: ``partition_date, label_rows_now, newest_label_at``,
    the label rows the source table ``label_table`` (``schema.table``) holds now for the
    day's predictions and when the newest was recorded (only those recorded by
    ``labels_as_of`` when given: a replay of that moment)."""
    schema, table = label_table.split(".")
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        known_by = (
            "" if labels_as_of is None else f"AND l.{quote(labelled_at_column)} <= :labels_as_of "
        )
        query = (
            "SELECT lp.partition_date, count(*) AS label_rows_now, "
            f"max(l.{quote(labelled_at_column)}) AS newest_label_at "
            f"FROM monitoring.labeled_prediction_rows AS lp JOIN {quote(schema)}.{quote(table)} AS l "
            f"ON l.{quote(prediction_id_column)}::text = lp.prediction_id "
            f"WHERE lp.model_name = :model AND lp.partition_date >= :since {known_by}"
            "GROUP BY lp.partition_date"
        )
        params = {"model": model_name, "since": since, "labels_as_of": labels_as_of}
        return pd.read_sql_query(sa.text(query), conn, params=params)


def partition_prediction_ids(engine: Engine, model_name: str, since: date) -> pd.DataFrame:
    """``partition_date, prediction_id`` of every written prediction since ``since``."""
    return read_frame(
        engine,
        "SELECT partition_date, prediction_id FROM monitoring.labeled_prediction_rows "
        "WHERE model_name = :model AND partition_date >= :since",
        {"model": model_name, "since": since},
    )


def labelled_by_age(
    engine: Engine, model_name: str, first: date, last: date, ages_hours: Sequence[float]
) -> pd.DataFrame:
    """Per written day from ``first`` to ``last`` and age: ``partition_date, age_hours,
    predictions, labelled``: the predictions whose first label was recorded by
    ``age_hours`` after the day ended (as the day's last run joined its labels)."""
    if not ages_hours:
        return pd.DataFrame(columns=["partition_date", "age_hours", "predictions", "labelled"])
    return read_frame(
        engine,
        "SELECT lp.partition_date, a.age_hours, count(*) AS predictions, "
        "count(*) FILTER (WHERE lp.first_labelled_at <= "
        "((lp.partition_date + 1)::timestamp AT TIME ZONE 'UTC') "
        "+ a.age_hours * interval '1 hour') AS labelled "
        "FROM monitoring.labeled_prediction_rows AS lp "
        "CROSS JOIN unnest(CAST(:ages AS double precision[])) AS a(age_hours) "
        "WHERE lp.model_name = :model AND lp.partition_date BETWEEN :first AND :last "
        "GROUP BY lp.partition_date, a.age_hours",
        {"model": model_name, "first": first, "last": last, "ages": [float(a) for a in ages_hours]},
    )


def day_quality(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """The day's ``rows_read, rows_quarantined`` (ingestion_stats; no row when the day was
    not ingested)."""
    return read_frame(
        engine,
        "SELECT rows_read, rows_quarantined FROM monitoring.ingestion_stats "
        "WHERE model_name = :model AND partition_date = :day",
        {"model": model_name, "day": day},
    )


def failed_nonblocking_expectations(engine: Engine, model_name: str, day: date) -> pd.DataFrame:
    """The day's failed non-blocking expectations: ``check_name, expectation, column_name,
    unexpected_share, tolerance``."""
    return read_frame(
        engine,
        "SELECT check_name, expectation, column_name, unexpected_share, tolerance "
        "FROM monitoring.quality_results WHERE model_name = :model AND partition_date = :day "
        "AND NOT blocking AND NOT success ORDER BY check_name, column_name",
        {"model": model_name, "day": day},
    )


def label_coverage_between(engine: Engine, model_name: str, start: date, end: date) -> pd.Series:
    """One row: ``days`` with a label_status row from ``start`` to ``end``, and the sums of
    their ``predictions`` and ``labelled`` (0 without any)."""
    return read_frame(
        engine,
        "SELECT count(*) AS days, coalesce(sum(predictions), 0) AS predictions, "
        "coalesce(sum(labelled), 0) AS labelled FROM monitoring.label_status "
        "WHERE model_name = :model AND partition_date BETWEEN :start AND :end",
        {"model": model_name, "start": start, "end": end},
    ).iloc[0]


def label_status_between(engine: Engine, model_name: str, first: date, last: date) -> pd.DataFrame:
    """``partition_date, predictions, labelled, label_lag_p90_hours, computed_on`` (the UTC
    day the row was produced) of each day from ``first`` to ``last``."""
    return read_frame(
        engine,
        "SELECT partition_date, predictions, labelled, label_lag_p90_hours, "
        "(produced_at AT TIME ZONE 'UTC')::date AS computed_on FROM monitoring.label_status "
        "WHERE model_name = :model AND partition_date BETWEEN :first AND :last",
        {"model": model_name, "first": first, "last": last},
    )


def blocked_days(engine: Engine, model_name: str, first: date, last: date) -> dict[date, list[str]]:
    """Days from ``first`` to ``last`` where a blocking quality check failed, with the
    failed checks' names (sorted)."""
    frame = read_frame(
        engine,
        "SELECT partition_date, array_agg(DISTINCT check_name ORDER BY check_name) AS checks "
        "FROM monitoring.quality_results WHERE model_name = :model "
        "AND partition_date BETWEEN :first AND :last AND blocking AND NOT success "
        "GROUP BY partition_date",
        {"model": model_name, "first": first, "last": last},
    )
    return {row.partition_date: list(row.checks) for row in frame.itertuples()}


def refresh_row_statistics(conn: sa.Connection, rows_written: int, day_table: str) -> bool:
    """After a day of ``rows_written`` rows, refresh the planner's statistics of the table
    holding them, ``day_table`` (the day's partition of ``labeled_prediction_rows``,
    quoted and qualified), on the columns its queries filter and join on, when the day is
    large enough to matter (``ANALYZE_AFTER_ROWS``); True when it did.

    Run it in the day's write transaction, after the rows: the statistics commit or roll
    back with them, and the next steps' reads of the day are planned on its real contents
    (autovacuum may analyze a new partition only a minute later). A role that may not
    analyze the table gets PostgreSQL's warning, not an error."""
    if rows_written < ANALYZE_AFTER_ROWS:
        return False
    conn.execute(sa.text(f"ANALYZE {day_table} (model_name, partition_date, prediction_id)"))
    return True
