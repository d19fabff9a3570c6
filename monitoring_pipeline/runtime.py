"""Process environment for Dagster: its instance (dagster.yaml) and the code it loads.

The CLI starts (or reaches) the database once and hands the resolved URLs to every Dagster
process through environment variables, so the webserver, the daemon and each run agree on
one server and none of them starts another.
"""

from __future__ import annotations

from pathlib import Path

from monitoring_pipeline.settings import (
    CONFIG_VAR,
    DAGSTER_DATABASE_URL_VAR,
    DATABASE_URL_VAR,
    HOME_VAR,
    Settings,
)
from monitoring_pipeline.storage.database import ServerUrls

# The folder holding dagster.yaml and workspace.yaml, inside the package so that an installed
# wheel has them too (in a checkout its files are symlinks to the top-level ones).
DAGSTER_HOME = Path(__file__).resolve().parent / "dagster_home"


def dagster_environment(settings: Settings, urls: ServerUrls) -> dict[str, str]:
    """Variables dagster.yaml and the code location read."""
    artifacts = settings.dagster_artifacts_dir
    return {
        "DAGSTER_HOME": str(DAGSTER_HOME),
        DAGSTER_DATABASE_URL_VAR: urls.dagster,
        "MONITORING_DAGSTER_ARTIFACTS_DIR": str(artifacts),
        "MONITORING_DAGSTER_COMPUTE_LOGS_DIR": str(artifacts / "compute_logs"),
        DATABASE_URL_VAR: urls.monitoring,
        HOME_VAR: str(settings.home),
        CONFIG_VAR: str(settings.config_path),
    }
