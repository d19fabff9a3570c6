"""Fresh databases on the session's embedded server, cloned from its migrated template."""

from __future__ import annotations

import sqlalchemy as sa

# The session's migrated database: every test database is a copy of it (CREATE DATABASE
# ... TEMPLATE copies files, far faster than applying the migrations again).
TEMPLATE = "monitoring_template"


def create_database_from_template(admin_url: str, name: str) -> None:
    """Create database ``name`` as a copy of the migrated template."""
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    engine.dispose()


def partitions_of(engine: sa.Engine, parent: str) -> list[str]:
    """The qualified names of the partitions attached to ``parent`` (``schema.table``),
    sorted."""
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = CAST(:parent AS regclass)"
                ),
                {"parent": parent},
            ).scalars()
        )
