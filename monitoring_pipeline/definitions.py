"""The code location Dagster loads (workspace.yaml). Reads the monitored-models file named by
MONITORING_CONFIG (default ``$MONITORING_HOME/monitored_models.yaml``) when Dagster loads it."""

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.settings import load_settings

defs = build_definitions(load_config(load_settings().config_path))
