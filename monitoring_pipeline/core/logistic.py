"""A small weighted logistic regression for the reference retrainer: numpy + scipy only.

Inputs are a frame of logged feature values (numeric, possibly null) and categorical
values (strings). Numeric features get a transform chosen from the training data
(``logit`` for values within [0, 1], ``log1p`` for non-negative right-skewed values, else
``identity``), nulls are imputed with the training median, then the column is
standardised. Categorical features (and optional group columns) are one-hot encoded
against their most frequent training level (missing or unseen values score as that
level). The fit minimises the weighted mean log loss plus ``l2 / 2 * |beta|^2`` (the
intercept is not penalised) with L-BFGS-B and the exact gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit

__all__ = [
    "LogisticModel",
    "NumericTransform",
    "balanced_weights",
    "fit_logistic",
    "fit_logistic_model",
    "log_loss",
]

Transform = Literal["identity", "log1p", "logit"]
LOGIT_CLIP = 1e-3
SKEW_FOR_LOG = 1.0


@dataclass(frozen=True)
class NumericTransform:
    """How one numeric feature enters the model."""

    feature: str
    transform: Transform
    median: float  # imputation value, on the raw scale
    centre: float  # of the transformed values
    scale: float

    def apply(self, values: pd.Series | NDArray) -> NDArray[np.float64]:
        raw = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        raw = np.where(np.isnan(raw), self.median, raw)
        return (_transform(raw, self.transform) - self.centre) / self.scale


def _transform(raw: NDArray, kind: Transform) -> NDArray[np.float64]:
    if kind == "logit":
        clipped = np.clip(raw, LOGIT_CLIP, 1 - LOGIT_CLIP)
        return np.log(clipped / (1 - clipped))
    if kind == "log1p":
        return np.log1p(np.maximum(raw, 0.0))
    return raw.astype(float)


def choose_transform(values: NDArray) -> Transform:
    """``logit`` for values within [0, 1] that are not just 0/1, ``log1p`` for
    non-negative values skewed right (sample skewness > 1), else ``identity``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "identity"
    if finite.min() >= 0 and finite.max() <= 1 and np.unique(finite).size > 2:
        return "logit"
    if finite.min() >= 0 and finite.std() > 0:
        skew = np.mean(((finite - finite.mean()) / finite.std()) ** 3)
        if skew > SKEW_FOR_LOG:
            return "log1p"
    return "identity"


@dataclass(frozen=True)
class LogisticModel:
    """A fitted model: everything needed to score again (JSON-serialisable)."""

    numeric: tuple[NumericTransform, ...]
    categorical: Mapping[str, tuple[str, ...]]  # feature -> levels; the first is the reference
    intercept: float
    coefficients: tuple[float, ...]  # in column order of :meth:`column_names`

    def column_names(self) -> list[str]:
        names = [t.feature for t in self.numeric]
        for feature, levels in self.categorical.items():
            names += [f"{feature}={level}" for level in levels[1:]]
        return names

    def design(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Model matrix of ``frame`` (without the intercept column)."""
        return _design(frame, self.numeric, self.categorical)

    def predict_proba(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Probability of the positive class for each row of ``frame``."""
        return expit(self.intercept + self.design(frame) @ np.asarray(self.coefficients))

    def to_json(self) -> dict[str, Any]:
        return {
            "numeric": [asdict(t) for t in self.numeric],
            "categorical": {k: list(v) for k, v in self.categorical.items()},
            "intercept": self.intercept,
            "coefficients": dict(zip(self.column_names(), self.coefficients, strict=True)),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogisticModel:
        model = cls(
            numeric=tuple(NumericTransform(**t) for t in data["numeric"]),
            categorical={k: tuple(v) for k, v in data["categorical"].items()},
            intercept=float(data["intercept"]),
            coefficients=(),
        )
        by_name = data["coefficients"]
        return cls(
            numeric=model.numeric,
            categorical=model.categorical,
            intercept=model.intercept,
            coefficients=tuple(float(by_name[name]) for name in model.column_names()),
        )


def _design(
    frame: pd.DataFrame,
    numeric: Sequence[NumericTransform],
    categorical: Mapping[str, Sequence[str]],
) -> NDArray[np.float64]:
    columns = [t.apply(frame[t.feature]) for t in numeric]
    for feature, levels in categorical.items():
        values = frame[feature].astype("object").to_numpy()
        columns += [(values == level).astype(float) for level in levels[1:]]
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack(columns)


def log_loss(y: NDArray, p: NDArray, weights: NDArray | None = None) -> float:
    """Mean (weighted) negative log likelihood of labels ``y`` under probabilities ``p``."""
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=float)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.average(losses, weights=weights))


def fit_logistic(
    x: NDArray, y: NDArray, *, weights: NDArray | None = None, l2: float = 0.0
) -> tuple[float, NDArray[np.float64]]:
    """Weighted logistic regression by L-BFGS-B; returns ``(intercept, coefficients)``.

    Minimises ``sum(w * logloss) / sum(w) + l2 / 2 * |beta|^2``; with ``l2 = 0`` and unit
    weights it is the maximum likelihood fit (statsmodels' ``Logit``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    if len(y) == 0 or w.sum() <= 0:
        raise ValueError("no training rows (or all weights zero)")
    if np.unique(y).size < 2:
        raise ValueError("training labels are all one class: nothing to separate")
    w = w / w.sum()
    design = np.column_stack([np.ones(len(y)), x])

    def objective(beta: NDArray) -> tuple[float, NDArray]:
        eta = design @ beta
        # log(1 + exp(eta)) - y * eta, stable for large |eta|
        loss = np.sum(w * (np.logaddexp(0.0, eta) - y * eta)) + 0.5 * l2 * beta[1:] @ beta[1:]
        gradient = design.T @ (w * (expit(eta) - y))
        gradient[1:] += l2 * beta[1:]
        return float(loss), gradient

    start = np.zeros(design.shape[1])
    start[0] = np.log(np.average(y, weights=w) / (1 - np.average(y, weights=w)))
    result = minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-10}
    )
    return float(result.x[0]), result.x[1:]


def balanced_weights(groups: pd.Series) -> NDArray[np.float64]:
    """Weights giving every group the same total weight (mean weight 1), so a small
    group counts as much as a large one in the fit. Missing values form their own group."""
    codes, uniques = pd.factorize(groups.astype("object"), use_na_sentinel=False)
    counts = np.bincount(codes)
    weights = len(groups) / (len(uniques) * counts[codes])
    return weights.astype(float)


def fit_logistic_model(
    frame: pd.DataFrame,
    label: NDArray,
    *,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    weights: NDArray | None = None,
    l2: float = 1e-3,
) -> LogisticModel:
    """Choose transforms and levels on ``frame``, then fit (see the module docstring)."""
    transforms = []
    for feature in numeric_features:
        raw = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=float)
        kind = choose_transform(raw)
        median = float(np.nanmedian(raw)) if np.isfinite(raw).any() else 0.0
        values = _transform(np.where(np.isnan(raw), median, raw), kind)
        scale = float(values.std()) or 1.0
        transforms.append(NumericTransform(feature, kind, median, float(values.mean()), scale))
    categorical = {}
    for feature in categorical_features:
        counts = frame[feature].dropna().astype(str).value_counts()
        # Most frequent first (the reference level), ties by name for determinism.
        levels = sorted(counts.index, key=lambda level: (-counts[level], level))
        categorical[feature] = tuple(levels)
    design = _design(frame, transforms, categorical)
    intercept, coefficients = fit_logistic(design, label, weights=weights, l2=l2)
    return LogisticModel(tuple(transforms), categorical, intercept, tuple(map(float, coefficients)))
