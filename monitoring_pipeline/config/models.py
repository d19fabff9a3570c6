"""Schema of the monitored-models file (see README, "Configuration reference").

Every model forbids unknown keys, so a typo fails at load instead of being ignored.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
HTTP_URL = re.compile(r"^https?://[^/\s]+")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEAM = re.compile(r"^team:[A-Za-z0-9_-]+$")
QUALIFIED_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
INTERSECTION_SEPARATOR = "&"
# A column of a source (a feature, a mapped standard column): starts with a letter or "_",
# then letters, digits, "_", "-", "." or blanks; at most 63 bytes (PostgreSQL's identifier
# limit). Anything else (empty, control characters, quotes, ";") is refused at load.
SOURCE_COLUMN = re.compile(r"^[^\W\d][\w .\-]*$")
MAX_IDENTIFIER_BYTES = 63
MAX_VALUE_CHARACTERS = 200
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Columns the published rows have of their own: a feature or cohort attribute may not
# take one of these names.
RESERVED_COLUMNS = frozenset(
    {
        "prediction_id", "scored_at", "model_version", "score", "decision", "label",
        "labelled_at", "first_labelled_at", "label_lag_hours", "label_revisions",
        "partition_date", "model_name", "cohorts", "features", "run_id", "produced_at",
    }
)  # fmt: skip


def check_source_column(name: str) -> str:
    """``name`` if it is a usable source column name, else a ValueError saying why."""
    if not SOURCE_COLUMN.match(name) or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"column name {name[:80]!r} must start with a letter or '_', hold only letters, "
            f"digits, '_', '-', '.' or blanks, and be at most {MAX_IDENTIFIER_BYTES} bytes"
        )
    return name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def check_owner_forms(owners: list[str]) -> None:
    """Raise ``ValueError`` naming the first owner that is neither an e-mail address nor
    ``team:<name>`` (Dagster's two owner forms)."""
    for owner in owners:
        if not (EMAIL.match(owner) or TEAM.match(owner)):
            raise ValueError(
                f"owner {owner!r} must be an e-mail address or 'team:<name>' (letters, digits, _ -)"
            )


class PostgresTableSource(Strict):
    """A table (``schema.table``) in the monitoring database."""

    kind: Literal["postgres_table"]
    table: str

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        if not QUALIFIED_TABLE.match(value):
            raise ValueError("must be schema.table (letters, digits, underscores)")
        return value


class FileSource(Strict):
    """One Parquet or CSV file per day; ``path`` contains ``{date}`` (YYYY-MM-DD).

    For predictions the date is the scoring day; for labels it is the day the labels were
    delivered, so a day's labels are looked for in that day's file and every later one.
    """

    kind: Literal["files"]
    path: str
    format: Literal["parquet", "csv"] | None = None

    @field_validator("path")
    @classmethod
    def _has_date(cls, value: str) -> str:
        if "{date}" not in value:
            raise ValueError("must contain the placeholder {date}")
        return value

    @property
    def file_format(self) -> Literal["parquet", "csv"]:
        if self.format is not None:
            return self.format
        return "csv" if self.path.endswith((".csv", ".csv.gz")) else "parquet"


Source = Annotated[PostgresTableSource | FileSource, Field(discriminator="kind")]


class ColumnMapping(Strict):
    """Source column names for the standard fields.

    ``decision`` may be omitted when the model config gives a ``threshold``: the decision
    is then ``score >= threshold``.
    """

    prediction_id: str = "prediction_id"
    scored_at: str = "scored_at"
    model_version: str = "model_version"
    score: str = "score"
    decision: str | None = "decision"
    label: str = "label"
    labelled_at: str = "labelled_at"
    label_prediction_id: str = "prediction_id"
    # Optional: the serving latency of each prediction, in milliseconds (operational SLIs).
    latency_ms: str | None = None

    @field_validator("*")
    @classmethod
    def _usable_column(cls, value: str | None) -> str | None:
        return None if value is None else check_source_column(value)


class CohortConfig(Strict):
    """Cohort attributes with their allowed values, and which intersections to compute.

    ``reference_groups`` fixes the reference group of an attribute or of a configured
    intersection (``{"sex&age_band": "male&26-40"}``, values in the intersection's
    order); an attribute not listed takes the largest group of the baseline window.
    """

    attributes: dict[str, list[str]]
    intersections: list[list[str]] = []
    reference_groups: dict[str, str] = {}
    min_size: int | None = Field(default=None, ge=1)

    @field_validator("attributes")
    @classmethod
    def _non_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError("needs at least one cohort attribute")
        for name, values in value.items():
            if not IDENTIFIER.match(name) or len(name) > MAX_IDENTIFIER_BYTES:
                raise ValueError(
                    f"attribute name {name[:80]!r} must be lower_snake_case, at most "
                    f"{MAX_IDENTIFIER_BYTES} characters"
                )
            if name in RESERVED_COLUMNS:
                raise ValueError(
                    f"{name!r} is a column of the published rows; rename the attribute"
                )
            bad = [
                v
                for v in values
                if not str(v).strip()
                or CONTROL_CHARACTERS.search(str(v))
                or len(str(v)) > MAX_VALUE_CHARACTERS
            ]
            if bad:
                raise ValueError(
                    f"attribute {name!r}: value {str(bad[0])[:80]!r} must be non-blank, without "
                    f"control characters, at most {MAX_VALUE_CHARACTERS} characters"
                )
            if not values:
                raise ValueError(f"attribute {name!r} lists no allowed values")
            if len(set(values)) != len(values):
                raise ValueError(f"attribute {name!r} lists a value twice")
            if any(INTERSECTION_SEPARATOR in str(v) for v in values):
                raise ValueError(f"values of {name!r} must not contain {INTERSECTION_SEPARATOR!r}")
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> CohortConfig:
        for combo in self.intersections:
            if len(combo) < 2 or len(set(combo)) != len(combo):
                raise ValueError(f"intersection {combo} must name two or more distinct attributes")
            unknown = [a for a in combo if a not in self.attributes]
            if unknown:
                raise ValueError(f"intersection {combo} names unknown attribute(s) {unknown}")
        intersections = {INTERSECTION_SEPARATOR.join(combo): combo for combo in self.intersections}
        for attribute, group in self.reference_groups.items():
            if attribute in intersections:
                parts = str(group).split(INTERSECTION_SEPARATOR)
                combo = intersections[attribute]
                if len(parts) != len(combo):
                    raise ValueError(
                        f"reference group {group!r} of intersection {attribute!r} must give "
                        f"one value per attribute, joined by {INTERSECTION_SEPARATOR!r} "
                        f"(e.g. {INTERSECTION_SEPARATOR.join(self.attributes[a][0] for a in combo)!r})"
                    )
                for name, part in zip(combo, parts, strict=True):
                    if part not in self.attributes[name]:
                        raise ValueError(
                            f"reference group {group!r} of intersection {attribute!r}: "
                            f"{part!r} is not an allowed value of {name!r}"
                        )
                continue
            if attribute not in self.attributes:
                raise ValueError(
                    f"reference_groups names unknown attribute {attribute!r} (an intersection "
                    f"must be listed in intersections, attributes joined by "
                    f"{INTERSECTION_SEPARATOR!r} in that order)"
                )
            if group not in self.attributes[attribute]:
                raise ValueError(
                    f"reference group {group!r} is not an allowed value of {attribute!r}"
                )
        return self


class FeatureConfig(Strict):
    numeric: list[str] = []
    categorical: list[str] = []

    @field_validator("numeric", "categorical")
    @classmethod
    def _usable_names(cls, value: list[str]) -> list[str]:
        for name in value:
            check_source_column(name)
            if name == "score":
                raise ValueError(
                    "'score' is watched for drift already; do not list it as a feature"
                )
            if name in RESERVED_COLUMNS:
                raise ValueError(f"{name!r} is a column of the published rows; rename the feature")
        if len(set(value)) != len(value):
            raise ValueError("lists a feature twice")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> FeatureConfig:
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"features {sorted(both)} are listed as numeric and categorical")
        return self

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class Baseline(Strict):
    """The reference window for drift: a fixed date range, or the N days before each day."""

    preceding_days: int | None = Field(default=None, ge=1)
    start: date | None = None
    end: date | None = None
    bins: int = Field(default=10, ge=2, le=100)

    @model_validator(mode="after")
    def _one_kind(self) -> Baseline:
        fixed = self.start is not None or self.end is not None
        if fixed == (self.preceding_days is not None):
            raise ValueError("give either preceding_days, or start and end")
        if fixed and (self.start is None or self.end is None or self.start > self.end):
            raise ValueError("a fixed baseline needs start <= end")
        return self


class RowCountRule(Strict):
    """A day's row count must lie within [min_ratio, max_ratio] x the median of earlier days:
    the same weekday within ``lookback_days`` when ``seasonality`` is weekly (traffic usually
    has a weekly rhythm), else every day within it."""

    lookback_days: int = Field(default=28, ge=1)
    seasonality: Literal["weekly", "none"] = "weekly"
    min_ratio: float = Field(default=0.5, gt=0)
    max_ratio: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RowCountRule:
        if self.min_ratio >= self.max_ratio:
            raise ValueError("min_ratio must be below max_ratio")
        return self


class QualityConfig(Strict):
    """Tolerances of the data-quality checks (shares of the day's rows)."""

    max_malformed_share: float = Field(default=0.01, ge=0, le=1)
    max_feature_null_share: float = Field(default=0.05, ge=0, le=1)
    row_count: RowCountRule = RowCountRule()


CohortMetricName = Literal[
    "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "ece", "brier"
]
FairnessMetricName = Literal[
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "tpr_difference",
    "fpr_difference",
    "equalized_odds_difference",
    "calibration_gap",
]
DriftMethodName = Literal["psi", "ks", "js", "chi2", "null_rate_change"]
# core.cohort_changes.CHANGE_METRICS (a test keeps the two equal).
ChangeMetricName = Literal["selection_rate", "tpr", "fpr", "precision", "calibration_in_the_large"]


class DriftConfig(Strict):
    """Thresholds and sample sizes of the drift tests (defaults documented in the README)."""

    thresholds: dict[DriftMethodName, float] = {}
    min_count: int = Field(default=100, ge=1)
    min_count_distance: int = Field(default=500, ge=1)
    max_categories: int = Field(default=50, ge=1)

    @field_validator("thresholds")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for method, threshold in value.items():
            if not threshold > 0:
                raise ValueError(f"threshold of {method} must be > 0")
        return value


# A set SLO names its members with this wildcard (see SLOConfig and the README).
ANY = "*"


class CohortMetricSLI(Strict):
    source: Literal["cohort_metrics"]
    metric: CohortMetricName
    # "all", "<attribute>=<value>", or a set: "<attribute>=*" (every group of an attribute
    # or intersection) or "*" (every group of every attribute and intersection).
    cohort: str = "all"

    @property
    def is_set(self) -> bool:
        return self.cohort == ANY or self.cohort.endswith(f"={ANY}")


class FairnessSLI(Strict):
    source: Literal["fairness_disparities"]
    metric: FairnessMetricName
    # An attribute or intersection ("sex&race"), or "*": every attribute and intersection.
    attribute: str
    # A group of the attribute; None or "*": every group (a set SLO).
    group: str | None = None

    @field_validator("group")
    @classmethod
    def _any_group(cls, value: str | None) -> str | None:
        return None if value == ANY else value

    @property
    def is_set(self) -> bool:
        return self.group is None


EstimatedDifferenceName = Literal[
    "tpr_difference", "fpr_difference", "precision_difference", "accuracy_difference"
]


class EstimatedFairnessSLI(FairnessSLI):
    """A gap between a group and its reference group estimated from the scores
    (``monitoring.estimated_disparities``): judged like a fairness difference, available
    while labels lag, marked as estimated wherever it is shown."""

    source: Literal["estimated_disparities"]  # type: ignore[assignment]
    metric: EstimatedDifferenceName  # type: ignore[assignment]


CanaryMetricName = Literal["tpr", "fpr", "fnr", "precision", "accuracy"]


class CanarySLI(CohortMetricSLI):
    """How much worse the newest model version (the canary) does than the version it
    replaces, per cohort (``monitoring.version_comparison``): the difference candidate -
    incumbent turned so that positive is worse (incumbent - candidate for TPR, precision,
    accuracy), with its Newcombe interval. An objective ``<= 0.05`` lets the canary be at
    most 5 points worse; a bad day recommends holding or rolling back the candidate."""

    source: Literal["version_comparison"]  # type: ignore[assignment]
    metric: CanaryMetricName  # type: ignore[assignment]


OperationalMetricName = Literal["latency_p50", "latency_p95", "latency_p99", "throughput"]


class ComplaintSLI(CohortMetricSLI):
    """The share of a cohort's predictions that drew a complaint or appeal
    (``monitoring.complaint_metrics``), with its Wilson interval. Needs ``complaints:``.
    While a day's complaint window is open its rate can only grow: such a day is judged bad
    when its interval already lies beyond the objective, and unknown otherwise."""

    source: Literal["complaint_metrics"]  # type: ignore[assignment]
    metric: Literal["complaint_rate"]  # type: ignore[assignment]


class OperationalSLI(CohortMetricSLI):
    """A serving figure per cohort (``monitoring.operational_metrics``): a latency
    percentile (ms) with its distribution-free interval, or the day's predictions
    (``throughput``) with its Poisson interval. Needs ``columns.latency_ms``."""

    source: Literal["operational_metrics"]  # type: ignore[assignment]
    metric: OperationalMetricName  # type: ignore[assignment]


class CohortChangeSLI(Strict):
    """A cohort's own figure on the day minus the same cohort's over its baseline window
    (``monitoring.cohort_changes``), judged by its size like a fairness difference. It sees
    what a gap against a reference group cannot: the reference group itself moving."""

    source: Literal["cohort_changes"]
    metric: ChangeMetricName
    # As CohortMetricSLI.cohort.
    cohort: str = "all"

    @property
    def is_set(self) -> bool:
        return self.cohort == ANY or self.cohort.endswith(f"={ANY}")


class DriftSLI(Strict):
    source: Literal["drift"]
    method: DriftMethodName
    # A watched feature, "score", or "*": every configured feature (not the score).
    feature: str
    # As CohortMetricSLI.cohort; drift is computed for "all" and each attribute's groups.
    cohort: str = "all"

    @property
    def is_set(self) -> bool:
        return self.feature == ANY or self.cohort == ANY or self.cohort.endswith(f"={ANY}")


SLI = Annotated[
    CohortMetricSLI
    | FairnessSLI
    | EstimatedFairnessSLI
    | CanarySLI
    | OperationalSLI
    | ComplaintSLI
    | CohortChangeSLI
    | DriftSLI,
    Field(discriminator="source"),
]


class AdaptiveObjective(Strict):
    """An objective that follows the figure's own history: each day, ``mean +/- k * sd``
    of the SLO's readings over the ``window_days`` before it (days judged good only: a bad
    day never widens its own band), once at least ``min_days`` of them exist; until then,
    the objective's fixed ``value``. The edge on the side ``op`` bounds is the day's
    objective, judged like a fixed one."""

    k: float = Field(default=2.0, gt=0)
    window_days: int = Field(default=28, ge=3, le=366)
    min_days: int = Field(default=7, ge=2)

    @model_validator(mode="after")
    def _window_holds_min_days(self) -> AdaptiveObjective:
        if self.min_days > self.window_days:
            raise ValueError("min_days must not exceed window_days")
        return self


class Objective(Strict):
    op: Literal["<=", ">=", "<", ">"]
    # The threshold; for an adaptive objective, the one used until the history is long enough.
    value: float
    adaptive: AdaptiveObjective | None = None


Severity = Literal["ticket", "page"]
SLISource = Literal[
    "cohort_metrics",
    "fairness_disparities",
    "estimated_disparities",
    "version_comparison",
    "cohort_changes",
    "drift",
    "operational_metrics",
    "complaint_metrics",
]
# Built-in ``defaults.max_severity``: drift is a cause, not harm done to anyone, so a drift
# SLO raises a ticket at most unless configured otherwise; other SLIs may page.
BUILTIN_MAX_SEVERITY: dict[str, Severity] = {"drift": "ticket"}


class SLOConfig(Strict):
    """An objective on a published figure, evaluated per day, with an error budget.

    ``runbook_url``: what the on-call should do when it burns (linked from its alerts).
    ``owner``: who answers for it, one or a list of e-mail addresses / ``team:<name>``;
    unset, its alerts name the model's ``owners``.
    ``max_severity``: the most its error budget may raise (``ticket``: never pages); unset,
    ``defaults.max_severity`` of its SLI source, else ``BUILTIN_MAX_SEVERITY``, else page.
    """

    name: str
    description: str = ""
    sli: SLI
    objective: Objective
    compliance_period_days: int = Field(default=28, ge=2, le=366)
    target: float = Field(default=0.9, gt=0, lt=1)
    retrain_on_page: bool = False
    runbook_url: str | None = None
    owner: list[str] | None = None
    max_severity: Severity | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be lower_snake_case")
        return value

    def judged_against(self, objective_value: float | None) -> SLOConfig:
        """The SLO as a day was judged: an adaptive objective's value replaced by that
        day's stored ``slo_evaluations.objective_value`` (a fixed one is returned as is)."""
        if (
            self.objective.adaptive is None
            or objective_value is None
            or objective_value != objective_value
        ):
            return self
        return self.model_copy(
            update={
                "objective": self.objective.model_copy(update={"value": float(objective_value)})
            }
        )

    @field_validator("runbook_url")
    @classmethod
    def _runbook_http(cls, value: str | None) -> str | None:
        if value is not None and not HTTP_URL.match(value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("owner", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("owner")
    @classmethod
    def _owner_forms(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "name at least one owner, or leave owner out to use the model's owners"
            )
        check_owner_forms(value)
        return value


class HealthCheckConfig(Strict):
    """What a failing pipeline-health check raises."""

    severity: Severity = "ticket"


class StaleBaselineHealth(HealthCheckConfig):
    """The drift baseline of a day must be recent, full and large enough."""

    max_age_days: int = Field(default=180, ge=0)
    min_days: int = Field(default=7, ge=1)
    min_rows: int = Field(default=1000, ge=0)
    max_missing_days: int = Field(default=3, ge=0)


class OverduePartitionsHealth(HealthCheckConfig):
    """Earlier days must be materialized, unblocked and complete."""

    severity: Severity = "page"
    lookback_days: int = Field(default=14, ge=1, le=366)
    max_overdue_days: int = Field(default=0, ge=0)


class LabelLagHealth(HealthCheckConfig):
    """p90 label lag must stay within ``max_ratio`` x ``expected_label_lag_days``."""

    max_ratio: float = Field(default=1.0, gt=0)
    window_days: int = Field(default=7, ge=1, le=366)
    min_labelled: int = Field(default=50, ge=1)


class LabelCoverageHealth(HealthCheckConfig):
    """Days older than the expected label lag must be labelled."""

    min_coverage: float = Field(default=0.8, ge=0, le=1)
    window_days: int = Field(default=7, ge=1, le=366)
    min_predictions: int = Field(default=50, ge=1)


class LabelCoverageTrendHealth(HealthCheckConfig):
    """Coverage of mature days must not drop against the days before them."""

    days: int = Field(default=7, ge=1, le=183)
    max_drop: float = Field(default=0.1, gt=0, le=1)
    min_predictions: int = Field(default=50, ge=1)


class LabelArrivalHealth(HealthCheckConfig):
    """The ``young_days`` newest days must get labels at the pace the ``reference_days``
    days ending a week before had at the same age (see ``core.health.check_label_arrival``)."""

    young_days: int = Field(default=3, ge=1, le=7)
    reference_days: int = Field(default=14, ge=3, le=90)
    max_drop: float = Field(default=0.5, gt=0, le=1)
    alpha: float = Field(default=0.001, gt=0, lt=1)
    min_expected: float = Field(default=20, ge=1)


class DataQualityHealth(HealthCheckConfig):
    """The day's quarantined share must stay within ``quality.max_malformed_share`` and its
    non-blocking quality checks must pass."""


class HealthConfig(Strict):
    """Thresholds of the pipeline-health (meta-monitoring) checks, one section per check."""

    stale_baseline: StaleBaselineHealth = StaleBaselineHealth()
    overdue_partitions: OverduePartitionsHealth = OverduePartitionsHealth()
    label_lag: LabelLagHealth = LabelLagHealth()
    label_coverage: LabelCoverageHealth = LabelCoverageHealth()
    label_coverage_trend: LabelCoverageTrendHealth = LabelCoverageTrendHealth()
    label_arrival: LabelArrivalHealth = LabelArrivalHealth()
    data_quality: DataQualityHealth = DataQualityHealth()


class PrivacyConfig(Strict):
    """What the analysts' role may see (README, "Privacy").

    ``min_cell_size``: the fewest people a figure may rest on in the views the read-only
    role reads; figures of smaller cells are NULL there (``suppressed`` true). A separate
    knob from ``cohorts.min_size``, which says when a figure is statistically sufficient.
    """

    min_cell_size: int = Field(default=10, ge=1)


def overlay(base: BaseModel, override: BaseModel) -> BaseModel:
    """``base`` with the keys ``override`` was given explicitly, section by section: a
    model's ``health: {label_coverage: {min_coverage: 0.5}}`` changes that one threshold
    and keeps every other shared one."""
    update = {}
    for name in override.model_fields_set:
        value, current = getattr(override, name), getattr(base, name)
        if isinstance(value, BaseModel) and isinstance(current, BaseModel):
            value = overlay(current, value)
        update[name] = value
    return base.model_copy(update=update)


# Placeholders a command action may use in its argv (also passed as environment variables
# MONITORING_RETRAIN_<NAME>, upper-cased).
RETRAINING_PLACEHOLDERS = (
    "request_id",
    "model_name",
    "slo_name",
    "as_of",
    "alert_dedupe_key",
    "training_start",
    "training_end",
)
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CommandAction(Strict):
    """Run a program (argv, no shell) when a retraining request is recorded.

    ``{request_id}`` and the other :data:`RETRAINING_PLACEHOLDERS` in any argument are
    substituted; the same values are in the environment as ``MONITORING_RETRAIN_*``.
    Exit code 0 means the request was handed over (the program may also complete it).
    """

    kind: Literal["command"]
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=1800, gt=0)
    working_dir: str | None = None

    @field_validator("command")
    @classmethod
    def _known_placeholders(cls, value: list[str]) -> list[str]:
        import string

        for argument in value:
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(argument) if f is not None]
            except ValueError as exc:
                raise ValueError(f"argument {argument!r}: {exc} (write {{{{ for a brace)") from None
            unknown = [f for f in fields if f not in RETRAINING_PLACEHOLDERS]
            if unknown:
                raise ValueError(
                    f"argument {argument!r} uses unknown placeholder(s) {unknown}; "
                    f"known: {list(RETRAINING_PLACEHOLDERS)}"
                )
        if not value[0].strip():
            raise ValueError("the program (first element) must not be empty")
        return value


class WebhookAction(Strict):
    """POST the request (id, model, SLO, day, evidence) as JSON to a URL.

    ``url`` or ``url_env`` (the name of an environment variable holding the URL, read when
    the request is triggered, so a secret URL need not sit in the file). A 2xx answer means
    the request was handed over; 5xx answers and connection errors are retried up to
    ``max_attempts`` times, 4xx answers are not (the request itself is wrong).
    """

    kind: Literal["webhook"]
    url: str | None = None
    url_env: str | None = None
    timeout_seconds: float = Field(default=10, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_wait_seconds: float = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookAction:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if self.url_env is not None and not ENV_VAR_NAME.match(self.url_env):
            raise ValueError(f"url_env must be an environment variable name, got {self.url_env!r}")
        return self


RetrainingAction = Annotated[CommandAction | WebhookAction, Field(discriminator="kind")]


class RetrainingConfig(Strict):
    """What ``retraining_job`` does for this model when an SLO asks for retraining."""

    action: RetrainingAction
    training_window_days: int = Field(default=28, ge=1, le=366)
    cooldown_days: int = Field(default=7, ge=0, le=366)
    worst_cohorts: int = Field(default=5, ge=1, le=50)


class EstimationConfig(Strict):
    """Performance estimated from scores while labels lag (``core.estimation``).

    ``min_label_coverage``: the labelled share a cohort's day needs before its realised
    figure is compared with the estimate (estimation error and interval coverage).
    """

    enabled: bool = True
    min_label_coverage: float = Field(default=0.9, gt=0, le=1)


class ComplaintsConfig(Strict):
    """Complaints or appeals about predictions: a log of its own (a table or daily files,
    like labels), joined to the predictions by id, arriving days or weeks after scoring.

    A prediction counts as complained about when at least one of its complaints was recorded
    from the start of its scoring day to ``window_days`` days after that day's end (UTC):
    every day gets the same window, so days compare. A day's rate is final once its window
    has closed; until then it can only grow (late_complaints_sensor re-counts it as
    complaints arrive, and once more when the window closes). Files, dated by the day their
    complaints were recorded: a day's are looked for in the files dated from that day to the
    window's last day."""

    source: Source
    prediction_id: str = "prediction_id"
    complained_at: str = "complained_at"
    window_days: int = Field(default=14, ge=1, le=366)

    @field_validator("prediction_id", "complained_at")
    @classmethod
    def _usable_column(cls, value: str) -> str:
        return check_source_column(value)


class ModelConfig(Strict):
    """One monitored model: where its data comes from and what to watch."""

    description: str = ""
    # Who answers for the model: e-mail addresses or "team:<name>" (Dagster's owner forms);
    # shown on every asset of the model and named in its alerts.
    owners: list[str] = []
    predictions: Source
    labels: Source
    columns: ColumnMapping = ColumnMapping()
    positive_label: int = 1
    threshold: float | None = Field(default=None, ge=0, le=1)
    cohorts: CohortConfig
    features: FeatureConfig = FeatureConfig()
    baseline: Baseline = Baseline(preceding_days=14)
    drift: DriftConfig = DriftConfig()
    quality: QualityConfig | None = None
    expected_label_lag_days: float = Field(default=30, gt=0)
    ingest_chunk_rows: int | None = Field(default=None, ge=1)
    slos: list[SLOConfig] = []
    # Overrides the top-level ``health`` key by key (MonitoringConfig.health_config).
    health: HealthConfig | None = None
    # Overrides the top-level ``privacy`` key (MonitoringConfig.min_cell_size).
    privacy: PrivacyConfig | None = None
    retraining: RetrainingConfig | None = None
    estimation: EstimationConfig = EstimationConfig()
    # Feature -> the log column holding its attribution (e.g. a SHAP value logged at
    # serving). Attributions are stored with the rows under the column's name, watched for
    # drift like numeric features and summarised in feature_attributions.
    attributions: dict[str, str] = {}
    # Complaints or appeals about predictions: a separate late-arriving log (complaint_metrics).
    complaints: ComplaintsConfig | None = None

    @field_validator("attributions")
    @classmethod
    def _attribution_columns(cls, value: dict[str, str]) -> dict[str, str]:
        for column in value.values():
            check_source_column(column)
            if column in RESERVED_COLUMNS:
                raise ValueError(f"attribution column {column!r} is a column of the published rows")
        if len(set(value.values())) != len(value):
            raise ValueError("two features share an attribution column")
        return value

    @property
    def attribution_columns(self) -> list[str]:
        """The attribution columns, in the order of the features they explain."""
        return list(self.attributions.values())

    @field_validator("owners")
    @classmethod
    def _owner_forms(cls, value: list[str]) -> list[str]:
        check_owner_forms(value)
        return value

    def slo_owners(self, slo: SLOConfig) -> list[str]:
        """Who answers for ``slo``: its own ``owner``, else the model's ``owners``."""
        return list(slo.owner) if slo.owner is not None else list(self.owners)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.columns.decision is None and self.threshold is None:
            raise ValueError("give columns.decision or a threshold to derive decisions from")
        if "score" in self.features.all:
            raise ValueError("'score' is watched for drift already; do not list it as a feature")
        cohort_names = set(self.cohorts.attributes)
        clash = cohort_names & set(self.features.all)
        if clash:
            raise ValueError(f"{sorted(clash)} are both cohort attributes and features")
        unknown = [f for f in self.attributions if f not in self.features.all]
        if unknown:
            raise ValueError(f"attributions name {unknown}, which are not configured features")
        taken = (cohort_names | set(self.features.all) | {"score"}) & set(self.attribution_columns)
        if taken:
            raise ValueError(f"attribution columns {sorted(taken)} are features or cohorts")
        latency = self.columns.latency_ms
        if latency is not None and latency in (
            cohort_names | set(self.features.all) | set(self.attribution_columns)
        ):
            raise ValueError(f"columns.latency_ms {latency!r} is a feature, cohort or attribution")
        slo_names = [slo.name for slo in self.slos]
        if len(set(slo_names)) != len(slo_names):
            raise ValueError("two SLOs share a name")
        for slo in self.slos:
            self._check_sli(slo)
        return self

    def _check_sli(self, slo: SLOConfig) -> None:
        sli = slo.sli
        where = f"SLO {slo.name!r}"
        if isinstance(sli, FairnessSLI):
            if sli.attribute == ANY:
                if sli.group is not None:
                    raise ValueError(
                        f"{where}: attribute '*' covers every group; a group "
                        f"({sli.group!r}) needs a named attribute"
                    )
            elif sli.attribute not in self.cohort_attribute_names:
                raise ValueError(f"{where}: unknown cohort attribute {sli.attribute!r}")
            elif sli.group is not None and sli.group not in self.cohort_values(sli.attribute):
                raise ValueError(f"{where}: {sli.group!r} is not a group of {sli.attribute!r}")
        if isinstance(sli, OperationalSLI) and self.columns.latency_ms is None:
            raise ValueError(f"{where}: operational SLIs need columns.latency_ms")
        if isinstance(sli, ComplaintSLI) and self.complaints is None:
            raise ValueError(f"{where}: complaint SLIs need a complaints: source")
        if isinstance(sli, DriftSLI):
            if sli.feature == ANY and not self.features.all:
                raise ValueError(f"{where}: feature '*' but the model lists no features")
            if sli.feature not in [*self.features.all, *self.attribution_columns, "score", ANY]:
                raise ValueError(f"{where}: unknown feature {sli.feature!r}")
        if isinstance(sli, CohortMetricSLI | CohortChangeSLI | DriftSLI):
            self.cohort_members(sli.cohort, where=where)
            attribute = sli.cohort.partition("=")[0]
            if isinstance(sli, DriftSLI) and INTERSECTION_SEPARATOR in attribute:
                raise ValueError(
                    f"{where}: drift is computed per attribute, not for the intersection "
                    f"cohort {sli.cohort!r}"
                )

    def cohort_members(self, cohort: str, *, where: str) -> list[tuple[str, str]]:
        """The (attribute, value) cohorts ``cohort`` names: one, or a set for ``"*"`` (every
        group of every attribute and intersection, not ``all``) and ``"<attribute>=*"``."""
        if cohort == ANY:
            return [(a, v) for a in self.cohort_attribute_names for v in self.cohort_values(a)]
        attribute, sep, value = cohort.partition("=")
        if sep and value == ANY:
            if attribute not in self.cohort_attribute_names:
                raise ValueError(
                    f"{where}: cohort '<attribute>=*' names unknown attribute {attribute!r}"
                )
            return [(attribute, v) for v in self.cohort_values(attribute)]
        return [self.parse_cohort(cohort, where=where)]

    # Intersections are named like "sex&age_band"; their values like "female&18-25".
    @property
    def cohort_attribute_names(self) -> list[str]:
        names = list(self.cohorts.attributes)
        names += [INTERSECTION_SEPARATOR.join(combo) for combo in self.cohorts.intersections]
        return names

    def cohort_values(self, attribute: str) -> list[str]:
        parts = attribute.split(INTERSECTION_SEPARATOR)
        values: list[str] = [""]
        for part in parts:
            values = [
                f"{prefix}{INTERSECTION_SEPARATOR if prefix else ''}{v}"
                for prefix in values
                for v in self.cohorts.attributes[part]
            ]
        return values

    def parse_cohort(self, cohort: str, *, where: str) -> tuple[str, str]:
        if cohort == "all":
            return ("all", "all")
        attribute, sep, value = cohort.partition("=")
        if not sep or attribute not in self.cohort_attribute_names:
            raise ValueError(
                f"{where}: cohort must be 'all', '<attribute>=<value>', '<attribute>=*' or "
                f"'*', got {cohort!r}"
            )
        if value not in self.cohort_values(attribute):
            raise ValueError(f"{where}: {value!r} is not a value of {attribute!r}")
        return (attribute, value)


class ScheduleConfig(Strict):
    """When the daily run happens and which day it materializes."""

    cron: str = "0 6 * * *"
    lag_days: int = Field(default=1, ge=0, le=60)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        # Dagster's own check (through its public API), so that what loads here is what
        # the scheduler accepts.
        import dagster as dg

        try:
            dg.ScheduleDefinition(name="cron_check", cron_schedule=value, job_name="cron_check")
        except dg.DagsterInvalidDefinitionError:
            raise ValueError(f"not a valid cron expression: {value!r}") from None
        return value


class LateLabelsConfig(Strict):
    """When arriving labels re-run partitions that were already materialized."""

    min_change: float = Field(default=0.02, gt=0, le=1)
    lookback_days: int = Field(default=60, ge=1)
    check_every_seconds: int = Field(default=3600, ge=30)


ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class WebhookDestination(Strict):
    """A Slack-compatible incoming webhook: alerts are POSTed as JSON (``text`` + ``blocks``).

    The URL is given directly (``url``) or read, when an alert is delivered, from the
    environment variable named by ``url_env`` (webhook URLs are secrets: keep them out of
    the file). After a failed attempt the next waits ``backoff_seconds``, doubled each time.
    """

    name: str
    url: str | None = None
    url_env: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=20)
    backoff_seconds: float = Field(default=2.0, ge=0, le=600)
    # Which alerts this destination receives (resolved notices included, see
    # ``receives``). ``min_severity`` is the older form, still accepted: ``ticket`` means
    # both, ``page`` pages only. Give one of the two; neither means both severities.
    severities: list[Severity] | None = None
    min_severity: Severity | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value) or value == "log":
            raise ValueError(
                "must be lower_snake_case and not 'log' (the log is always a destination)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"must name an environment variable (A-Z, 0-9, _), got {value!r}")
        return value

    @field_validator("severities")
    @classmethod
    def _some_severities(cls, value: list[Severity] | None) -> list[Severity] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one of 'ticket' and 'page' (leave it out for both)")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a severity twice: {value}")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookDestination:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"webhook {self.name!r}: give either url or url_env")
        if self.severities is not None and self.min_severity is not None:
            raise ValueError(
                f"webhook {self.name!r}: give severities or min_severity, not both "
                "(min_severity: page is severities: [page])"
            )
        return self

    @property
    def receives(self) -> frozenset[Severity]:
        """The severities of the alerts this destination is sent."""
        if self.severities is not None:
            return frozenset(self.severities)
        if self.min_severity == "page":
            return frozenset({"page"})
        return frozenset({"ticket", "page"})


class CeleryExecution(Strict):
    """Run each step of ``monitor_models_job`` on Celery workers (dagster-celery) instead of
    in the process that orchestrates the run: ``monitoring-pipeline worker`` starts them on
    any machine that reaches the broker and the shared PostgreSQL.

    ``broker``: the broker URL (``redis://host:6379/0``), or ``broker_env``: the environment
    variable holding it, read where a run or a worker starts (a broker URL may carry a
    password: keep it out of the file). ``backend``/``backend_env``: where workers put
    step results (default: the broker). Days still run in date order (a day's error budget
    reads the days before it); the steps of one day, every model's chain, fan out.
    """

    broker: str | None = None
    broker_env: str | None = None
    backend: str | None = None
    backend_env: str | None = None

    @field_validator("broker_env", "backend_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"must name an environment variable (A-Z, 0-9, _), got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_each(self) -> CeleryExecution:
        if (self.broker is None) == (self.broker_env is None):
            raise ValueError("execution.celery: give either broker or broker_env")
        if self.backend is not None and self.backend_env is not None:
            raise ValueError("execution.celery: give backend or backend_env, not both")
        return self


class ExecutionConfig(Strict):
    """Where the steps of a monitoring run execute: in the run's own process (default), or
    on Celery workers (``celery``)."""

    celery: CeleryExecution | None = None


class AlertCooldown(Strict):
    """Days after a resolve during which a new alert of that severity is held back."""

    ticket: int = Field(default=7, ge=1, le=365)
    page: int = Field(default=3, ge=1, le=365)


class HealthChecksMissing(Strict):
    """When a model's pipeline_health rows count as missing (the scheduler stopped).

    Judged only while ``schedule.enabled``: the newest health day of a model must be at
    least ``schedule.lag_days + grace_days`` days before today (UTC), else ``severity``.
    """

    grace_days: int = Field(default=1, ge=0, le=30)
    severity: Severity = "page"


class AlertingConfig(Strict):
    """Alerts from error budgets and pipeline health: how often to look, cooldowns, where
    to deliver."""

    check_every_seconds: int = Field(default=120, ge=30)
    cooldown_days: AlertCooldown = AlertCooldown()
    health_checks_missing: HealthChecksMissing = HealthChecksMissing()
    webhooks: list[WebhookDestination] = []

    @field_validator("webhooks")
    @classmethod
    def _distinct(cls, value: list[WebhookDestination]) -> list[WebhookDestination]:
        names = [w.name for w in value]
        if len(set(names)) != len(names):
            raise ValueError("two webhooks share a name")
        return value


class LinksConfig(Strict):
    """Where people follow an alert or a check to: the Dagster UI and the HTML reports.

    ``reports_dir``: where the ``report`` asset and command write
    ``<model>/<day>.html`` (default ``$MONITORING_HOME/reports``). ``reports_base_url``:
    the address those files are served under (a link is then
    ``<reports_base_url>/<model>/<day>.html``); when unset, links are ``file://`` paths.
    """

    dagster_url: str = "http://127.0.0.1:3000"
    reports_dir: str | None = None
    reports_base_url: str | None = None

    @field_validator("dagster_url", "reports_base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None


class Defaults(Strict):
    min_cohort_size: int = Field(default=50, ge=1)
    quality: QualityConfig = QualityConfig()
    # Predictions read, validated, joined and written per step of labeled_predictions: the
    # memory of that step grows with it, not with the day. Larger chunks were measured
    # slower and hungrier (1.13M-row day: 100k 37 s / 0.97 GiB, 500k 46 s / 1.79 GiB).
    ingest_chunk_rows: int = Field(default=100_000, ge=1)
    # The most an SLO of each SLI source may raise when it sets no max_severity of its own;
    # sources not listed keep BUILTIN_MAX_SEVERITY (drift: ticket), others page.
    max_severity: dict[SLISource, Severity] = {}


class MonitoringConfig(Strict):
    """The whole file."""

    partitions_start: date
    timezone: Literal["UTC"] = "UTC"
    schedule: ScheduleConfig = ScheduleConfig()
    late_labels: LateLabelsConfig = LateLabelsConfig()
    defaults: Defaults = Defaults()
    health: HealthConfig = HealthConfig()
    alerting: AlertingConfig = AlertingConfig()
    links: LinksConfig = LinksConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    execution: ExecutionConfig = ExecutionConfig()
    models: dict[str, ModelConfig]

    @field_validator("models")
    @classmethod
    def _names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        if not value:
            raise ValueError("configure at least one model")
        for name in value:
            if not IDENTIFIER.match(name):
                raise ValueError(f"model name {name!r} must be lower_snake_case")
        return value

    def slo_max_severity(self, slo: SLOConfig) -> Severity:
        """The most ``slo`` may raise: its own ``max_severity``, else ``defaults.max_severity``
        of its SLI source, else ``BUILTIN_MAX_SEVERITY``, else page."""
        if slo.max_severity is not None:
            return slo.max_severity
        source = slo.sli.source
        return self.defaults.max_severity.get(source) or BUILTIN_MAX_SEVERITY.get(source, "page")

    def min_cohort_size(self, model_name: str) -> int:
        return self.models[model_name].cohorts.min_size or self.defaults.min_cohort_size

    def quality(self, model_name: str) -> QualityConfig:
        return self.models[model_name].quality or self.defaults.quality

    def health_config(self, model_name: str) -> HealthConfig:
        """The model's health thresholds: its ``health`` keys over the top-level ones."""
        own = self.models[model_name].health
        return self.health if own is None else overlay(self.health, own)

    def min_cell_size(self, model_name: str) -> int:
        """The model's privacy threshold: its own ``privacy.min_cell_size``, else the
        top-level one."""
        own = self.models[model_name].privacy
        return (own or self.privacy).min_cell_size

    def ingest_chunk_rows(self, model_name: str) -> int:
        return self.models[model_name].ingest_chunk_rows or self.defaults.ingest_chunk_rows
