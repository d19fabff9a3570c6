"""`monitoring-pipeline calibrate`: suggest every SLO's objective from a healthy period that
is already materialized, as a YAML section a person reviews (nothing is applied).

Reads each SLO's daily readings (``monitoring.slo_evaluations``: the value and interval the
SLO judged, whatever its objective was) through ``storage``; the rule is
:func:`monitoring_pipeline.core.objectives.suggest_objective`. ``backtest --objectives FILE``
tries the suggestions on a replay before anyone copies them into the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig, Objective
from monitoring_pipeline.core.objectives import (
    DEFAULT_QUANTILE,
    MIN_DAYS,
    ObjectiveSuggestion,
    suggest_objective,
)
from monitoring_pipeline.storage.published import slo_evaluations_between

__all__ = [
    "SECTION",
    "CalibratedSLO",
    "apply_objectives",
    "calibrate",
    "suggestions_yaml",
    "table_lines",
]

SECTION = "calibrated_objectives"
JUDGED = ("good", "bad")


@dataclass(frozen=True)
class CalibratedSLO:
    model_name: str
    slo_name: str
    sli_source: str
    current: Objective
    suggestion: ObjectiveSuggestion


def calibrate(
    engine: Engine,
    config: MonitoringConfig,
    start: date,
    end: date,
    *,
    models: Sequence[str] | None = None,
    quantile: float = DEFAULT_QUANTILE,
    min_days: int = MIN_DAYS,
) -> list[CalibratedSLO]:
    """A suggestion for every SLO of ``models`` (default: all) from ``start..end``."""
    out = []
    for model_name in models or list(config.models):
        readings = slo_evaluations_between(engine, model_name, start, end)
        for slo in config.models[model_name].slos:
            mine = readings[(readings.slo_name == slo.name) & readings.status.isin(JUDGED)]
            suggestion = suggest_objective(
                mine.value.to_numpy(dtype=float),
                mine.lower.to_numpy(dtype=float),
                mine.upper.to_numpy(dtype=float),
                slo.objective.op,
                quantile=quantile,
                min_days=min_days,
            )
            out.append(
                CalibratedSLO(model_name, slo.name, slo.sli.source, slo.objective, suggestion)
            )
    return out


def suggestions_yaml(
    rows: Sequence[CalibratedSLO], start: date, end: date, *, quantile: float = DEFAULT_QUANTILE
) -> str:
    """The suggestions as a YAML section: per model and SLO the suggested objective, the
    current one and the figures behind it. Nothing reads it but a person, or ``backtest
    --objectives`` trying it."""
    models: dict[str, dict] = {}
    for row in rows:
        models.setdefault(row.model_name, {})[row.slo_name] = {
            "objective": {"op": row.suggestion.op, "value": row.suggestion.value},
            "current": {"op": row.current.op, "value": row.current.value},
            "sli_source": row.sli_source,
            "basis": row.suggestion.basis,
        }
    header = (
        f"# Objectives suggested by `monitoring-pipeline calibrate` from the healthy period\n"
        f"# {start} .. {end}. Review each (was the period really healthy? is the value a\n"
        "# promise you can keep?), then copy the values into the SLOs of the config; nothing\n"
        "# is applied automatically. `monitoring-pipeline backtest --objectives <this file>`\n"
        "# replays a period with them first. value null: too few judged days to suggest one.\n"
    )
    section = {
        SECTION: {
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "quantile": quantile,
            "models": models,
        }
    }
    return header + yaml.safe_dump(section, sort_keys=False)


def apply_objectives(config: MonitoringConfig, path: Path) -> MonitoringConfig:
    """``config`` with the suggested objectives of the file ``path`` (a ``calibrate``
    output); SLOs it does not name, or names without a value, keep theirs. A model or SLO
    the config does not have raises ValueError naming it."""
    raw = yaml.safe_load(path.read_text()) or {}
    section = raw.get(SECTION) if isinstance(raw, Mapping) else None
    if not isinstance(section, Mapping) or not isinstance(section.get("models"), Mapping):
        raise ValueError(f"{path}: no '{SECTION}.models' section (write it with calibrate)")
    models = dict(config.models)
    for model_name, slos in section["models"].items():
        if model_name not in models:
            raise ValueError(f"{path}: model {model_name!r} is not in the config")
        model = models[model_name]
        known = {slo.name for slo in model.slos}
        unknown = sorted(set(slos) - known)
        if unknown:
            raise ValueError(f"{path}: {model_name} has no SLO {unknown}")
        updated = []
        for slo in model.slos:
            objective = (slos.get(slo.name) or {}).get("objective") or {}
            if objective.get("value") is None:
                updated.append(slo)
                continue
            updated.append(slo.model_copy(update={"objective": Objective(**objective)}))
        models[model_name] = model.model_copy(update={"slos": updated})
    return config.model_copy(update={"models": models})


def table_lines(rows: Sequence[CalibratedSLO]) -> list[str]:
    """The suggestions as a table for the terminal."""
    lines = [f"  {'model':<16}{'SLO':<24}{'current':<12}{'suggested':<12}basis"]
    for row in rows:
        current = f"{row.current.op} {row.current.value:g}"
        value = row.suggestion.value
        suggested = "-" if value is None else f"{row.suggestion.op} {value:g}"
        lines.append(
            f"  {row.model_name:<16}{row.slo_name:<24}{current:<12}{suggested:<12}"
            f"{row.suggestion.basis}"
        )
    return lines
