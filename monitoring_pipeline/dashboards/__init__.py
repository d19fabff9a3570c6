"""Dashboard definitions shipped with the package: Grafana's JSON model and provisioning files.

They read schema ``monitoring`` only (the analyst views and tables), as ``monitoring_reader``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["GRAFANA_DASHBOARD", "GRAFANA_DIR", "GRAFANA_PROVISIONING_DIR"]

GRAFANA_DIR = Path(str(resources.files(__package__) / "grafana"))
GRAFANA_DASHBOARD = GRAFANA_DIR / "monitoring.json"
GRAFANA_PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
