"""Writes of ``run_provenance`` (``sql/023``): which code and configuration a run used for
a model. Bound parameters only."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["record_run_provenance"]

_INSERT = sa.text(
    "INSERT INTO monitoring.run_provenance "
    "(run_id, model_name, package_version, git_revision, config_hash, config) "
    "VALUES (:run_id, :model_name, :package_version, :git_revision, :config_hash, "
    "CAST(:config AS jsonb)) ON CONFLICT (run_id, model_name) DO NOTHING"
)


def record_run_provenance(
    engine: Engine,
    *,
    run_id: str,
    model_name: str,
    package_version: str,
    git_revision: str | None,
    config_hash: str,
    config: dict[str, Any],
) -> None:
    """Record the run's provenance for the model; a second call for the same run and model
    (every step of the run calls it) changes nothing."""
    with engine.begin() as conn:
        conn.execute(
            _INSERT,
            {
                "run_id": run_id,
                "model_name": model_name,
                "package_version": package_version,
                "git_revision": git_revision,
                "config_hash": config_hash,
                "config": json.dumps(config, sort_keys=True),
            },
        )
