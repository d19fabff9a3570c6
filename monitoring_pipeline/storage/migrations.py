"""Apply the ordered DDL files of ``sql/`` (shipped in the package) once each, recording what was applied."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(?P<version>\d{3})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every process migrating this database.
ADVISORY_LOCK_KEY = 0x6D6F6E69  # "moni"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_directory() -> Path:
    """The migrations shipped inside the package (in a checkout, ``monitoring_pipeline/sql``
    is a symlink to the top-level ``sql/``)."""
    return Path(str(resources.files("monitoring_pipeline") / "sql"))


def discover_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_directory()
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNN_verb_object.sql")
        migrations.append(Migration(match["version"], path.name, path.read_text()))
    if not migrations:
        # An install without its DDL would otherwise "apply" nothing and leave no tables.
        raise MigrationError(f"{directory}: no migration files found (NNN_verb_object.sql)")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migration files share a version number")
    return migrations


def apply_migrations(engine: Engine, directory: Path | None = None) -> list[str]:
    """Apply every migration not yet recorded in ``monitoring.schema_migrations``.

    Runs in one transaction under an advisory lock, so concurrent callers (a Dagster run and
    the CLI) neither race nor half-apply. Returns the file names applied now.
    """
    migrations = discover_migrations(directory)
    applied_now: list[str] = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS monitoring"))
        conn.execute(
            sa.text(
                """
                CREATE TABLE IF NOT EXISTS monitoring.schema_migrations (
                    version    text PRIMARY KEY,
                    filename   text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
        )
        recorded = {
            row.version: row
            for row in conn.execute(
                sa.text("SELECT version, filename, checksum FROM monitoring.schema_migrations")
            )
        }
        for migration in migrations:
            previous = recorded.get(migration.version)
            if previous is not None:
                if previous.checksum != migration.checksum:
                    logger.warning(
                        "%s changed after it was applied; add a new migration instead of editing it",
                        migration.filename,
                    )
                continue
            logger.info("applying %s", migration.filename)
            # exec_driver_sql: the files contain $$-quoted blocks and several statements.
            conn.exec_driver_sql(migration.sql.replace("%", "%%"))
            conn.execute(
                sa.text(
                    "INSERT INTO monitoring.schema_migrations (version, filename, checksum) "
                    "VALUES (:version, :filename, :checksum)"
                ),
                {
                    "version": migration.version,
                    "filename": migration.filename,
                    "checksum": migration.checksum,
                },
            )
            applied_now.append(migration.filename)
    return applied_now
