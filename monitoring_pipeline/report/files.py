"""Write a model's report for a day: load (storage) -> render (pure) -> file.

The one entry point the CLI command and the Dagster asset share, so both write the same
file at the same place: ``<reports dir>/<model>/<day>.html``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.report.render import KeyFigures, render_report
from monitoring_pipeline.settings import load_settings
from monitoring_pipeline.storage.report_queries import (
    RATE_METRICS,
    load_report_frames,
    newest_materialized_day,
)

DEFAULT_DAYS = 30


class ReportError(ValueError):
    """A report that cannot be written as asked (unknown model, bad window, no data)."""


class NothingToReportError(ReportError):
    """The model has no materialized day to report on."""


@dataclass(frozen=True)
class WrittenReport:
    model_name: str
    path: Path
    url: str
    figures: KeyFigures
    plots: dict[str, list[str]]


def reports_dir(config: MonitoringConfig) -> Path:
    """``links.reports_dir`` of the config, else ``$MONITORING_HOME/reports`` (read now,
    never at import)."""
    if config.links.reports_dir:
        return Path(config.links.reports_dir).expanduser().resolve()
    return load_settings().home / "reports"


def report_path(config: MonitoringConfig, model_name: str, day: date) -> Path:
    return reports_dir(config) / model_name / f"{day.isoformat()}.html"


def report_url(config: MonitoringConfig, model_name: str, day: date) -> str:
    """Where people open the report: under ``links.reports_base_url`` when the files are
    served, else the file itself (``file://``)."""
    if config.links.reports_base_url:
        return f"{config.links.reports_base_url}/{model_name}/{day.isoformat()}.html"
    return report_path(config, model_name, day).as_uri()


def write_report(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    *,
    day: date | None = None,
    days: int = DEFAULT_DAYS,
    out: Path | None = None,
    now: datetime | None = None,
) -> WrittenReport:
    """Write the report of ``model_name`` over the ``days`` days ending ``day`` (default:
    the newest materialized day) to ``out`` (default: ``report_path``).

    The file is written to a temporary name and renamed, so a reader never sees half a
    report. Raises ReportError for an unknown model or ``days`` < 1, and its subclass
    NothingToReportError when the model has no materialized day.
    """
    if model_name not in config.models:
        raise ReportError(
            f"unknown model {model_name!r} (the config has {', '.join(config.models)})"
        )
    if days < 1:
        raise ReportError(f"a report covers at least 1 day, got {days}")
    model = config.models[model_name]
    if day is None:
        day = newest_materialized_day(engine, model_name)
        if day is None:
            raise NothingToReportError(f"{model_name}: no materialized day to report on yet")
    start = day - timedelta(days=days - 1)
    slo_metrics = {slo.sli.metric for slo in model.slos if slo.sli.source == "cohort_metrics"}
    change_metrics = {slo.sli.metric for slo in model.slos if slo.sli.source == "cohort_changes"}
    frames = load_report_frames(
        engine,
        model_name,
        start,
        day,
        metrics=sorted({*RATE_METRICS, *slo_metrics}),
        change_metrics=sorted(change_metrics),
    )
    rendered = render_report(
        frames,
        model_name=model_name,
        model=model,
        min_size=config.min_cohort_size(model_name),
        day=day,
        start=start,
        links=config.links,
        generated_at=now or datetime.now(UTC),
    )
    path = (out or report_path(config, model_name, day)).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(rendered.html)
    os.replace(handle.name, path)
    url = path.as_uri() if out is not None else report_url(config, model_name, day)
    return WrittenReport(model_name, path, url, rendered.figures, rendered.plots)


def write_reports(
    engine: Engine,
    config: MonitoringConfig,
    *,
    model_name: str | None = None,
    day: date | None = None,
    days: int = DEFAULT_DAYS,
    out: Path | None = None,
) -> list[WrittenReport]:
    """``write_report`` for ``model_name``, or for every model of the config (each at its
    own place; ``out`` then needs a single model)."""
    names = [model_name] if model_name else list(config.models)
    if out is not None and len(names) > 1:
        raise ReportError("--out names one file: choose the model with --model")
    return [write_report(engine, config, name, day=day, days=days, out=out) for name in names]
