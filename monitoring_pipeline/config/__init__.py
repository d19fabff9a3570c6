"""The monitored-models file: parsed and validated into frozen models at load time."""

from monitoring_pipeline.config.loader import ConfigError, load_config, parse_config
from monitoring_pipeline.config.models import (
    Baseline,
    CohortConfig,
    ColumnMapping,
    FeatureConfig,
    FileSource,
    ModelConfig,
    MonitoringConfig,
    PostgresTableSource,
    QualityConfig,
    SLOConfig,
)

__all__ = [
    "Baseline",
    "CohortConfig",
    "ColumnMapping",
    "ConfigError",
    "FeatureConfig",
    "FileSource",
    "ModelConfig",
    "MonitoringConfig",
    "PostgresTableSource",
    "QualityConfig",
    "SLOConfig",
    "load_config",
    "parse_config",
]
