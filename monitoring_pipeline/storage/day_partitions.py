"""Tables partitioned by (model, day) (``sql/038``): each (model_name, partition_date) of
the table is a table of its own in schema ``monitoring_partitions``, so a writer replaces a
day by swapping that table's contents instead of deleting rows.

:func:`open_day_partition` gives the table the day's rows are COPYed into, inside the
write transaction and after its advisory lock:

* a day never written: a new table, not yet attached (invisible to every other
  transaction), loaded with ``COPY ... FREEZE`` and given its key once the rows are in;
  :func:`attach_day_partition` attaches it just before the commit. ATTACH locks the parent
  in SHARE UPDATE EXCLUSIVE mode: readers and other writers go on, two ATTACHes take turns.
  A CHECK constraint equal to the partition's bounds spares ATTACH a scan of the rows.
* a day written before: its partition is emptied with TRUNCATE (its old rows come back if
  the transaction rolls back) and loaded with ``COPY ... FREEZE``. TRUNCATE locks that one
  partition until the commit: a query reading that day waits for the re-run to commit.

Both are what PostgreSQL calls not MVCC-safe: a transaction whose snapshot is older than
the commit sees the new day's rows (frozen) once it reads the partition after the commit,
not the old ones. The pipeline's readers each read a day in one query, after its writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

__all__ = [
    "PARTITIONS_SCHEMA",
    "DayPartition",
    "attach_day_partition",
    "day_partitioned_tables",
    "open_day_partition",
]

PARTITIONS_SCHEMA = "monitoring_partitions"

_PARTITIONED = sa.text(
    "SELECT c.relname FROM pg_partitioned_table p "
    "JOIN pg_class c ON c.oid = p.partrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relname = ANY(:tables)"
)
# The day's partition: its name, whether a table of that name exists, and whether it is
# attached to the parent (one round trip).
_LOOKUP = sa.text(
    "SELECT d.name, c.oid IS NOT NULL AS found, "
    "coalesce(i.inhparent = to_regclass(:parent), false) AS attached "
    "FROM (SELECT monitoring.day_partition_name(:table, :model_name, :partition_date) AS name) d "
    "LEFT JOIN pg_namespace n ON n.nspname = :schema "
    "LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = d.name "
    "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
)


@dataclass(frozen=True)
class DayPartition:
    """The table holding one (model, day) of ``parent``; ``new``: created by this
    transaction (to attach before the commit)."""

    parent: str
    model_name: str
    partition_date: date
    qualified_name: str
    new: bool


def day_partitioned_tables(conn: sa.Connection, schema: str, tables: Sequence[str]) -> set[str]:
    """Which of ``tables`` (in ``schema``) are partitioned by (model, day)."""
    return set(conn.execute(_PARTITIONED, {"schema": schema, "tables": list(tables)}).scalars())


def open_day_partition(
    conn: sa.Connection, schema: str, table: str, model_name: str, partition_date: date
) -> DayPartition:
    """The day's partition of ``schema.table``, empty and ready for ``COPY ... FREEZE``:
    the existing one truncated, or a new table (see the module's docstring). Call it
    holding the day's advisory lock of ``table``."""
    quote = conn.dialect.identifier_preparer.quote
    parent = f"{quote(schema)}.{quote(table)}"
    name, found, attached = conn.execute(
        _LOOKUP,
        {
            "parent": parent,
            "schema": PARTITIONS_SCHEMA,
            "table": table,
            "model_name": model_name,
            "partition_date": partition_date,
        },
    ).one()
    qualified = f"{quote(PARTITIONS_SCHEMA)}.{quote(name)}"
    if not found:
        conn.execute(
            sa.text(
                f"CREATE TABLE {qualified} (LIKE {parent} INCLUDING DEFAULTS "
                "INCLUDING STORAGE INCLUDING COMPRESSION)"
            )
        )
        new = True
    elif attached:
        conn.execute(sa.text(f"TRUNCATE {qualified}"))
        new = False
    else:
        raise RuntimeError(
            f"{PARTITIONS_SCHEMA}.{name} exists but is not a partition of {schema}.{table}: "
            f"attach it (or drop it) before writing {model_name} {partition_date}"
        )
    return DayPartition(parent, model_name, partition_date, qualified, new)


def attach_day_partition(conn: sa.Connection, partition: DayPartition) -> None:
    """Attach a new partition (no-op for one that was already attached), once its rows are
    in: its key is built here, in one sorted pass."""
    if not partition.new:
        return
    bounds = {
        "model_name": partition.model_name,
        "first": partition.partition_date,
        "after": partition.partition_date + timedelta(days=1),
    }
    conn.execute(
        sa.text(
            f"ALTER TABLE {partition.qualified_name} ADD CONSTRAINT day_bounds "
            "CHECK (model_name = :model_name AND partition_date >= :first "
            "AND partition_date < :after)"
        ),
        bounds,
    )
    conn.execute(
        sa.text(
            f"ALTER TABLE {partition.parent} ATTACH PARTITION {partition.qualified_name} "
            "FOR VALUES FROM (:model_name, :first) TO (:model_name, :after)"
        ),
        bounds,
    )
    conn.execute(
        sa.text(f"COMMENT ON TABLE {partition.qualified_name} IS :comment"),
        {"comment": f"{partition.parent} of {partition.model_name} on {partition.partition_date}"},
    )
