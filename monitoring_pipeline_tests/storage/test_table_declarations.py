"""The sa.Table declarations of storage/ match the schema the migrations create: same
columns, same type family, same nullability, same primary key (sa.inspect on a migrated
database), so the declarations and sql/*.sql cannot drift apart."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from monitoring_pipeline.storage import alerts, retraining

DECLARED = [
    alerts.ALERTS,
    alerts.DELIVERIES,
    retraining.retraining_requests,
    retraining.model_versions,
]


def _family(column_type: sa.types.TypeEngine) -> type:
    """The Python type a column's values come back as: the comparable part of a type."""
    try:
        return column_type.python_type
    except NotImplementedError:  # JSONB and such
        return type(column_type)


@pytest.mark.parametrize("table", DECLARED, ids=lambda t: t.name)
def test_declared_table_matches_the_migrated_schema(engine, table: sa.Table) -> None:
    inspector = sa.inspect(engine)
    live = {c["name"]: c for c in inspector.get_columns(table.name, schema=table.schema)}
    assert live, f"{table.fullname} not created by the migrations"
    assert set(table.columns.keys()) <= set(live), "declared columns the DDL lacks"
    missing = set(live) - set(table.columns.keys())
    assert not missing, f"{table.fullname}: DDL columns not declared: {sorted(missing)}"
    for column in table.columns:
        assert _family(column.type) == _family(live[column.name]["type"]), column.name
    live_key = inspector.get_pk_constraint(table.name, schema=table.schema)["constrained_columns"]
    assert sorted(c.name for c in table.primary_key.columns) == sorted(live_key)
    # Nullability: a primary-key column is NOT NULL on both sides; other declared columns
    # must not promise NOT NULL where the database allows NULL.
    for column in table.columns:
        if not column.nullable:
            assert not live[column.name]["nullable"], column.name
