"""Seeded, realistic demo traffic: prediction logs and late-arriving labels for two models.

How a row is simulated (per model, per scoring day):

1. Cohort attributes are drawn with realistic, unequal shares.
2. Each numeric feature has a latent value ``z`` (roughly standard normal, with cohort-dependent
   means where that is realistic, e.g. older applicants have longer credit histories); the logged
   feature value is a monotone transform of ``z`` (log-normal incomes, logit-shaped ratios,
   rounded counts). Categorical features are drawn, some conditional on age band.
3. The *true* probability of the positive class is ``p = sigmoid(intercept + sum(coef * z) +
   category effects)``; the eventual label is ``Bernoulli(p)``. Cohort attributes act only
   through the features, so the healthy model is calibrated within every group.
4. The deployed model uses the same coefficients on the features *it sees* plus a little noise
   on the logit scale, so healthy scores are calibrated (``score ~= p``); ``decision = score >=
   threshold``.
5. Labels arrive late (log-normal lag, median 4.5 days, tail to 45 days), ~8% never arrive, ~3%
   are first recorded wrongly and corrected by a second row later; only labels with
   ``labelled_at <= now`` are emitted.

Incidents (``monitoring_pipeline.demo.incidents``) are applied between these steps on their days
only: genuine population shifts before the labels are drawn (labels follow them), data problems
only to what the model sees or logs (labels do not follow them).

Determinism: every day uses its own random streams derived from ``(seed, model, day, purpose)``
(incidents get a stream keyed by their own ``repr``), so a day's rows do not change when the range
grows or when an incident is added on another day or for another group, and nothing depends on the
wall clock. Everything is vectorised numpy; strings are only built once at the end.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_pipeline.demo.incidents import (
    INCIDENT_TYPES,
    MODEL_NAMES,
    DistributionShift,
    FeatureNulls,
    Incident,
    LabelOutage,
    LatencySpike,
    MalformedRows,
    MinorityDegradation,
    ModelName,
    ProxyFeature,
    ThresholdChange,
)

# --------------------------------------------------------------------------------------------
# Public schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSchema:
    """What the monitoring configuration needs to know about one simulated model."""

    name: ModelName
    label_meaning: str
    """What ``label == 1`` means (the positive class)."""
    decision_meaning: str
    """What ``decision == 1`` means."""
    threshold: float
    """Default decision threshold: ``decision = int(score >= threshold)``."""
    cohorts: Mapping[str, tuple[str, ...]]
    """Cohort (protected / slicing) attribute -> allowed values, in a fixed order."""
    numeric_features: tuple[str, ...]
    categorical_features: Mapping[str, tuple[str, ...]]
    """Categorical feature -> allowed values."""
    default_daily_volume: int
    """Average predictions per day (weekdays above, weekends below)."""
    default_model_version: str

    @property
    def cohort_attributes(self) -> tuple[str, ...]:
        return tuple(self.cohorts)

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns: numeric first, then categorical."""
        return (*self.numeric_features, *self.categorical_features)

    @property
    def attributions(self) -> dict[str, str]:
        """Numeric feature -> the column logging its exact attribution (see
        :func:`generate_traffic`)."""
        return {f: f"{ATTRIBUTION_PREFIX}{f}" for f in self.numeric_features}

    @property
    def prediction_columns(self) -> tuple[str, ...]:
        """Column order of :attr:`DemoTraffic.predictions` for this model."""
        return (
            *PREDICTION_BASE_COLUMNS,
            *self.cohort_attributes,
            *self.features,
            *self.attributions.values(),
            LATENCY_COLUMN,
        )


PREDICTION_BASE_COLUMNS: tuple[str, ...] = (
    "prediction_id",
    "scored_at",
    "model_version",
    "score",
    "decision",
)
LABEL_COLUMNS: tuple[str, ...] = ("prediction_id", "label", "labelled_at")
COMPLAINT_COLUMNS: tuple[str, ...] = ("prediction_id", "complained_at")
ATTRIBUTION_PREFIX = "attribution_"
# Serving latency of each prediction (ms): log-normal around the model's median, a slower
# tail for 2% of requests (cache misses).
LATENCY_COLUMN = "latency_ms"
_LATENCY_MEDIAN_MS = {"loan_approval": 45.0, "job_screening": 120.0}
_LATENCY_SIGMA = 0.35
_LATENCY_SLOW_SHARE, _LATENCY_SLOW_FACTOR = 0.02, 4.0


def _frozen(mapping: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    # Read-only so a schema cannot be mutated by a caller behind the monitors' back.
    return MappingProxyType(dict(mapping))


LOAN_APPROVAL = ModelSchema(
    name="loan_approval",
    label_meaning="applicant repays",
    decision_meaning="approve",
    threshold=0.5,
    cohorts=_frozen(
        {
            "sex": ("female", "male"),
            "age_band": ("18-25", "26-40", "41-60", "61+"),
            "region": ("north", "south", "east", "west"),
        }
    ),
    numeric_features=(
        "income",
        "debt_to_income",
        "credit_history_months",
        "loan_amount",
        "num_open_accounts",
        "utilization",
        "postal_risk_index",
    ),
    categorical_features=_frozen(
        {
            "employment_type": ("salaried", "self_employed", "contractor", "unemployed"),
            "loan_purpose": ("home", "car", "education", "business", "other"),
        }
    ),
    default_daily_volume=1500,
    default_model_version="v1.4.0",
)

JOB_SCREENING = ModelSchema(
    name="job_screening",
    label_meaning="candidate succeeds",
    decision_meaning="shortlist",
    threshold=0.6,
    cohorts=_frozen(
        {
            "gender": ("woman", "man", "nonbinary"),
            "age_band": ("18-29", "30-44", "45+"),
            "disability": ("yes", "no"),
        }
    ),
    numeric_features=("years_experience", "skills_match", "assessment_score", "education_years"),
    categorical_features=_frozen(
        {"source_channel": ("referral", "job_board", "agency", "direct")},
    ),
    default_daily_volume=600,
    default_model_version="v2.1.0",
)

MODEL_SCHEMAS: Mapping[str, ModelSchema] = MappingProxyType(
    {LOAN_APPROVAL.name: LOAN_APPROVAL, JOB_SCREENING.name: JOB_SCREENING}
)
"""Model name -> schema; the monitoring config is written from these."""

# The minority region used by the default loan scenario (10% of traffic, see _LOAN_SPEC).
LOAN_MINORITY_REGION = "west"


@dataclass(frozen=True, eq=False)  # DataFrames have no boolean ==; compare frames explicitly
class DemoTraffic:
    """Simulated traffic for one model.

    ``predictions``: one row per logged prediction, columns ``ModelSchema.prediction_columns``
    (``prediction_id`` str, ``scored_at`` datetime64[us, UTC], ``model_version`` str, ``score``
    float64, ``decision`` int64, cohort attributes str, numeric features float64, categorical
    features str), ordered by ``scored_at`` (rows with a null ``scored_at`` last within their day).

    ``labels``: one row per label event, columns ``LABEL_COLUMNS`` (``prediction_id`` str,
    ``label`` int64, ``labelled_at`` datetime64[us, UTC]), ordered by ``labelled_at``. A corrected
    label appears twice; the later row is the correct one.

    ``complaints``: one row per complaint or appeal recorded by ``now``, columns
    ``COMPLAINT_COLUMNS`` (``prediction_id`` str, ``complained_at`` datetime64[us, UTC]),
    ordered by ``complained_at``. People turned down complain more, and most of all those
    the model wronged (turned down although their label is 1).
    """

    predictions: pd.DataFrame
    labels: pd.DataFrame
    complaints: pd.DataFrame


@dataclass(frozen=True)
class VersionRollout:
    """A fitted model version taking over scoring: from ``canary_from`` a random
    ``canary_share`` of each day's rows is scored by it (the rest by the scheduled version),
    from ``full_from`` every row.

    ``scorer`` maps a frame of what was logged (feature columns as logged, nulls included,
    and the cohort columns) to probabilities of the positive class; decisions use
    ``threshold`` (a ``ThresholdChange`` incident still overrides it for its group). Labels
    never depend on the version: they follow the true features.
    """

    version: str
    scorer: Callable[[pd.DataFrame], np.ndarray]
    canary_from: date
    full_from: date | None = None
    canary_share: float = 0.2
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.canary_share <= 1.0:
            raise ValueError(f"canary_share must lie in [0, 1], got {self.canary_share!r}")
        if self.full_from is not None and self.full_from < self.canary_from:
            raise ValueError("full_from must not be before canary_from")

    def share_on(self, day: date) -> float:
        """Share of the day's rows the new version scores."""
        if self.full_from is not None and day >= self.full_from:
            return 1.0
        return self.canary_share if day >= self.canary_from else 0.0


# --------------------------------------------------------------------------------------------
# Simulation constants
# --------------------------------------------------------------------------------------------

_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND
_US_PER_DAY = 24 * _US_PER_HOUR
_NAT = np.iinfo(np.int64).min  # int64 view of NaT at any datetime64 unit
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Relative traffic per UTC hour: quiet nights, business-hours peak, an evening shoulder.
# fmt: off
_HOURLY_PROFILE = np.array(
    [0.30, 0.20, 0.15, 0.15, 0.20, 0.35, 0.60, 1.00, 1.40, 1.70, 1.80, 1.80,
     1.70, 1.70, 1.80, 1.70, 1.60, 1.40, 1.20, 1.10, 1.00, 0.90, 0.70, 0.50]
)
# fmt: on
_HOURLY_CDF = np.cumsum(_HOURLY_PROFILE) / _HOURLY_PROFILE.sum()

# The deployed model is not the oracle: a little logit noise (model error) on top of the truth.
# Small enough that binned calibration holds to ~1-2 points.
_SCORE_LOGIT_NOISE_SD = 0.15

# Label arrival: log-normal lag with a 4.5-day median; sigma 0.85 puts the 99th percentile near
# 33 days, and the clip caps the tail at 45 days (e.g. a repayment observed at the next cycle).
_LABEL_LAG_MEDIAN_HOURS = 4.5 * 24
_LABEL_LAG_SIGMA = 0.85
_LABEL_LAG_MIN_HOURS = 0.5
_LABEL_LAG_MAX_HOURS = 45 * 24
_P_LABEL_NEVER = 0.08
_P_LABEL_CORRECTED = 0.03
# Complaints and appeals: the chance a prediction draws one, by what it did to the person
# (decision 0 is the adverse one: declined, not shortlisted), and when it arrives.
_P_COMPLAINT_FAVOURED = 0.003
_P_COMPLAINT_TURNED_DOWN = 0.04
_P_COMPLAINT_WRONGED = 0.25  # turned down although the label is 1
_COMPLAINT_DELAY_MEDIAN_HOURS = 3 * 24
_COMPLAINT_DELAY_SIGMA = 0.8
_COMPLAINT_DELAY_MAX_HOURS = 30 * 24
_CORRECTION_LAG_MEDIAN_HOURS = 6 * 24
_CORRECTION_LAG_SIGMA = 0.6

# MinorityDegradation: the noise that replaces the signal is centred on a pessimistic default
# (this many SDs in the unfavourable direction), as with conservative imputation of missing data.
_DEGRADATION_PESSIMISM = 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_codes(
    rng: np.random.Generator,
    probs: np.ndarray,
    given: np.ndarray | None = None,
    *,
    n: int | None = None,
) -> np.ndarray:
    """Draw category codes by inverse CDF.

    ``probs`` is either a 1-d probability vector (``n`` draws) or a ``(groups, categories)`` table,
    in which case row ``given[i]`` is used for draw ``i`` (conditional sampling, vectorised).
    """
    cdf = np.cumsum(probs, axis=-1)
    cdf /= cdf[..., -1:]
    if given is None:
        u = rng.random(n)
        return np.minimum(np.searchsorted(cdf, u, side="right"), probs.shape[-1] - 1)
    u = rng.random(given.size)
    # Count how many cumulative bounds each draw passes; at most 5 columns, so this is cheap.
    return np.minimum((u[:, None] >= cdf[given]).sum(axis=1), probs.shape[-1] - 1)


# --------------------------------------------------------------------------------------------
# Per-model generative specs
# --------------------------------------------------------------------------------------------

Arrays = dict[str, np.ndarray]
_LatentSampler = Callable[[np.random.Generator, Mapping[str, np.ndarray]], Arrays]
_ValueMapper = Callable[
    [Mapping[str, np.ndarray], Mapping[str, np.ndarray], Mapping[str, np.ndarray]], Arrays
]


@dataclass(frozen=True)
class _ModelSpec:
    """Private generative parameters behind a :class:`ModelSchema`."""

    schema: ModelSchema
    cohort_shares: Mapping[str, tuple[float, ...]]
    weekday_profile: tuple[float, ...]  # Monday..Sunday, relative volume
    intercept: float
    coefs: Mapping[str, float]  # per numeric feature, on its latent; same for truth and model
    category_effects: Mapping[str, tuple[float, ...]]  # per categorical feature, per category
    sample_latents: _LatentSampler  # (rng, cohort codes) -> latent z per numeric feature
    sample_categories: _LatentSampler  # (rng, cohort codes) -> category codes
    to_values: _ValueMapper  # (latents, cohort codes, category codes) -> logged numeric values
    malformed_cohort: tuple[str, str]  # (attribute, value outside its allowed set)

    @property
    def weekday_factors(self) -> np.ndarray:
        profile = np.asarray(self.weekday_profile, dtype=float)
        return profile / profile.mean()  # so daily_volume is the weekly average

    def logit(
        self, latents: Mapping[str, np.ndarray], categories: Mapping[str, np.ndarray], n: int
    ) -> np.ndarray:
        out = np.full(n, self.intercept)
        for feature, coef in self.coefs.items():
            out += coef * latents[feature]
        for feature, effects in self.category_effects.items():
            # Code -1 (null, imputed) picks the appended neutral effect 0.
            out += np.append(np.asarray(effects, dtype=float), 0.0)[categories[feature]]
        return out


# ---- loan_approval -------------------------------------------------------------------------
# Age bands: 18-25, 26-40, 41-60, 61+. Regions: north, south, east, west (west is the minority).
_LOAN_INCOME_BY_AGE = np.array([-0.9, 0.05, 0.35, -0.05])
_LOAN_INCOME_BY_REGION = np.array([0.15, -0.10, 0.05, -0.20])
# Credit history latent centred so 12 * exp(ln 10 + 0.8 z) gives ~3 / 9 / 18 / 25 years.
_LOAN_HISTORY_BY_AGE = np.array([-1.50, -0.13, 0.73, 1.15])
_LOAN_HISTORY_MAX_MONTHS = np.array([96.0, 276.0, 516.0, 720.0])  # cannot predate adulthood
# fmt: off
_LOAN_EMPLOYMENT_BY_AGE = np.array(
    # salaried, self_employed, contractor, unemployed
    [[0.55, 0.08, 0.22, 0.15],
     [0.66, 0.14, 0.14, 0.06],
     [0.64, 0.20, 0.10, 0.06],
     [0.50, 0.22, 0.10, 0.18]]
)
# fmt: on
# fmt: off
_LOAN_PURPOSE_BY_AGE = np.array(
    # home, car, education, business, other
    [[0.08, 0.35, 0.30, 0.05, 0.22],
     [0.30, 0.30, 0.10, 0.10, 0.20],
     [0.28, 0.28, 0.06, 0.14, 0.24],
     [0.18, 0.30, 0.02, 0.10, 0.40]]
)
# fmt: on
# Typical loan-to-income ratio per purpose (log scale): mortgages dwarf car loans.
_LOAN_PURPOSE_LOG_LTI = np.log(np.array([2.5, 0.35, 0.4, 0.8, 0.15]))


def _loan_latents(rng: np.random.Generator, cohorts: Mapping[str, np.ndarray]) -> Arrays:
    age = cohorts["age_band"]
    e = rng.standard_normal((7, age.size))
    income = _LOAN_INCOME_BY_AGE[age] + _LOAN_INCOME_BY_REGION[cohorts["region"]] + 0.85 * e[0]
    dti = -0.35 * income + 0.94 * e[1]  # richer applicants carry relatively less debt
    history = _LOAN_HISTORY_BY_AGE[age] + 0.5 * e[2]
    accounts = 0.3 * history + 0.95 * e[4]  # longer histories accumulate accounts
    return {
        "income": income,
        "debt_to_income": dti,
        "credit_history_months": history,
        "loan_amount": e[3],  # loan size relative to income, within purpose
        "num_open_accounts": accounts,
        "utilization": 0.35 * dti + 0.94 * e[5],
        # Healthy: independent of every cohort attribute (ProxyFeature breaks exactly this).
        "postal_risk_index": e[6],
    }


def _loan_categories(rng: np.random.Generator, cohorts: Mapping[str, np.ndarray]) -> Arrays:
    age = cohorts["age_band"]
    return {
        "employment_type": _draw_codes(rng, _LOAN_EMPLOYMENT_BY_AGE, age),
        "loan_purpose": _draw_codes(rng, _LOAN_PURPOSE_BY_AGE, age),
    }


def _loan_values(
    latents: Mapping[str, np.ndarray],
    cohorts: Mapping[str, np.ndarray],
    categories: Mapping[str, np.ndarray],
) -> Arrays:
    income = np.maximum(np.round(np.exp(np.log(52_000) + 0.5 * latents["income"]), -2), 6_000)
    log_lti = _LOAN_PURPOSE_LOG_LTI[categories["loan_purpose"]] + 0.45 * latents["loan_amount"]
    history = 12 * np.exp(np.log(10) + 0.8 * latents["credit_history_months"])
    return {
        "income": income,
        "debt_to_income": np.round(_sigmoid(-0.9 + 0.55 * latents["debt_to_income"]), 3),
        "credit_history_months": np.minimum(
            np.round(history), _LOAN_HISTORY_MAX_MONTHS[cohorts["age_band"]]
        ),
        "loan_amount": np.maximum(np.round(income * np.exp(log_lti), -2), 500),
        "num_open_accounts": np.minimum(
            np.round(np.exp(1.25 + 0.45 * latents["num_open_accounts"])), 40
        ),
        "utilization": np.round(_sigmoid(-0.5 + latents["utilization"]), 3),
        "postal_risk_index": np.round(np.clip(50 + 15 * latents["postal_risk_index"], 0, 100), 1),
    }


_LOAN_SPEC = _ModelSpec(
    schema=LOAN_APPROVAL,
    cohort_shares={
        "sex": (0.47, 0.53),
        "age_band": (0.16, 0.37, 0.33, 0.14),
        "region": (0.36, 0.29, 0.25, 0.10),
    },
    weekday_profile=(1.08, 1.12, 1.10, 1.06, 0.98, 0.72, 0.62),
    intercept=1.25,
    coefs={
        "income": 0.85,
        "debt_to_income": -0.7,
        "credit_history_months": 0.5,
        "loan_amount": -0.5,
        "num_open_accounts": -0.15,
        "utilization": -0.6,
        "postal_risk_index": -0.3,
    },
    category_effects={
        "employment_type": (0.25, 0.0, -0.15, -0.9),
        "loan_purpose": (0.2, 0.15, -0.1, -0.35, -0.15),
    },
    sample_latents=_loan_latents,
    sample_categories=_loan_categories,
    to_values=_loan_values,
    malformed_cohort=("region", "atlantis"),
)

# ---- job_screening -------------------------------------------------------------------------
# Age bands: 18-29, 30-44, 45+. Experience latent centred so 7 * exp(0.8 z) gives ~3 / 10 / 20 y.
_JOB_EXPERIENCE_BY_AGE = np.array([-1.06, 0.45, 1.31])
_JOB_EXPERIENCE_MAX_YEARS = np.array([12.0, 27.0, 45.0])
_JOB_CHANNEL_SHARES = np.array([0.17, 0.46, 0.21, 0.16])  # referral, job_board, agency, direct


def _job_latents(rng: np.random.Generator, cohorts: Mapping[str, np.ndarray]) -> Arrays:
    age = cohorts["age_band"]
    e = rng.standard_normal((4, age.size))
    return {
        "years_experience": _JOB_EXPERIENCE_BY_AGE[age] + 0.5 * e[0],
        "skills_match": e[1],
        "assessment_score": 0.45 * e[1] + 0.89 * e[2],  # skilled candidates test better
        "education_years": e[3],
    }


def _job_categories(rng: np.random.Generator, cohorts: Mapping[str, np.ndarray]) -> Arrays:
    return {"source_channel": _draw_codes(rng, _JOB_CHANNEL_SHARES, n=cohorts["gender"].size)}


def _job_values(
    latents: Mapping[str, np.ndarray],
    cohorts: Mapping[str, np.ndarray],
    categories: Mapping[str, np.ndarray],
) -> Arrays:
    years = np.round(7 * np.exp(0.8 * latents["years_experience"]), 1)
    return {
        "years_experience": np.minimum(years, _JOB_EXPERIENCE_MAX_YEARS[cohorts["age_band"]]),
        "skills_match": np.round(_sigmoid(0.3 + 0.9 * latents["skills_match"]), 3),
        "assessment_score": np.round(np.clip(64 + 13 * latents["assessment_score"], 0, 100), 1),
        "education_years": np.clip(np.round(14.5 + 2.2 * latents["education_years"]), 8, 22),
    }


_JOB_SPEC = _ModelSpec(
    schema=JOB_SCREENING,
    cohort_shares={
        "gender": (0.44, 0.52, 0.04),
        "age_band": (0.32, 0.43, 0.25),
        "disability": (0.08, 0.92),
    },
    # Applications collapse at weekends.
    weekday_profile=(1.20, 1.20, 1.15, 1.10, 0.95, 0.35, 0.30),
    intercept=-0.75,
    coefs={
        "years_experience": 0.35,
        "skills_match": 0.9,
        "assessment_score": 0.8,
        "education_years": 0.25,
    },
    category_effects={"source_channel": (0.45, -0.15, 0.0, 0.1)},
    sample_latents=_job_latents,
    sample_categories=_job_categories,
    to_values=_job_values,
    malformed_cohort=("age_band", "0-17"),
)

_SPECS: Mapping[str, _ModelSpec] = MappingProxyType(
    {_LOAN_SPEC.schema.name: _LOAN_SPEC, _JOB_SPEC.schema.name: _JOB_SPEC}
)


# --------------------------------------------------------------------------------------------
# Randomness and time helpers
# --------------------------------------------------------------------------------------------


def _key(text: str) -> int:
    # Python's hash() is salted per process; crc32 is stable across runs and machines.
    return zlib.crc32(text.encode("utf-8"))


def _rng(seed: int, model: str, day: date, stream: str) -> np.random.Generator:
    """Independent stream per (seed, model, day, purpose): adding days or incidents elsewhere
    never shifts the draws of another stream."""
    return np.random.default_rng([seed, _key(model), day.toordinal(), _key(stream)])


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _day_start_us(day: date) -> int:
    return _to_us(datetime.combine(day, time(0), tzinfo=UTC))


def _version_for(day: date, schedule: Sequence[tuple[date, str]], default: str) -> str:
    version = default
    for effective, name in schedule:  # sorted ascending; tiny, so a scan is fine
        if effective <= day:
            version = name
    return version


# --------------------------------------------------------------------------------------------
# One day
# --------------------------------------------------------------------------------------------


@dataclass
class _Day:
    """One day's rows as column arrays; strings are built once for the whole range."""

    day: date
    versions: tuple[str, ...]  # version names; columns["version"] holds codes into them
    id_width: int  # digits of the per-day sequence, from the day's full (pre-`now`) volume
    columns: Arrays  # prediction columns as numpy (codes for strings, int64 us for timestamps)
    labels: Arrays  # seq (int64), label, labelled_at (int64 us)
    complaints: Arrays  # seq (int64), complained_at (int64 us)


def _null_out(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    """``values`` with ``fill`` where ``mask``; skips the copy on the (usual) all-present path."""
    return np.where(mask, fill, values) if mask.any() else values


def _apply_population_shift(
    inc: DistributionShift,
    spec: _ModelSpec,
    rng: np.random.Generator,
    latents: Arrays,
    categories: Arrays,
) -> None:
    """Genuine covariate shift: modifies the *true* features, so labels follow."""
    schema = spec.schema
    if inc.feature in schema.numeric_features:
        z = latents[inc.feature]
        centre = z.mean() if z.size else 0.0
        latents[inc.feature] = centre + (z - centre) * inc.scale + inc.shift
    else:
        allowed = schema.categorical_features[inc.feature]
        weights = inc.mix_weights or {}
        probs = np.array([weights.get(value, 0.0) for value in allowed])
        categories[inc.feature] = _draw_codes(rng, probs, n=categories[inc.feature].size)


def _simulate_day(
    spec: _ModelSpec,
    day: date,
    *,
    seed: int,
    volume: float,
    version: str,
    now_us: int,
    incidents: Sequence[Incident],
    rollout: VersionRollout | None = None,
) -> _Day:
    schema = spec.schema
    model = schema.name
    active = [inc for inc in incidents if inc.active_on(day)]

    def inc_rng(inc: Incident) -> np.random.Generator:
        return _rng(seed, model, day, "incident:" + repr(inc))

    # -- the population (one stream, fixed draw order, independent of incidents) -------------
    rng = _rng(seed, model, day, "population")
    n = int(rng.poisson(volume * spec.weekday_factors[day.weekday()]))
    cohorts = {
        attr: _draw_codes(rng, np.asarray(shares), n=n)
        for attr, shares in spec.cohort_shares.items()
    }
    latents = spec.sample_latents(rng, cohorts)
    categories = spec.sample_categories(rng, cohorts)
    label_u = rng.random(n)
    hours = np.searchsorted(_HOURLY_CDF, rng.random(n), side="right")
    offsets = hours * _US_PER_HOUR + rng.integers(0, _US_PER_HOUR, n)
    # Rows are exchangeable, so sorted times can be handed out in row order.
    scored_at = _day_start_us(day) + np.sort(offsets)
    day_end_us = _day_start_us(day) + _US_PER_DAY - 1

    for inc in active:
        if isinstance(inc, DistributionShift):
            _apply_population_shift(inc, spec, inc_rng(inc), latents, categories)

    # -- ground truth ---------------------------------------------------------------------------
    p_true = _sigmoid(spec.logit(latents, categories, n))
    y = (label_u < p_true).astype(np.int64)

    # -- what the model sees and what gets logged (labels do not follow these) ---------------
    observed = {f: z.copy() for f, z in latents.items()}
    nulls = {f: np.zeros(n, dtype=bool) for f in schema.features}
    thresholds = np.full(n, schema.threshold)
    for inc in active:
        if isinstance(inc, MinorityDegradation):
            in_group = cohorts[inc.attribute] == schema.cohorts[inc.attribute].index(inc.group)
            noise = inc_rng(inc).standard_normal((len(schema.numeric_features), n))
            for i, feature in enumerate(schema.numeric_features):
                pessimistic = noise[i] - _DEGRADATION_PESSIMISM * np.sign(spec.coefs[feature])
                blended = (1 - inc.severity) * observed[feature] + inc.severity * pessimistic
                observed[feature] = np.where(in_group, blended, observed[feature])
        elif isinstance(inc, ProxyFeature):
            groups = len(schema.cohorts[inc.attribute])
            shifts = inc.strength * np.linspace(-1.0, 1.0, groups)
            observed[inc.feature] = observed[inc.feature] + shifts[cohorts[inc.attribute]]
        elif isinstance(inc, FeatureNulls):
            nulls[inc.feature] |= inc_rng(inc).random(n) < inc.rate
        elif isinstance(inc, ThresholdChange):
            in_group = cohorts[inc.attribute] == schema.cohorts[inc.attribute].index(inc.group)
            thresholds[in_group] = inc.threshold

    # The serving model imputes missing inputs: the latent median (0) / neutral category effect.
    model_latents = {f: _null_out(z, nulls[f], 0.0) for f, z in observed.items()}
    logged_categories = {f: _null_out(c, nulls[f], -1) for f, c in categories.items()}
    noise = _rng(seed, model, day, "score_noise").standard_normal(n) * _SCORE_LOGIT_NOISE_SD
    score = _sigmoid(spec.logit(model_latents, logged_categories, n) + noise)
    decision = (score >= thresholds).astype(np.int64)
    # Exact attributions of the serving model: it is linear on the logit, so each numeric
    # feature's is coef * latent as the model saw it, against the reference the model imputes
    # (latent 0): intercept + category effects + these + noise = logit(score).
    attributions = {
        column: spec.coefs[feature] * model_latents[feature]
        for feature, column in schema.attributions.items()
    }

    # Values come from the *true* category codes: a null purpose in the log does not change
    # the amount that was actually requested.
    values = spec.to_values(observed, cohorts, categories)
    versions: tuple[str, ...] = (version,)
    version_codes = np.zeros(n, dtype=np.int64)
    share = rollout.share_on(day) if rollout is not None else 0.0
    if rollout is not None and share > 0 and n:
        # Its own stream: the population and every other draw stay as they were.
        chosen = _rng(seed, model, day, "rollout:" + rollout.version).random(n) < share
        logged = _logged_frame(spec, cohorts, values, logged_categories, nulls, chosen)
        new_score = np.clip(np.asarray(rollout.scorer(logged), dtype=float), 0.0, 1.0)
        new_thresholds = thresholds[chosen].copy()
        if rollout.threshold is not None:
            # Incident overrides (ThresholdChange) keep their group's threshold.
            overridden = new_thresholds != schema.threshold
            new_thresholds = np.where(overridden, new_thresholds, rollout.threshold)
        score = score.copy()
        decision = decision.copy()
        score[chosen] = new_score
        decision[chosen] = (new_score >= new_thresholds).astype(np.int64)
        # A fitted version is served without an explainer: no attributions for its rows.
        attributions = {c: np.where(chosen, np.nan, a) for c, a in attributions.items()}
        versions = (version, rollout.version)
        version_codes = chosen.astype(np.int64)
    # Its own stream: every other column stays as it was.
    latency_rng = _rng(seed, model, day, "latency")
    latency = _LATENCY_MEDIAN_MS[model] * np.exp(_LATENCY_SIGMA * latency_rng.standard_normal(n))
    latency *= np.where(latency_rng.random(n) < _LATENCY_SLOW_SHARE, _LATENCY_SLOW_FACTOR, 1.0)
    for inc in active:
        if isinstance(inc, LatencySpike):
            hit = np.ones(n, dtype=bool)
            if inc.attribute is not None:
                hit = cohorts[inc.attribute] == schema.cohorts[inc.attribute].index(inc.group)
            latency = np.where(hit, latency * inc.factor, latency)
    columns: Arrays = {
        "seq": np.arange(1, n + 1, dtype=np.int64),
        "pid_null": np.zeros(n, dtype=bool),
        "scored_at": scored_at.copy(),
        "true_scored_at": scored_at,
        "score": score,
        "decision": decision,
        "version": version_codes,
        **cohorts,
        **{f: _null_out(values[f], nulls[f], np.nan) for f in schema.numeric_features},
        **logged_categories,
        **attributions,
        LATENCY_COLUMN: latency,
    }

    for inc in active:
        if isinstance(inc, MalformedRows):
            columns = _apply_malformed(inc, spec, inc_rng(inc), columns, day_end_us)

    labels = _day_labels(
        spec,
        day,
        seed=seed,
        now_us=now_us,
        seq=np.arange(1, n + 1, dtype=np.int64),
        scored_at=scored_at,
        y=y,
        lost=columns["pid_null"][:n].copy(),
        outages=[(inc, inc_rng(inc)) for inc in active if isinstance(inc, LabelOutage)],
    )

    complaints = _day_complaints(
        spec, day, seed=seed, now_us=now_us, scored_at=scored_at, decision=decision[:n], y=y
    )

    # Nothing scored after the simulated clock can have been logged yet.
    visible = columns["true_scored_at"] <= now_us
    if not visible.all():
        columns = {name: values_[visible] for name, values_ in columns.items()}
    # Log order: by scored_at; rows whose timestamp was lost go last within the day. Healthy
    # days are already in order (times were sorted), so only malformed days pay for a re-sort.
    sort_key = np.where(columns["scored_at"] == _NAT, np.iinfo(np.int64).max, columns["scored_at"])
    if np.any(sort_key[1:] < sort_key[:-1]):
        order = np.argsort(sort_key, kind="stable")
        columns = {name: values_[order] for name, values_ in columns.items()}
    id_width = max(6, len(str(n)))
    return _Day(
        day=day,
        versions=versions,
        id_width=id_width,
        columns=columns,
        labels=labels,
        complaints=complaints,
    )


def _logged_frame(
    spec: _ModelSpec,
    cohorts: Arrays,
    values: Arrays,
    categories: Arrays,
    nulls: Mapping[str, np.ndarray],
    rows: np.ndarray,
) -> pd.DataFrame:
    """What the log holds for ``rows``: features as logged (nulls included) and cohorts,
    as a scorer of a fitted version sees them."""
    schema = spec.schema
    frame = {}
    for attribute, allowed in schema.cohorts.items():
        frame[attribute] = np.asarray(allowed, dtype=object)[cohorts[attribute][rows]]
    for feature in schema.numeric_features:
        frame[feature] = np.where(nulls[feature], np.nan, values[feature])[rows]
    for feature, allowed in schema.categorical_features.items():
        lookup = np.asarray([*allowed, None], dtype=object)
        codes = categories[feature][rows]
        frame[feature] = lookup[np.where(codes < 0, len(allowed), codes)]
    return pd.DataFrame(frame)


def _apply_malformed(
    inc: MalformedRows, spec: _ModelSpec, rng: np.random.Generator, columns: Arrays, day_end_us: int
) -> Arrays:
    """Corrupt a share of rows, one defect per row, every requested kind at least once."""
    n = columns["score"].size
    if n == 0:
        return columns
    n_bad = min(n, max(len(inc.kinds), round(inc.share * n)))
    rows = rng.choice(n, size=n_bad, replace=False)
    kind_of_row = np.arange(n_bad) % len(inc.kinds)  # round robin over a random row order
    columns = {name: values.copy() for name, values in columns.items()}
    duplicates = np.empty(0, dtype=np.int64)
    for k, kind in enumerate(inc.kinds):
        r = rows[kind_of_row == k]
        if kind == "score_out_of_range":
            too_high = rng.random(r.size) < 0.5
            columns["score"][r] = np.where(
                too_high, 1.0 + rng.uniform(0.01, 0.8, r.size), -rng.uniform(0.01, 0.5, r.size)
            )
        elif kind == "score_null":
            columns["score"][r] = np.nan
        elif kind == "decision_invalid":
            columns["decision"][r] = 2
        elif kind == "null_prediction_id":
            columns["pid_null"][r] = True
        elif kind == "unknown_cohort_value":
            attribute = spec.malformed_cohort[0]
            # Code one past the allowed values maps to the malformed value at assembly time.
            columns[attribute][r] = len(spec.schema.cohorts[attribute])
        elif kind == "scored_at_null":
            columns["scored_at"][r] = _NAT
        elif kind == "duplicate_prediction_id":
            duplicates = r
    if duplicates.size:
        # A retried write: the same row again, logged a few seconds later.
        extra = {name: values[duplicates] for name, values in columns.items()}
        # Clamped to the day so every row's scored_at stays on the day its id names.
        delay = rng.integers(1 * _US_PER_SECOND, 120 * _US_PER_SECOND, duplicates.size)
        retried = np.minimum(extra["true_scored_at"] + delay, day_end_us)
        extra["scored_at"] = np.where(extra["scored_at"] == _NAT, _NAT, retried)
        extra["true_scored_at"] = retried
        columns = {name: np.concatenate([columns[name], extra[name]]) for name in columns}
    return columns


def _day_labels(
    spec: _ModelSpec,
    day: date,
    *,
    seed: int,
    now_us: int,
    seq: np.ndarray,
    scored_at: np.ndarray,
    y: np.ndarray,
    lost: np.ndarray,
    outages: Sequence[tuple[LabelOutage, np.random.Generator]],
) -> Arrays:
    """Label events for one scoring day that have arrived by ``now``."""
    rng = _rng(seed, spec.schema.name, day, "labels")
    n = y.size
    lag_hours = np.clip(
        np.exp(np.log(_LABEL_LAG_MEDIAN_HOURS) + _LABEL_LAG_SIGMA * rng.standard_normal(n)),
        _LABEL_LAG_MIN_HOURS,
        _LABEL_LAG_MAX_HOURS,
    )
    never = rng.random(n) < _P_LABEL_NEVER
    corrected = ~never & (rng.random(n) < _P_LABEL_CORRECTED)
    correction_hours = np.exp(
        np.log(_CORRECTION_LAG_MEDIAN_HOURS) + _CORRECTION_LAG_SIGMA * rng.standard_normal(n)
    )
    first_at = scored_at + (lag_hours * _US_PER_HOUR).astype(np.int64)
    second_at = first_at + (correction_hours * _US_PER_HOUR).astype(np.int64)
    # A corrected label is first recorded wrongly; the later row restores the truth, so "latest
    # label wins" gives the true outcome.
    first_value = np.where(corrected, 1 - y, y)

    lost = lost | never
    for outage, outage_rng in outages:
        if outage.release_day is None:
            lost[:] = True
            continue
        # Back-fill batch spread over the release day; labels due later keep their own time.
        release = _day_start_us(outage.release_day) + outage_rng.integers(0, _US_PER_DAY, n)
        delayed = np.maximum(first_at, release)
        second_at = second_at + (delayed - first_at)
        first_at = delayed

    emit_first = ~lost & (first_at <= now_us)
    emit_second = ~lost & corrected & (second_at <= now_us)
    return {
        "seq": np.concatenate([seq[emit_first], seq[emit_second]]),
        "label": np.concatenate([first_value[emit_first], y[emit_second]]),
        "labelled_at": np.concatenate([first_at[emit_first], second_at[emit_second]]),
    }


def _day_complaints(
    spec: _ModelSpec,
    day: date,
    *,
    seed: int,
    now_us: int,
    scored_at: np.ndarray,
    decision: np.ndarray,
    y: np.ndarray,
) -> Arrays:
    """Complaint events for one scoring day recorded by ``now`` (its own stream: nothing
    else the day draws changes)."""
    rng = _rng(seed, spec.schema.name, day, "complaints")
    n = y.size
    p = np.where(
        decision == 0,
        np.where(y == 1, _P_COMPLAINT_WRONGED, _P_COMPLAINT_TURNED_DOWN),
        _P_COMPLAINT_FAVOURED,
    )
    complains = rng.random(n) < p
    delay_hours = np.minimum(
        np.exp(
            np.log(_COMPLAINT_DELAY_MEDIAN_HOURS) + _COMPLAINT_DELAY_SIGMA * rng.standard_normal(n)
        ),
        _COMPLAINT_DELAY_MAX_HOURS,
    )
    complained_at = scored_at + (delay_hours * _US_PER_HOUR).astype(np.int64)
    emit = complains & (complained_at <= now_us)
    return {
        "seq": np.arange(1, n + 1, dtype=np.int64)[emit],
        "complained_at": complained_at[emit],
    }


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def _prediction_ids(
    model: str, days: Sequence[_Day], *, for_labels: bool, for_complaints: bool = False
) -> pd.Series:
    """``<model>-<YYYYMMDD>-<seq>`` strings, built with Arrow (much faster than numpy strings)."""
    chunks = []
    for d in days:
        seq = d.labels["seq"] if for_labels else d.columns["seq"]
        if for_complaints:
            seq = d.complaints["seq"]
        text = pc.utf8_lpad(pc.cast(pa.array(seq, type=pa.int64()), pa.string()), d.id_width, "0")
        ids = pc.binary_join_element_wise(f"{model}-{d.day:%Y%m%d}-", text, "")
        if not (for_labels or for_complaints):
            ids = pc.if_else(pa.array(d.columns["pid_null"]), pa.scalar(None, pa.string()), ids)
        chunks.append(ids)
    combined = pa.chunked_array(chunks, type=pa.string()).combine_chunks()
    return pd.Series(pd.array(combined, dtype="str"), name="prediction_id")


def _codes_to_str(codes: np.ndarray, values: Sequence[str]) -> pd.Series:
    """Category codes -> pandas ``str`` column; code -1 is null. An Arrow take avoids building
    a Python object per row."""
    lookup = pa.array([*values, None], type=pa.string())
    taken = pc.take(lookup, pa.array(np.where(codes < 0, len(values), codes), type=pa.int64()))
    return pd.Series(pd.array(taken, dtype="str"))


def _timestamps(us: np.ndarray) -> pd.Series:
    # Microseconds: what Postgres timestamptz stores; NaT is the int64 minimum.
    return pd.Series(pd.to_datetime(us.astype(np.int64).view("M8[us]"), utc=True))


def _version_names(days: Sequence[_Day]) -> pd.Series:
    """Each row's version name from its day's codes (an Arrow take per day)."""
    chunks = [
        pc.take(pa.array(d.versions, type=pa.string()), pa.array(d.columns["version"]))
        for d in days
    ]
    combined = pa.chunked_array(chunks, type=pa.string()).combine_chunks()
    return pd.Series(pd.array(combined, dtype="str"))


def _assemble(spec: _ModelSpec, days: Sequence[_Day]) -> DemoTraffic:
    schema = spec.schema

    def cat(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([d.columns[name] for d in days]).astype(dtype, copy=False)

    predictions = pd.DataFrame(
        {
            "prediction_id": _prediction_ids(schema.name, days, for_labels=False),
            "scored_at": _timestamps(cat("scored_at", np.int64)),
            "model_version": _version_names(days),
            "score": cat("score", np.float64),
            "decision": cat("decision", np.int64),
        }
    )
    for attribute, values in schema.cohorts.items():
        bad_attribute, bad_value = spec.malformed_cohort
        allowed = (*values, bad_value) if attribute == bad_attribute else values
        predictions[attribute] = _codes_to_str(cat(attribute, np.int64), allowed)
    for feature in schema.numeric_features:
        predictions[feature] = cat(feature, np.float64)
    for feature, values in schema.categorical_features.items():
        predictions[feature] = _codes_to_str(cat(feature, np.int64), values)
    for column in schema.attributions.values():
        predictions[column] = cat(column, np.float64)
    predictions[LATENCY_COLUMN] = cat(LATENCY_COLUMN, np.float64)

    labelled_at = np.concatenate([d.labels["labelled_at"] for d in days])
    order = np.argsort(labelled_at, kind="stable")  # the label feed arrives in time order
    labels = pd.DataFrame(
        {
            "prediction_id": _prediction_ids(schema.name, days, for_labels=True),
            "label": np.concatenate([d.labels["label"] for d in days]).astype(np.int64),
            "labelled_at": _timestamps(labelled_at),
        }
    )
    labels = labels.take(order).reset_index(drop=True)
    complained_at = np.concatenate([d.complaints["complained_at"] for d in days])
    complaints = pd.DataFrame(
        {
            "prediction_id": _prediction_ids(
                schema.name, days, for_labels=False, for_complaints=True
            ),
            "complained_at": _timestamps(complained_at),
        }
    )
    complaints = complaints.take(np.argsort(complained_at, kind="stable")).reset_index(drop=True)
    return DemoTraffic(predictions=predictions, labels=labels, complaints=complaints)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _validate_incident(inc: Incident, schema: ModelSchema) -> None:
    """Fail fast on an incident that names an attribute, group or feature the model lacks."""

    def check_group(attribute: str, group: str | None) -> None:
        if attribute not in schema.cohorts:
            raise ValueError(f"{inc!r}: {schema.name} has no cohort attribute {attribute!r}")
        if group is not None and group not in schema.cohorts[attribute]:
            raise ValueError(f"{inc!r}: {group!r} is not a value of {attribute!r}")

    if isinstance(inc, MinorityDegradation | ThresholdChange):
        check_group(inc.attribute, inc.group)
    elif isinstance(inc, ProxyFeature):
        check_group(inc.attribute, None)
        if inc.feature not in schema.numeric_features:
            raise ValueError(f"{inc!r}: {inc.feature!r} is not a numeric feature")
    elif isinstance(inc, LatencySpike):
        if inc.attribute is not None:
            check_group(inc.attribute, inc.group)
    elif isinstance(inc, FeatureNulls):
        if inc.feature not in schema.features:
            raise ValueError(f"{inc!r}: {schema.name} has no feature {inc.feature!r}")
    elif isinstance(inc, DistributionShift):
        if inc.feature in schema.numeric_features:
            if inc.mix is not None:
                raise ValueError(f"{inc!r}: mix is for categorical features")
        elif inc.feature in schema.categorical_features:
            weights = inc.mix_weights
            if weights is None:
                raise ValueError(f"{inc!r}: a categorical shift needs mix")
            unknown = set(weights) - set(schema.categorical_features[inc.feature])
            if unknown:
                raise ValueError(f"{inc!r}: unknown categories {sorted(unknown)}")
            if sum(weights.values()) <= 0:
                raise ValueError(f"{inc!r}: mix weights sum to zero")
        else:
            raise ValueError(f"{inc!r}: {schema.name} has no feature {inc.feature!r}")


def generate_traffic(
    model: ModelName,
    start: date,
    end: date,
    *,
    now: datetime,
    seed: int = 7,
    incidents: Sequence[Incident] = (),
    daily_volume: int | None = None,
    version_schedule: Mapping[date, str] | None = None,
    rollout: VersionRollout | None = None,
) -> DemoTraffic:
    """Simulate predictions scored on ``start..end`` (inclusive) and the labels known at ``now``.

    Args:
        model: ``"loan_approval"`` or ``"job_screening"``.
        start, end: first and last scoring day (UTC calendar days).
        now: the simulated clock (tz-aware). Labels with ``labelled_at > now`` and predictions
            with ``scored_at > now`` are not emitted, so recent days have lower label coverage.
        seed: non-negative; same seed and arguments give identical frames.
        incidents: incidents to inject; those for another model are ignored, so one combined
            list can be passed for both models.
        daily_volume: average predictions per day (the weekly pattern and Poisson noise vary
            the actual count); defaults to the schema's ``default_daily_volume``.
        version_schedule: ``{first_day: version}``; a day uses the latest entry on or before it
            and the schema's ``default_model_version`` before the first entry.
        rollout: a fitted version taking over scoring (canary share, then every row);
            see :class:`VersionRollout`. Days before it are unchanged.

    Returns:
        :class:`DemoTraffic` with ``predictions`` and ``labels`` frames. Predictions carry,
        besides the features, each numeric feature's exact attribution as the serving model
        computed it (``ModelSchema.attributions``): the model is linear on the logit, so it
        is ``coef * latent`` of the value it saw, against the latent it imputes (0); they
        sum with the intercept and the category effects to the logit of the score, up to
        the score noise. Rows of a fitted version (``rollout``) have none (NaN).
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; expected one of {MODEL_NAMES}")
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime.date, got {value!r}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if daily_volume is not None and daily_volume < 0:
        raise ValueError("daily_volume must be >= 0")

    spec = _SPECS[model]
    schema = spec.schema
    own: list[Incident] = []
    for inc in incidents:
        if not isinstance(inc, INCIDENT_TYPES):
            raise TypeError(f"not an incident: {inc!r}")
        if inc.model == model:
            _validate_incident(inc, schema)
            own.append(inc)
    schedule = sorted((version_schedule or {}).items())
    volume = float(schema.default_daily_volume if daily_volume is None else daily_volume)
    now_us = _to_us(now.astimezone(UTC))

    days = [
        _simulate_day(
            spec,
            day,
            seed=seed,
            volume=volume,
            now_us=now_us,
            incidents=own,
            version=_version_for(day, schedule, schema.default_model_version),
            rollout=rollout,
        )
        for day in (start + timedelta(days=i) for i in range((end - start).days + 1))
    ]
    return _assemble(spec, days)


def default_incidents(model: ModelName, start: date, end: date) -> list[Incident]:
    """The demo scenario for ``start..end``.

    Offsets are counted from ``start`` so the scenario (and hence every already generated day)
    stays put when ``end`` moves forward; the first 14 days are always healthy (the baseline),
    and ongoing incidents run until ``end``. For a 28-day range (days 0..27):

    * ``loan_approval``: ``FeatureNulls`` on ``debt_to_income`` (35% nulls) on days 14-16;
      ``MinorityDegradation`` of ``region=west`` (10% of traffic, severity 0.7) from day 18 to
      ``end`` (the last 10 days); ``MalformedRows`` (2% of rows) on day 21.
    * ``job_screening``: healthy except a ``ThresholdChange`` lowering the shortlist threshold
      for ``gender=man`` from 0.6 to 0.4 from day 21 to ``end`` (the last week).

    Incidents whose window would begin after ``end`` are left out.
    """

    def window(first: int, last: int | None) -> tuple[date, date] | None:
        lo = start + timedelta(days=first)
        hi = end if last is None else min(end, start + timedelta(days=last))
        return (lo, hi) if lo <= hi else None

    out: list[Incident] = []
    if model == "loan_approval":
        if w := window(14, 16):
            out.append(
                FeatureNulls(model=model, start=w[0], end=w[1], feature="debt_to_income", rate=0.35)
            )
        if w := window(18, None):
            out.append(
                MinorityDegradation(
                    model=model,
                    start=w[0],
                    end=w[1],
                    attribute="region",
                    group=LOAN_MINORITY_REGION,
                    severity=0.7,
                )
            )
        if w := window(21, 21):
            out.append(MalformedRows(model=model, start=w[0], end=w[1], share=0.02))
    elif model == "job_screening":
        if w := window(21, None):
            out.append(
                ThresholdChange(
                    model=model,
                    start=w[0],
                    end=w[1],
                    attribute="gender",
                    group="man",
                    threshold=0.4,
                )
            )
    else:
        raise ValueError(f"unknown model {model!r}; expected one of {MODEL_NAMES}")
    return out


__all__ = [
    "JOB_SCREENING",
    "LABEL_COLUMNS",
    "LOAN_APPROVAL",
    "LOAN_MINORITY_REGION",
    "MODEL_SCHEMAS",
    "PREDICTION_BASE_COLUMNS",
    "DemoTraffic",
    "ModelSchema",
    "VersionRollout",
    "default_incidents",
    "generate_traffic",
]
