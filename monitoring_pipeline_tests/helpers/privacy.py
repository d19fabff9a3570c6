"""What must never leave the raw-row tables: prediction ids and raw values of persons."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from monitoring_pipeline.storage.privacy import RAW_ROW_TABLES


def person_ids(engine: sa.Engine) -> set[str]:
    """Every prediction id stored in the raw-row tables (read as the owner)."""
    with engine.connect() as conn:
        return {
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT prediction_id FROM monitoring.labeled_prediction_rows "
                    "UNION SELECT prediction_id FROM monitoring.quarantined_rows "
                    "WHERE prediction_id IS NOT NULL"
                )
            )
        }


def published_tables(engine: sa.Engine) -> list[str]:
    """Every table of schema monitoring but the raw-row ones: the metric tables."""
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'monitoring'")
        ).scalars()
        return sorted(set(names) - set(RAW_ROW_TABLES))


def rows_holding(engine: sa.Engine, needles: Iterable[str]) -> dict[str, list[str]]:
    """Per published table, the rows (as text: every column, JSON and arrays included)
    that contain one of ``needles``; empty when none does."""
    needles = sorted(set(needles), key=len, reverse=True)
    if not needles:
        return {}
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in published_tables(engine):
            quoted = conn.dialect.identifier_preparer.quote(table)
            texts = conn.execute(sa.text(f"SELECT t::text FROM monitoring.{quoted} t")).scalars()
            hits = [text for text in texts if pattern.search(text)]
            if hits:
                found[table] = hits[:3]
    return found
