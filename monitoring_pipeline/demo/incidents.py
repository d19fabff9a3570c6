"""Catalogue of production incidents the demo traffic generator can inject.

Every incident is a frozen, keyword-only dataclass carrying the ``model`` it affects, an inclusive
``[start, end]`` window of *scoring* days and its own parameters. The generator
(:func:`monitoring_pipeline.demo.generator.generate_traffic`) applies an incident only to
predictions scored on those days (and, for group-specific incidents, only to that group), so that
days outside every window stay healthy and serve as the baseline the monitors compare against.

Each incident's :attr:`description` names the real-world failure mode it mimics, which makes the
demo scenario self-explanatory when it is printed next to the monitoring results.

Incidents only describe *what* goes wrong; whether an attribute, group or feature exists for a
model is checked by the generator against ``MODEL_SCHEMAS`` (this module deliberately does not
import the generator, so the catalogue stays dependency-free).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, TypeAlias, get_args

ModelName: TypeAlias = Literal["loan_approval", "job_screening"]
MODEL_NAMES: tuple[ModelName, ...] = get_args(ModelName)

MalformedKind: TypeAlias = Literal[
    "score_out_of_range",
    "score_null",
    "decision_invalid",
    "duplicate_prediction_id",
    "null_prediction_id",
    "unknown_cohort_value",
    "scored_at_null",
]
MALFORMED_KINDS: tuple[MalformedKind, ...] = get_args(MalformedKind)


@dataclass(frozen=True, kw_only=True)
class _IncidentBase:
    """Fields shared by every incident: which model, and which scoring days (inclusive)."""

    model: ModelName
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; expected one of {MODEL_NAMES}")
        for name in ("start", "end"):
            value = getattr(self, name)
            # datetime is a date subclass, but comparing it with a date raises TypeError later on.
            if not isinstance(value, date) or isinstance(value, datetime):
                raise TypeError(f"{name} must be a datetime.date, got {value!r}")
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    def active_on(self, day: date) -> bool:
        """Whether predictions scored on ``day`` are affected."""
        return self.start <= day <= self.end

    @property
    def description(self) -> str:  # pragma: no cover - overridden by every incident
        raise NotImplementedError


def _check_unit_interval(name: str, value: float, *, allow_zero: bool = True) -> None:
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (math.isfinite(value) and low_ok and value <= 1.0):
        raise ValueError(f"{name} must be in {'[' if allow_zero else '('}0, 1], got {value!r}")


@dataclass(frozen=True, kw_only=True)
class MinorityDegradation(_IncidentBase):
    """One cohort's numeric feature feed degrades, so the model under-scores its qualified members.

    For rows of ``attribute == group`` every numeric feature the model sees is blended towards
    noise: ``observed = (1 - severity) * signal + severity * (noise + pessimistic default)``. The
    pessimistic offset mimics the usual fallback of imputing conservative values when a provider
    returns partial records. Labels keep following the *true* features, so the group's false
    negative rate rises (TPR falls) while every other group is untouched.
    """

    attribute: str
    group: str
    severity: float = 0.7

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_unit_interval("severity", self.severity)

    @property
    def description(self) -> str:
        return (
            f"{self.attribute}={self.group}: the upstream data provider for this group returns "
            f"stale/partial records ({self.severity:.0%} of the feature signal replaced by noise "
            "and pessimistic defaults), so qualified members are under-scored and the group's "
            "false negative rate rises (e.g. a regional credit-bureau feed outage, thin-file "
            "applicants)."
        )


@dataclass(frozen=True, kw_only=True)
class ProxyFeature(_IncidentBase):
    """A numeric feature starts encoding a protected attribute.

    The feature's value is shifted by ``strength`` standard deviations spread evenly across the
    attribute's groups (two groups: ``-strength`` and ``+strength``). The shift is not real risk,
    so labels do not follow it: the model, which weights the feature, now scores groups
    differently (selection-rate gap, per-group miscalibration) and the feature correlates strongly
    with the attribute.
    """

    feature: str
    attribute: str
    strength: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not math.isfinite(self.strength):
            raise ValueError(f"strength must be finite, got {self.strength!r}")

    @property
    def description(self) -> str:
        return (
            f"{self.feature} now tracks {self.attribute} (shift of {self.strength:g} SD between "
            "groups): a vendor rebuilt the index from demographic data, turning it into a proxy "
            "for a protected attribute."
        )


@dataclass(frozen=True, kw_only=True)
class FeatureNulls(_IncidentBase):
    """A feature pipeline emits nulls for a share ``rate`` of rows.

    The serving model imputes the training median (numeric) or the neutral category effect
    (categorical) for the missing values, so scores get slightly less informative.
    """

    feature: str
    rate: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_unit_interval("rate", self.rate)

    @property
    def description(self) -> str:
        return (
            f"{self.feature} is null in {self.rate:.0%} of rows: a broken join / schema change in "
            "the feature pipeline; the model silently imputes the median."
        )


@dataclass(frozen=True, kw_only=True)
class DistributionShift(_IncidentBase):
    """A genuine upstream shift in the population of one feature (covariate shift).

    Numeric features: the feature's latent (log/logit-scale for skewed features) distribution is
    moved by ``shift`` standard deviations and its spread multiplied by ``scale``. Categorical
    features: ``mix`` gives the new category probabilities (omitted categories get probability 0;
    weights are renormalised). The shift is real, so labels follow the new feature values: the
    drift monitors fire while the model stays calibrated.

    ``mix`` may be given as a mapping; it is stored as a sorted tuple of ``(category, weight)``
    pairs so the incident stays hashable.
    """

    feature: str
    shift: float = 0.0
    scale: float = 1.0
    mix: Mapping[str, float] | tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.shift) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError("shift must be finite and scale finite and > 0")
        if self.mix is not None:
            pairs = tuple(
                sorted(
                    (str(k), float(v))
                    for k, v in (
                        self.mix.items() if isinstance(self.mix, Mapping) else tuple(self.mix)
                    )
                )
            )
            if not pairs or any(w < 0 or not math.isfinite(w) for _, w in pairs):
                raise ValueError("mix needs at least one category and finite weights >= 0")
            if sum(w for _, w in pairs) <= 0:
                raise ValueError("mix weights must not all be zero")
            if self.shift != 0.0 or self.scale != 1.0:
                raise ValueError("give either mix (categorical) or shift/scale (numeric)")
            object.__setattr__(self, "mix", pairs)

    @property
    def mix_weights(self) -> dict[str, float] | None:
        """The categorical mix as a dict (``None`` for a numeric shift)."""
        if self.mix is None:
            return None
        return dict(self.mix.items() if isinstance(self.mix, Mapping) else self.mix)

    @property
    def description(self) -> str:
        if self.mix is not None:
            change = f"category mix changes to {self.mix_weights}"
        else:
            change = f"shifts by {self.shift:+g} SD (spread x{self.scale:g})"
        return (
            f"{self.feature} {change}: an upstream population change (new marketing channel, "
            "new partner, seasonality); labels follow, so drift without performance loss."
        )


@dataclass(frozen=True, kw_only=True)
class ThresholdChange(_IncidentBase):
    """The decision threshold for one group is changed (typically lowered).

    Lowering it approves/shortlists more of that group's negatives, so its false positive rate and
    selection rate rise; the scores themselves are unchanged.
    """

    attribute: str
    group: str
    threshold: float

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_unit_interval("threshold", self.threshold)

    @property
    def description(self) -> str:
        return (
            f"decision threshold for {self.attribute}={self.group} set to {self.threshold:g}: a "
            "per-segment threshold table deployed with a copy-paste error (or an unreviewed "
            "business override), raising that group's false positive rate."
        )


@dataclass(frozen=True, kw_only=True)
class LabelOutage(_IncidentBase):
    """Ground truth for predictions scored in ``[start, end]`` does not arrive.

    ``recovery_days=None`` (default): those labels are lost for good (e.g. the outcome system
    dropped events). ``recovery_days=k``: the labels are back-filled in one batch spread over day
    ``end + k + 1`` (any label that would have arrived later still arrives at its usual time), so
    the outage shows up as a coverage hole that later closes.
    """

    recovery_days: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.recovery_days is not None and self.recovery_days < 0:
            raise ValueError(f"recovery_days must be >= 0, got {self.recovery_days}")

    @property
    def release_day(self) -> date | None:
        """First day on which back-filled labels arrive, or ``None`` if they never do."""
        if self.recovery_days is None:
            return None
        return self.end + timedelta(days=self.recovery_days + 1)

    @property
    def description(self) -> str:
        when = (
            "never arrive"
            if self.recovery_days is None
            else f"are back-filled on {self.release_day.isoformat()}"  # type: ignore[union-attr]
        )
        return (
            f"labels for predictions scored {self.start}..{self.end} {when}: the outcome feed "
            "(repayment system / HR system export) broke."
        )


@dataclass(frozen=True, kw_only=True)
class MalformedRows(_IncidentBase):
    """A ``share`` of the day's prediction rows are malformed, one defect per row.

    Kinds (``MALFORMED_KINDS``): score outside [0, 1]; score null; decision 2; a duplicate
    prediction_id (an extra row, as from a retried write); null prediction_id; a cohort value
    outside the allowed set; null scored_at. At least one row of each requested kind is produced
    per affected day (when the day has enough rows), so a data-quality layer can be tested for
    every check. Labels of rows whose prediction_id was nulled are dropped (nothing to join on).
    """

    share: float = 0.02
    kinds: tuple[MalformedKind, ...] = MALFORMED_KINDS

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_unit_interval("share", self.share, allow_zero=False)
        kinds = tuple(self.kinds)
        unknown = sorted(set(kinds) - set(MALFORMED_KINDS))
        if not kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {MALFORMED_KINDS}: {unknown}")
        # Deduplicate while keeping order so the round-robin assignment stays deterministic.
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(kinds)))

    @property
    def description(self) -> str:
        return (
            f"{self.share:.1%} of rows malformed ({', '.join(self.kinds)}): a logging client "
            "release without input validation."
        )


@dataclass(frozen=True, kw_only=True)
class LatencySpike(_IncidentBase):
    """Serving gets ``factor`` times slower, for everyone or for one group (``attribute``
    and ``group``: e.g. requests of one region routed to a distant replica). Scores,
    decisions and labels do not change."""

    factor: float = 3.0
    attribute: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"factor must be a positive number, got {self.factor!r}")
        if (self.attribute is None) != (self.group is None):
            raise ValueError("give both attribute and group, or neither")

    @property
    def description(self) -> str:
        who = "every request" if self.group is None else f"{self.attribute}={self.group}"
        return (
            f"serving latency x{self.factor:g} for {who}: an overloaded replica or a slow "
            "feature-store lookup; predictions themselves are unchanged."
        )


Incident: TypeAlias = (
    MinorityDegradation
    | ProxyFeature
    | FeatureNulls
    | DistributionShift
    | ThresholdChange
    | LabelOutage
    | MalformedRows
    | LatencySpike
)
"""Any incident the generator understands."""

INCIDENT_TYPES: tuple[type, ...] = (
    MinorityDegradation,
    ProxyFeature,
    FeatureNulls,
    DistributionShift,
    ThresholdChange,
    LabelOutage,
    MalformedRows,
    LatencySpike,
)

__all__ = [
    "INCIDENT_TYPES",
    "MALFORMED_KINDS",
    "MODEL_NAMES",
    "DistributionShift",
    "FeatureNulls",
    "Incident",
    "LabelOutage",
    "LatencySpike",
    "MalformedKind",
    "MalformedRows",
    "MinorityDegradation",
    "ModelName",
    "ProxyFeature",
    "ThresholdChange",
]
