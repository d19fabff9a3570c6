"""Helpers every asset shares: running a partition step, the audit stamp, failure handling,
metadata formatting."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import subprocess
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.validation import SchemaError
from monitoring_pipeline.defs.partitions import partition_day
from monitoring_pipeline.defs.tags import COMPLAINTS_AS_OF_TAG, LABELS_AS_OF_TAG
from monitoring_pipeline.pipeline.drift import DriftConfigError
from monitoring_pipeline.storage.database import DatabaseUnavailableError
from monitoring_pipeline.storage.privacy import record_privacy_settings
from monitoring_pipeline.storage.provenance import record_run_provenance
from monitoring_pipeline.storage.sources import SourceUnavailableError
from monitoring_pipeline.storage.writes import Audit

DATABASE_RETRIES = 3
DATABASE_RETRY_SECONDS = 10


def audit(context: dg.AssetExecutionContext) -> Audit:
    """The run id and time every written row carries."""
    return Audit(run_id=context.run_id, produced_at=datetime.now(UTC))


def labels_as_of(context: dg.AssetExecutionContext) -> datetime | None:
    """The run's label cutoff (tag ``monitoring/labels_as_of``, set by a replay), else None.

    A replay passes its cutoff through the run, never through the wall clock, so a re-run
    of the same run sees the same labels."""
    return _tag_time(context, LABELS_AS_OF_TAG)


def complaints_as_of(context: dg.AssetExecutionContext) -> datetime | None:
    """When the run counts complaints as of: tag ``monitoring/complaints_as_of`` (a
    simulation's clock), else the label cutoff (a replay's), else None (the wall clock)."""
    return _tag_time(context, COMPLAINTS_AS_OF_TAG) or labels_as_of(context)


def _tag_time(context: dg.AssetExecutionContext, tag: str) -> datetime | None:
    text = context.run.tags.get(tag)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise dg.Failure(
            description=f"run tag {tag}: not an ISO time: {text!r}",
            allow_retries=False,
        ) from None
    if moment.tzinfo is None:
        raise dg.Failure(
            description=f"run tag {tag}: give a UTC offset: {text!r}",
            allow_retries=False,
        )
    return moment


def fail_clearly(exc: Exception) -> Exception:
    """A database outage is retried (a few times, spaced); a bad source or setting fails at
    once, in one line."""
    if isinstance(exc, DatabaseUnavailableError):
        return dg.RetryRequested(
            max_retries=DATABASE_RETRIES, seconds_to_wait=DATABASE_RETRY_SECONDS
        )
    return dg.Failure(description=str(exc), allow_retries=False)


def float_metadata(value: float | None) -> dg.MetadataValue:
    return dg.MetadataValue.float(float("nan") if value is None else value)


SIGNIFICANT_DIGITS = 4


def rounded(value: float | None) -> float | None:
    """``value`` to 4 significant digits (None for None or NaN), for tables people read."""
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return value if value == 0 or math.isinf(value) else float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def rounded_metadata(value: float | None) -> dg.MetadataValue:
    """A rounded float (NaN when undefined, so Dagster's plot over partitions has a gap)."""
    return float_metadata(rounded(value))


def day_text(value: date | None) -> str:
    """A day for metadata: ISO, or ``none``."""
    return "none" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def metadata_table(
    frame: pd.DataFrame, columns: Mapping[str, str], *, limit: int | None = None
) -> dg.MetadataValue:
    """``frame``'s ``columns`` (name -> description) as a Dagster table with a schema, in
    the frame's row order: numbers rounded to 4 significant digits, dates as ISO text,
    undefined values empty. At most ``limit`` rows."""
    shown = frame.head(limit) if limit is not None else frame
    schema_columns, converters = [], {}
    for name, description in columns.items():
        kind, convert = _column_kind(shown[name])
        schema_columns.append(dg.TableColumn(name, kind, description=description))
        converters[name] = convert
    records = [
        dg.TableRecord(data={name: converters[name](row[name]) for name in columns})
        for row in shown.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=schema_columns))


def _column_kind(series: pd.Series):
    if pd.api.types.is_bool_dtype(series) or (
        series.dtype == object
        and series.dropna().map(lambda v: isinstance(v, bool | np.bool_)).all()
        and series.notna().any()
    ):
        return "bool", lambda v: None if v is None or pd.isna(v) else bool(v)
    if pd.api.types.is_integer_dtype(series):
        return "int", lambda v: None if v is None or pd.isna(v) else int(v)
    if pd.api.types.is_float_dtype(series):
        return "float", rounded
    return "string", _text


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, date | datetime | pd.Timestamp):
        return day_text(value) if not isinstance(value, datetime) else value.isoformat()
    return str(value)


def package_version() -> str:
    try:
        return version("monitoring_pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


@functools.cache
def source_revision() -> str | None:
    """The git commit of the source checkout this package runs from (``+dirty`` when tracked
    files changed), or None for an installed wheel or without git. Looked up once per
    process; only a checkout's own ``.git`` counts (a venv inside some other repository
    must not lend it its commit)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists() or not (root / "monitoring_pipeline").is_dir():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if changed else head


# Keys that change what a model's assets compute are in its config section and in these
# top-level settings it inherits; who owns it, how it is described and what the analysts'
# views suppress (privacy, applied when they are read) do not.
_NOT_COMPUTATIONAL = ("owners", "description", "privacy")


@dataclass(frozen=True)
class ModelProvenance:
    """What produced a model's rows: code (package version, git revision) and the model's
    computational configuration with its sha256 (stored per run in ``run_provenance``).

    ``min_cell_size``: the model's privacy threshold, recorded beside it (``privacy_settings``)
    but outside the hash: the views apply it when they are read, so changing it re-runs
    nothing.
    """

    package_version: str
    git_revision: str | None
    config: dict
    config_hash: str
    min_cell_size: int | None = None

    @property
    def code_version(self) -> str:
        """Dagster's code version of the model's assets: ``<package version>+<hash[:10]>``."""
        return f"{self.package_version}+{self.config_hash[:10]}"


def model_provenance(config: MonitoringConfig, model_name: str) -> ModelProvenance:
    """The model's config section (owners and description aside) and the shared settings it
    inherits, hashed over canonical JSON, so a changed config is a new code version."""
    model = config.models[model_name]
    section = {
        "model": model.model_dump(mode="json", exclude=set(_NOT_COMPUTATIONAL)),
        "min_cohort_size": config.min_cohort_size(model_name),
        "quality": config.quality(model_name).model_dump(mode="json"),
        "health": config.health_config(model_name).model_dump(mode="json"),
        "ingest_chunk_rows": config.ingest_chunk_rows(model_name),
        "partitions_start": str(config.partitions_start),
    }
    canonical = json.loads(json.dumps(section, sort_keys=True))
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
    return ModelProvenance(
        package_version(), source_revision(), canonical, digest, config.min_cell_size(model_name)
    )


def model_code_version(config: MonitoringConfig, model_name: str) -> str:
    """``<package version>+<hash>`` of :func:`model_provenance`."""
    return model_provenance(config, model_name).code_version


def model_asset_properties(config: MonitoringConfig, model_name: str) -> dict:
    """``owners`` (from the config) and ``code_version`` for every asset of the model."""
    return {
        "owners": list(config.models[model_name].owners),
        "code_version": model_code_version(config, model_name),
    }


def chain_pool(model_name: str) -> str:
    """The Dagster concurrency pool of every step of ``model_name``'s chain.

    A day's figures read the days before it (SLO windows, error budgets, drift baselines,
    health): two runs of one model's days at once would let a day read an earlier day
    that is still being written, and the tables would depend on which run finished first.
    ``dagster.yaml`` gives each pool one run at a time (``granularity: run``), so runs that
    touch a model's chain start one after another in the order they were queued (a UI
    backfill, the late-label sensor's re-runs, the schedule), whatever launched them;
    runs of other models' chains, and alert and retraining runs, still run beside them.

    >>> chain_pool("loan_approval")
    'monitoring_chain/loan_approval'
    """
    return f"monitoring_chain/{model_name}"


def model_step_properties(config: MonitoringConfig, model_name: str) -> dict:
    """:func:`model_asset_properties` plus the chain's pool (:func:`chain_pool`): for every
    materializable asset of the model."""
    return {**model_asset_properties(config, model_name), "pool": chain_pool(model_name)}


def partitioned_check_spec(
    name: str,
    asset: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    *,
    description: str,
    blocking: bool = False,
) -> dg.AssetCheckSpec:
    """A check spec whose evaluations record the partition they judge (without
    ``partitions_def`` the evaluation of a partitioned asset's check is unpartitioned).
    Dagster 1.13 flags it as preview; the asset tests assert the recorded partition."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name,
            asset=asset,
            blocking=blocking,
            description=description,
            partitions_def=partitions_def,
        )


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# Failures with a one-line cause: a bad source, schema or setting, or a database outage.
EXPECTED_ERRORS = (DatabaseUnavailableError, SchemaError, SourceUnavailableError, DriftConfigError)


def run_step(
    context: dg.AssetExecutionContext,
    monitoring_db,
    provenance: ModelProvenance,
    step,
    *args,
):
    """Run ``step(engine, *args, day, audit)`` for the context's partition day, after
    recording the run's ``provenance`` for the asset's model (once per run and model) and
    its privacy threshold (``privacy_settings``, written when it changed).

    Returns ``(day, result)``. Expected errors become a one-line Failure (database
    outages: a spaced retry) instead of a traceback.
    """
    day = partition_day(context)
    try:
        engine = monitoring_db.engine()
        record_run_provenance(
            engine,
            run_id=context.run_id,
            model_name=context.asset_key.path[0],
            package_version=provenance.package_version,
            git_revision=provenance.git_revision,
            config_hash=provenance.config_hash,
            config=provenance.config,
        )
        if provenance.min_cell_size is not None:
            record_privacy_settings(
                engine,
                model_name=context.asset_key.path[0],
                min_cell_size=provenance.min_cell_size,
                run_id=context.run_id,
            )
        return day, step(engine, *args, day, audit(context))
    except EXPECTED_ERRORS as exc:
        raise fail_clearly(exc) from None
