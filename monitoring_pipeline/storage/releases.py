"""Release recommendations (``sql/028``): what a worse canary's alert recommends (hold the
candidate's rollout or roll it back), recorded once per alert like a retraining request."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

__all__ = ["record_recommendation", "recommendations"]


def record_recommendation(
    engine: Engine,
    *,
    alert_dedupe_key: str,
    model_name: str,
    slo_name: str,
    as_of: date,
    recommendation: dict[str, Any],
    run_id: str,
) -> bool:
    """Record the recommendation of a firing alert; a second call for the same alert (a
    re-executed alert_job) changes nothing. Returns whether a row was added."""
    with engine.begin() as conn:
        added = conn.execute(
            sa.text(
                "INSERT INTO monitoring.release_recommendations (alert_dedupe_key, model_name, "
                "slo_name, as_of, action, candidate_version, incumbent_version, "
                "candidate_share, evidence, run_id) VALUES (:key, :model, :slo, :as_of, "
                ":action, :candidate, :incumbent, :share, CAST(:evidence AS jsonb), :run_id) "
                "ON CONFLICT (alert_dedupe_key) DO NOTHING"
            ),
            {
                "key": alert_dedupe_key,
                "model": model_name,
                "slo": slo_name,
                "as_of": as_of,
                "action": recommendation["action"],
                "candidate": recommendation["candidate_version"],
                "incumbent": recommendation["incumbent_version"],
                "share": recommendation.get("candidate_share"),
                "evidence": json.dumps(recommendation),
                "run_id": run_id,
            },
        ).rowcount
    return bool(added)


def recommendations(engine: Engine, model_name: str) -> pd.DataFrame:
    """The model's recommendations, newest first."""
    return read_frame(
        engine,
        "SELECT * FROM monitoring.release_recommendations WHERE model_name = :model "
        "ORDER BY recorded_at DESC",
        {"model": model_name},
    )
