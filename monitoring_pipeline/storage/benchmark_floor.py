"""The SQL of `monitoring-pipeline benchmark`'s floor (see ``monitoring_pipeline.benchmark``):
four statements on the benchmark's scratch tables, apart from the project's storage code so
that the floor never measures the project against itself. Identifiers are quoted by
``psycopg2.sql``; values are bound parameters."""

from __future__ import annotations

FLOOR_READ_DAY = (
    "COPY (SELECT {columns} FROM {predictions} WHERE scored_at >= %(start)s "
    "AND scored_at < %(end)s) TO STDOUT WITH (FORMAT csv, HEADER)"
)
FLOOR_READ_LABELS = (
    "COPY (SELECT prediction_id, label, labelled_at FROM {labels} WHERE prediction_id IN "
    "(SELECT prediction_id FROM {predictions} WHERE scored_at >= %(start)s "
    "AND scored_at < %(end)s)) TO STDOUT WITH (FORMAT csv, HEADER)"
)
FLOOR_CREATE_TABLE = "CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE {table} ({definition})"
FLOOR_WRITE_ROWS = "COPY {table} FROM STDIN WITH (FORMAT binary)"


def statement(template: str, **parts):
    """``template`` with its identifiers quoted (and ``columns``: a quoted list, ``*``
    when None)."""
    from psycopg2 import sql

    def part(value):
        if isinstance(value, sql.Composable):
            return value
        if isinstance(value, tuple):
            return sql.Identifier(*value)
        if isinstance(value, list):
            return sql.SQL(", ").join(sql.Identifier(name) for name in value)
        return sql.SQL("*") if value is None else sql.Identifier(value)

    return sql.SQL(template).format(**{name: part(value) for name, value in parts.items()})
