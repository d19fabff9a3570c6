"""The reference retrainer the demo's command action runs (`monitoring-pipeline demo-retrain`).

For a retraining request it reads the model's labelled rows of the request's training
window from ``monitoring.labeled_predictions``, fits a new version (weighted logistic
regression on the numeric and categorical features, :mod:`monitoring_pipeline.core.logistic`),
compares it with the incumbent's logged scores on held-out rows, stores it in
``monitoring.model_versions`` and reports back: the request becomes ``completed`` with
the new version's name.

Fairness-aware choices, both tied to the attribute the paging SLO is about (e.g.
``region`` for ``tpr_gap_region``):

* reweighting: every group of that attribute gets the same total weight, so a small,
  under-served group counts as much as the majority when the coefficients are chosen;
* group intercepts (default on, ``--no-group-intercepts`` to turn off): each group may
  have its own intercept, i.e. the score is recalibrated per group. That uses the
  attribute as a model input, which some domains forbid: turn it off there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import (
    ANY,
    CohortChangeSLI,
    CohortMetricSLI,
    DriftSLI,
    FairnessSLI,
    MonitoringConfig,
)
from monitoring_pipeline.core.logistic import (
    LogisticModel,
    balanced_weights,
    fit_logistic_model,
    log_loss,
)
from monitoring_pipeline.storage import retraining as store
from monitoring_pipeline.storage.reads import read_labelled_rows

ALGORITHM = "logistic_regression"
HOLDOUT_SHARE = 0.2
MIN_TRAINING_ROWS = 200
L2_PENALTY = 1e-3


class RetrainerError(ValueError):
    """The request cannot be served (no data, one class only, ...); one line."""


@dataclass(frozen=True)
class FittedVersion:
    model_name: str
    model_version: str
    incumbent_version: str
    model: LogisticModel
    threshold: float
    training_rows: int
    holdout_rows: int
    holdout_log_loss: float
    incumbent_holdout_log_loss: float
    reweighted_by: str | None


def slo_attribute(config: MonitoringConfig, model_name: str, slo_name: str) -> str | None:
    """The cohort attribute an SLO is about (None for an SLO on everyone)."""
    for slo in config.models[model_name].slos:
        if slo.name != slo_name:
            continue
        sli = slo.sli
        if isinstance(sli, FairnessSLI):
            attribute = sli.attribute
        elif isinstance(sli, CohortMetricSLI | CohortChangeSLI | DriftSLI) and sli.cohort != "all":
            attribute = sli.cohort.partition("=")[0]
        else:
            return None
        if attribute == ANY:  # every attribute: no one attribute to reweight by
            return None
        # Intersections ("sex&age_band") are reweighted by their first attribute only.
        return attribute.split("&")[0]
    return None


def new_version_name(incumbent: str, request_id: int) -> str:
    """``<incumbent>-rt<request id>``: the lineage stays readable in every table."""
    return f"{incumbent}-rt{request_id}"


def retrain(
    engine: Engine,
    config: MonitoringConfig,
    request_id: int,
    *,
    group_intercepts: bool = True,
    threshold: float = 0.5,
    run_id: str | None = None,
) -> FittedVersion:
    """Fit, store and report a new version for retraining request ``request_id``."""
    request = store.get_request(engine, request_id)
    if request.model_name not in config.models:
        raise RetrainerError(f"request {request_id} names unknown model {request.model_name!r}")
    model_config = config.models[request.model_name]
    attribute = slo_attribute(config, request.model_name, request.slo_name)
    cohorts = list(model_config.cohorts.attributes)
    numeric, categorical = model_config.features.numeric, model_config.features.categorical
    rows = read_labelled_rows(
        engine,
        request.model_name,
        request.training_start,
        request.training_end,
        numeric_features=numeric,
        categorical_features=categorical,
        cohort_attributes=cohorts,
    )
    if len(rows) < MIN_TRAINING_ROWS:
        raise RetrainerError(
            f"request {request_id}: only {len(rows)} labelled rows in "
            f"{request.training_start}..{request.training_end} (need {MIN_TRAINING_ROWS})"
        )
    positive = model_config.positive_label
    label = (rows["label"].to_numpy() == positive).astype(float)
    # A seeded split: refitting for the same request gives the same version.
    holdout = np.random.default_rng(request_id).random(len(rows)) < HOLDOUT_SHARE
    train = ~holdout
    weights = balanced_weights(rows.loc[train, attribute]) if attribute else None
    inputs = [*categorical, attribute] if (attribute and group_intercepts) else list(categorical)
    try:
        model = fit_logistic_model(
            rows[train].reset_index(drop=True),
            label[train],
            numeric_features=numeric,
            categorical_features=inputs,
            weights=weights,
            l2=L2_PENALTY,
        )
    except ValueError as exc:
        raise RetrainerError(f"request {request_id}: {exc}") from None
    held = rows[holdout].reset_index(drop=True)
    new_loss = log_loss(label[holdout], model.predict_proba(held))
    old_loss = log_loss(label[holdout], held["score"].to_numpy(dtype=float))
    incumbent = str(rows["model_version"].mode().iloc[0])
    version = new_version_name(incumbent, request_id)
    now = datetime.now(UTC)
    fitted = FittedVersion(
        model_name=request.model_name,
        model_version=version,
        incumbent_version=incumbent,
        model=model,
        threshold=threshold,
        training_rows=int(train.sum()),
        holdout_rows=int(holdout.sum()),
        holdout_log_loss=new_loss,
        incumbent_holdout_log_loss=old_loss,
        reweighted_by=attribute,
    )
    store.save_model_version(
        engine,
        {
            "model_name": request.model_name,
            "model_version": version,
            "request_id": request_id,
            "incumbent_version": incumbent,
            "algorithm": ALGORITHM,
            "parameters": model.to_json() | {"threshold": threshold},
            "training_start": request.training_start,
            "training_end": request.training_end,
            "training_rows": fitted.training_rows,
            "training_positives": int(label[train].sum()),
            "reweighted_by": attribute,
            "holdout_rows": fitted.holdout_rows,
            "holdout_log_loss": new_loss,
            "incumbent_holdout_log_loss": old_loss,
            "fitted_at": now,
            "run_id": run_id or f"retrain-request-{request_id}",
            "produced_at": now,
        },
    )
    store.complete_request(
        engine,
        request_id,
        model_version=version,
        message=(
            f"{ALGORITHM} on {fitted.training_rows} labelled rows of "
            f"{request.training_start}..{request.training_end}"
            + (f", groups of {attribute} weighted equally" if attribute else "")
            + f"; holdout log loss {new_loss:.4f} vs incumbent {incumbent} {old_loss:.4f}"
        ),
        now=now,
    )
    return fitted


def load_scorer(
    engine: Engine, model_name: str, model_version: str
) -> tuple[Callable[[pd.DataFrame], np.ndarray], float]:
    """``(scorer, threshold)`` of a stored version: the scorer maps a frame of logged
    features (and cohort columns) to probabilities."""
    row = store.load_model_version(engine, model_name, model_version)
    parameters = row["parameters"]
    model = LogisticModel.from_json(parameters)
    return model.predict_proba, float(parameters.get("threshold", 0.5))
