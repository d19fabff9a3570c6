"""Great Expectations 1.x suites for a day's prediction log, grouped into Dagster checks.

The suite runs on the day's rows as read from the source (standard column names, before
quarantine), so it measures the source as it is. Row-level rules carry a ``mostly``
tolerance: a handful of malformed rows is quarantined and the day goes on; a systemic
problem fails a blocking check and stops the metrics of that day.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKS",
    "CheckSpec",
    "ExpectationOutcome",
    "QualitySpec",
    "run_expectations",
    "summarize_checks",
]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    blocking: bool
    description: str


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("schema", True, "Required columns are present with usable types."),
    CheckSpec(
        "keys_and_ranges",
        True,
        "Ids present and unique, scored_at and model_version present, score in [0, 1], "
        "decision in {0, 1}, each within the malformed-row tolerance.",
    ),
    CheckSpec("cohort_values", True, "Cohort attributes present and within their allowed values."),
    CheckSpec("row_count", True, "Row count within the configured range of recent days' median."),
    CheckSpec("feature_nulls", False, "Watched features within the null-share tolerance."),
)

NUMERIC_TYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "Int8", "Int16", "Int32", "Int64", "float16", "float32", "float64", "Float32", "Float64",
    "double[pyarrow]", "int64[pyarrow]",
]  # fmt: skip


@dataclass(frozen=True)
class QualitySpec:
    """What to expect of one model's prediction log (standard column names)."""

    cohort_values: Mapping[str, Sequence[str]]
    numeric_features: Sequence[str] = ()
    categorical_features: Sequence[str] = ()
    has_decision_column: bool = True
    max_malformed_share: float = 0.01
    max_feature_null_share: float = 0.05
    row_count_range: tuple[int, int] | None = None
    row_count_basis: str = "no history: at least one row"
    required_columns: Sequence[str] = field(
        default=("prediction_id", "scored_at", "model_version", "score")
    )


@dataclass(frozen=True)
class ExpectationOutcome:
    check_name: str
    expectation: str
    column_name: str | None
    success: bool
    blocking: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_share: float | None
    observed_value: str | None
    tolerance: str | None


def _build_suite(spec: QualitySpec, columns: Sequence[str]) -> list[tuple[str, Any, str]]:
    import great_expectations.expectations as gxe

    mostly = round(1.0 - spec.max_malformed_share, 10)
    row_mostly = f"mostly={mostly:g}"
    suite: list[tuple[str, Any, str]] = []
    required = [*spec.required_columns, *(["decision"] if spec.has_decision_column else [])]
    required += [*spec.cohort_values, *spec.numeric_features, *spec.categorical_features]
    suite.append(
        (
            "schema",
            gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False),
            "all present",
        )
    )
    # Types are checked where pandas' dtype names are stable across sources (numbers).
    # Ids and times are checked by parsing: unparseable values count as missing below.
    typed = ["score", *(["decision"] if spec.has_decision_column else []), *spec.numeric_features]
    for column in typed:
        if column in columns:
            suite.append(
                (
                    "schema",
                    gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES),
                    "numeric type",
                )
            )

    present = [c for c in ("prediction_id", "scored_at", "model_version", "score") if c in columns]
    for column in present:
        suite.append(
            (
                "keys_and_ranges",
                gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly),
                row_mostly,
            )
        )
    if "prediction_id" in columns:
        suite.append(
            (
                "keys_and_ranges",
                gxe.ExpectColumnValuesToBeUnique(column="prediction_id", mostly=mostly),
                row_mostly,
            )
        )
    if "score" in columns:
        suite.append(
            (
                "keys_and_ranges",
                gxe.ExpectColumnValuesToBeBetween(
                    column="score", min_value=0, max_value=1, mostly=mostly
                ),
                row_mostly,
            )
        )
    if spec.has_decision_column and "decision" in columns:
        suite.append(
            (
                "keys_and_ranges",
                gxe.ExpectColumnValuesToNotBeNull(column="decision", mostly=mostly),
                row_mostly,
            )
        )
        suite.append(
            (
                "keys_and_ranges",
                gxe.ExpectColumnValuesToBeInSet(column="decision", value_set=[0, 1], mostly=mostly),
                row_mostly,
            )
        )
    for attribute, allowed in spec.cohort_values.items():
        if attribute in columns:
            suite.append(
                (
                    "cohort_values",
                    gxe.ExpectColumnValuesToNotBeNull(column=attribute, mostly=mostly),
                    row_mostly,
                )
            )
            suite.append(
                (
                    "cohort_values",
                    gxe.ExpectColumnValuesToBeInSet(
                        column=attribute, value_set=list(allowed), mostly=mostly
                    ),
                    row_mostly,
                )
            )
    low, high = spec.row_count_range or (1, None)
    suite.append(
        (
            "row_count",
            gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
            spec.row_count_basis,
        )
    )
    feature_mostly = round(1.0 - spec.max_feature_null_share, 10)
    for feature in [*spec.numeric_features, *spec.categorical_features]:
        if feature in columns:
            suite.append(
                (
                    "feature_nulls",
                    gxe.ExpectColumnValuesToNotBeNull(column=feature, mostly=feature_mostly),
                    f"mostly={feature_mostly:g}",
                )
            )
    return suite  # fmt: skip


def run_expectations(frame: pd.DataFrame, spec: QualitySpec) -> list[ExpectationOutcome]:
    """Validate ``frame`` with Great Expectations; one outcome per expectation, in suite order.

    ``frame`` has standard column names and the source's own types; ``scored_at`` is parsed
    first so that unparseable times count as missing.
    """
    # No usage statistics from a pipeline that runs on closed networks.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    blocking = {check.name: check.blocking for check in CHECKS}
    planned = _build_suite(spec, list(frame.columns))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("predictions")
        .add_dataframe_asset("day")
        .add_batch_definition_whole_dataframe("whole_day")
    )
    # All at once: adding one by one re-serializes the whole suite each time (quadratic).
    suite = context.suites.add(
        gx.ExpectationSuite(name="prediction_log", expectations=[e for _, e, _ in planned])
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="prediction_log", data=batch, suite=suite)
    )
    if "scored_at" in frame.columns:
        parsed = pd.to_datetime(frame["scored_at"], utc=True, errors="coerce", format="mixed")
        frame = frame.assign(scored_at=parsed)
    result = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    by_id = {r.expectation_config.id: r for r in result.results}
    outcomes = []
    for check_name, expectation, tolerance in planned:
        r = by_id[expectation.id]
        details = r.result or {}
        unexpected_percent = details.get("unexpected_percent")
        observed = details.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                check_name=check_name,
                expectation=r.expectation_config.type,
                column_name=r.expectation_config.kwargs.get("column"),
                success=bool(r.success),
                blocking=blocking[check_name],
                element_count=details.get("element_count"),
                unexpected_count=details.get("unexpected_count"),
                unexpected_share=None if unexpected_percent is None else unexpected_percent / 100.0,
                observed_value=None if observed is None else str(observed),
                tolerance=tolerance,
            )
        )
    return outcomes


def summarize_checks(outcomes: Sequence[ExpectationOutcome]) -> dict[str, dict[str, Any]]:
    """Per check: passed (all its expectations held), blocking, and the failed expectations."""
    summary: dict[str, dict[str, Any]] = {}
    for check in CHECKS:
        mine = [o for o in outcomes if o.check_name == check.name]
        failed = [o for o in mine if not o.success]
        summary[check.name] = {
            "passed": not failed,
            "blocking": check.blocking,
            "evaluated": len(mine),
            "failed": [
                f"{o.expectation}({o.column_name or 'table'}): "
                + (
                    f"{o.unexpected_count} unexpected ({(o.unexpected_share or 0):.2%})"
                    if o.unexpected_count is not None
                    else f"observed {o.observed_value}"
                )
                + f" [{o.tolerance}]"
                for o in failed
            ],
        }
    return summary
