"""Great Expectations 1.x suites for a day's prediction log, grouped into Dagster checks.

The suite runs on the day's rows as read from the source (standard column names, before
quarantine), so it measures the source as it is. Row-level rules carry a ``mostly``
tolerance: a handful of malformed rows is quarantined and the day goes on; a systemic
problem fails a blocking check and stops the metrics of that day.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from monitoring_pipeline.core.validation import stored_text
from monitoring_pipeline.core.value_text import is_text

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKS",
    "CheckSpec",
    "ChunkedExpectations",
    "GX_BATCH_ROWS",
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
    # Logged attributions and the serving latency: present and numeric; they may be missing
    # on some rows (a version without an explainer, a lost timing), so no null-share check.
    optional_numeric_columns: Sequence[str] = ()
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
    required += list(spec.optional_numeric_columns)
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
    typed += list(spec.optional_numeric_columns)
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
    # Bounds given at validation (row_count_parameters): they change every day, the suite
    # need not.
    suite.append(
        (
            "row_count",
            gxe.ExpectTableRowCountToBeBetween(
                min_value={"$PARAMETER": "min_rows"}, max_value={"$PARAMETER": "max_rows"}
            ),
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


# What GX returns per expectation: counts (element, missing, unexpected), shares and the
# observed value, which is all an outcome holds. "SUMMARY" also lists the index of every
# unexpected row and tallies the unexpected values: it took 1.5x the time of a run.
RESULT_FORMAT = "BASIC"


def row_count_parameters(spec: QualitySpec) -> dict[str, int | None]:
    """The row-count expectation's bounds, as the suite parameters it reads."""
    low, high = spec.row_count_range or (1, None)
    return {"min_rows": low, "max_rows": high}


# Held while the context is made: a step's first suite waits for an import begun by
# import_great_expectations_in_background instead of importing GX a second time.
_CONTEXT_LOCK = threading.Lock()


def import_great_expectations_in_background() -> None:
    """Import GX and make its context on a thread of its own (~1.5 s in a fresh process,
    interpreting Python), while the caller waits on its database; the first suite then
    finds them ready. A failure here is raised again by the first suite, on the caller."""
    if _made_context.cache_info().currsize:
        return

    def make() -> None:
        with contextlib.suppress(Exception):
            _gx_context()

    threading.Thread(target=make, name="gx-import", daemon=True).start()


def _gx_context():
    """One ephemeral GX context per process (GX imported on first use)."""
    with _CONTEXT_LOCK:
        return _made_context()


@functools.cache
def _made_context():
    # No usage statistics from a pipeline that runs on closed networks.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _skip_batch_fingerprint()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


def _skip_batch_fingerprint() -> None:
    """Stop GX hashing every row of each batch it is handed.

    GX's pandas engine fingerprints a frame below ``HASH_THRESHOLD`` bytes (an md5 over
    ``pd.util.hash_pandas_object``) as a batch marker: metadata for stored validation
    results, which this project does not keep in GX (outcomes go to Postgres). It cost as
    much as the 56 expectations themselves (1.1 s per million rows). Results are unchanged.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    else:  # a GX upgrade renamed it: still correct, only slower
        logger.warning("great_expectations no longer has HASH_THRESHOLD: batches are hashed")


@dataclass(frozen=True)
class _Validation:
    """A suite and the batch definition of a pandas frame given at run time."""

    batch_definition: Any
    suite: Any

    def run(self, frame: pd.DataFrame, parameters: Mapping[str, Any] | None = None):
        # Batch.validate rather than a ValidationDefinition: the same validator, without
        # serializing every result into the context's (here unused) results store.
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(
            self.suite, result_format=RESULT_FORMAT, expectation_parameters=dict(parameters or {})
        )


@dataclass(frozen=True)
class _Suites:
    """A spec's suite ready to run, its expectations in suite order in ``planned`` (check,
    expectation, tolerance): whole (a frame at once), or per chunk (all but the day-level
    ones) and for the day (the row count alone), which share one set of expectations."""

    planned: list[tuple[str, Any, str]]
    whole: _Validation | None = None
    chunk: _Validation | None = None
    day: _Validation | None = None


_SUITES: dict[tuple[bool, str], _Suites] = {}
_SUITES_LOCK = threading.Lock()
_SUITE_NUMBERS = itertools.count()  # names in the process' one GX context are unique


def _suites(spec: QualitySpec, columns: Sequence[str], *, chunked: bool) -> _Suites:
    """The suites of ``spec`` over ``columns``, built once per process: each day reuses them
    (building one costs ~35 ms; the row count's daily bounds are validation parameters).
    The planned tolerances are this spec's (the row count's basis changes daily)."""
    # Everything the suite depends on: the spec but its daily row-count fields, the columns.
    spec_key = dataclasses.replace(spec, row_count_range=None, row_count_basis="")
    key = (chunked, repr((spec_key, *columns)))
    with _SUITES_LOCK:
        suites = _SUITES.get(key)
        if suites is None:
            gx, context = _gx_context()
            # Its own expectation objects: GX sets the id of each expectation it is handed.
            planned = _build_suite(spec, list(columns))
            name = f"prediction_log_{next(_SUITE_NUMBERS)}"
            if chunked:
                per_chunk = [e for _, e, _ in planned if e.expectation_type not in DAY_LEVEL]
                row_count = [e for _, e, _ in planned if e.expectation_type == DAY_LEVEL[0]]
                suites = _Suites(
                    planned,
                    chunk=_validator(gx, context, f"{name}_chunk", per_chunk),
                    day=_validator(gx, context, f"{name}_day", row_count),
                )
            else:
                suites = _Suites(
                    planned, whole=_validator(gx, context, name, [e for _, e, _ in planned])
                )
            _SUITES[key] = suites
    planned = [
        (check, e, spec.row_count_basis if check == "row_count" else tolerance)
        for check, e, tolerance in suites.planned
    ]
    return dataclasses.replace(suites, planned=planned)


def _validator(gx, context, name: str, expectations: list) -> _Validation:
    """``expectations`` as a suite, ready to validate pandas frames given at run time."""
    batch_definition = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset("day")
        .add_batch_definition_whole_dataframe("whole_day")
    )
    # All at once: adding one by one re-serializes the whole suite each time (quadratic).
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    return _Validation(batch_definition, suite)


def _as_judged(frame: pd.DataFrame, spec: QualitySpec) -> pd.DataFrame:
    """``frame`` as the suite judges it: unparseable scoring times count as missing, and
    cohort values that are not text are the text they would be stored as (validation's
    ``stored_text``: an integer code read as a float is ``1``, as the allowed values say,
    not ``1.0``); text is judged as it came."""
    judged = {}
    if "scored_at" in frame.columns:
        judged["scored_at"] = pd.to_datetime(
            frame["scored_at"], utc=True, errors="coerce", format="mixed"
        )
    for attribute in spec.cohort_values:
        if attribute in frame.columns and not is_text(frame[attribute]):
            judged[attribute] = stored_text(frame[attribute])
    return frame.assign(**judged) if judged else frame


def _outcome(check_name: str, r, tolerance: str) -> ExpectationOutcome:
    details = r.result or {}
    unexpected_percent = details.get("unexpected_percent")
    observed = details.get("observed_value")
    return ExpectationOutcome(
        check_name=check_name,
        expectation=r.expectation_config.type,
        column_name=r.expectation_config.kwargs.get("column"),
        success=bool(r.success),
        blocking={check.name: check.blocking for check in CHECKS}[check_name],
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_share=None if unexpected_percent is None else unexpected_percent / 100.0,
        observed_value=None if observed is None else str(observed),
        tolerance=tolerance,
    )


def run_expectations(frame: pd.DataFrame, spec: QualitySpec) -> list[ExpectationOutcome]:
    """Validate ``frame`` with Great Expectations; one outcome per expectation, in suite order.

    ``frame`` has standard column names and the source's own types; ``scored_at`` is parsed
    first so that unparseable times count as missing. For a day read in chunks use
    :class:`ChunkedExpectations`, which gives the same outcomes.
    """
    suites = _suites(spec, list(frame.columns), chunked=False)
    result = suites.whole.run(_as_judged(frame, spec), row_count_parameters(spec))
    by_id = {r.expectation_config.id: r for r in result.results}
    return [_outcome(check, by_id[e.id], tolerance) for check, e, tolerance in suites.planned]


# Rows gathered into one GX run by ChunkedExpectations (see there): the held rows cost
# ~0.3 KB each in a day with 20 features (x2 while concatenated, and GX's own copies), fewer
# runs save ~0.2 s each. 200,000 (two default chunks): a 1.1M-row day's step peaked at
# 1,142 MiB against 1,332 MiB with 500,000, for ~1 s more (six GX runs instead of three).
GX_BATCH_ROWS = 200_000

# Judged once on the whole day rather than per chunk (see ChunkedExpectations).
DAY_LEVEL = ("expect_table_row_count_to_be_between", "expect_column_values_to_be_unique")
# Whose "unexpected" share GX takes over all rows; the other map expectations take it over
# the non-null rows (and skip nulls).
OVER_ALL_ROWS = ("expect_column_values_to_not_be_null",)


@dataclass
class _Tally:
    """Counts of one row-level expectation summed over chunks."""

    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    first: Any = None  # the first chunk's result: schema-level figures are the same in each
    failed: Any = None  # the first failing chunk's result (for schema-level expectations)


class ChunkedExpectations:
    """The suite of :func:`run_expectations` over a day fed chunk by chunk, merged exactly.

    Chunks are gathered into GX batches of at least ``batch_rows`` rows (each GX run costs
    ~0.2 s whatever its size: building the metric graph of 56 expectations), so a day of
    100,000-row chunks takes one run per ``batch_rows``, not one per chunk. Row-level
    expectations run per batch with Great Expectations; their counts add, and the share and
    success are recomputed from the sums the way GX computes them (not-null: over all rows;
    between / in-set: over non-null rows; success iff the share of good rows reaches
    ``mostly``). Schema expectations (column set, types) hold for the day when they hold in
    every batch. Two expectations are judged once on the day: the row count (GX on a frame
    of the day's length and no columns, so nothing is held) and id uniqueness, whose
    unexpected rows (those whose id occurs more than once in the day) the caller counts in a
    pre-pass over the ids, since no batch alone can see a repeat in another batch.

    >>> # quality = ChunkedExpectations(spec, columns); quality.add(chunk) ...;
    >>> # outcomes = quality.finish(duplicated_id_rows=n)
    """

    def __init__(
        self, spec: QualitySpec, columns: Sequence[str], *, batch_rows: int = GX_BATCH_ROWS
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        self._spec = spec
        self._batch_rows = batch_rows
        suites = _suites(spec, columns, chunked=True)
        self._planned = suites.planned
        self._chunk_validation = suites.chunk
        self._day_validation = suites.day
        self._tallies = {id(e): _Tally() for _, e, _ in self._planned}
        # GX gives ids to the expectations it was handed (the uniqueness rule has none).
        self._by_gx_id = {e.id: e for _, e, _ in self._planned if e.id is not None}
        self._rows = 0
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Take one chunk of the day's rows (standard column names, source types); GX runs
        once ``batch_rows`` rows are gathered (and on what is left in :meth:`finish`)."""
        self._rows += len(chunk)
        # Parsed now: a parsed time is smaller to hold than its text.
        self._pending.append(_as_judged(chunk, self._spec))
        self._pending_rows += len(chunk)
        if self._pending_rows >= self._batch_rows:
            self._validate_pending()

    def _validate_pending(self) -> None:
        parts, self._pending, self._pending_rows = self._pending, [], 0
        batch = parts[0] if len(parts) == 1 else pd.concat(parts)
        del parts  # the concatenated copy replaces the chunks
        result = self._chunk_validation.run(batch)
        for r in result.results:
            tally = self._tallies[id(self._by_gx_id[r.expectation_config.id])]
            details = r.result or {}
            tally.element_count += details.get("element_count") or 0
            tally.missing_count += details.get("missing_count") or 0
            tally.unexpected_count += details.get("unexpected_count") or 0
            if tally.first is None:
                tally.first = r
            if not r.success and tally.failed is None:
                tally.failed = r

    def finish(self, *, duplicated_id_rows: int) -> list[ExpectationOutcome]:
        """The day's outcomes, in suite order. ``duplicated_id_rows``: rows whose non-null
        raw id occurs more than once in the day."""
        if self._pending:  # also a day of one empty chunk: its schema is still checked
            self._validate_pending()
        # A frame with the day's length and no columns: its index is a range, O(1) memory.
        day_frame = pd.DataFrame(index=pd.RangeIndex(self._rows))
        result = self._day_validation.run(day_frame, row_count_parameters(self._spec))
        (row_count,) = result.results
        outcomes = []
        for check, expectation, tolerance in self._planned:
            kind = expectation.expectation_type
            if kind == DAY_LEVEL[0]:
                outcomes.append(_outcome(check, row_count, tolerance))
            elif kind == DAY_LEVEL[1]:
                outcomes.append(self._uniqueness(check, expectation, tolerance, duplicated_id_rows))
            elif kind.startswith("expect_column_values_to_") and self._counted(expectation):
                outcomes.append(self._row_level(check, expectation, tolerance))
            else:
                tally = self._tallies[id(expectation)]
                shown = tally.failed if tally.failed is not None else tally.first
                outcomes.append(_outcome(check, shown, tolerance))
        return outcomes

    def _counted(self, expectation) -> bool:
        """Whether GX counted rows for it: always for value rules; for the type rule only on
        an object column, whose values GX then checks one by one."""
        first = self._tallies[id(expectation)].first
        return first is None or (first.result or {}).get("element_count") is not None

    def _row_level(self, check: str, expectation, tolerance: str) -> ExpectationOutcome:
        tally = self._tallies[id(expectation)]
        over_all = expectation.expectation_type in OVER_ALL_ROWS
        considered = tally.element_count - (0 if over_all else tally.missing_count)
        return self._merged(
            check, expectation, tolerance, tally.element_count, considered, tally.unexpected_count
        )

    def _uniqueness(self, check: str, expectation, tolerance: str, duplicated: int):
        # Non-null ids: what the not-null expectation on prediction_id counted.
        not_null = next(
            e
            for _, e, _ in self._planned
            if e.expectation_type == "expect_column_values_to_not_be_null"
            and e.column == "prediction_id"
        )
        tally = self._tallies[id(not_null)]
        non_null = tally.element_count - tally.unexpected_count
        return self._merged(check, expectation, tolerance, self._rows, non_null, duplicated)

    def _merged(
        self, check, expectation, tolerance, elements: int, considered: int, unexpected: int
    ) -> ExpectationOutcome:
        """GX's own arithmetic (``_mostly_success`` and ``_format_map_output``) on sums."""
        mostly = expectation.mostly if expectation.mostly is not None else 1.0
        if elements == 0 or considered == 0:
            success = True  # vacuously, as GX says
        else:
            success = (float(considered) - float(unexpected)) / float(considered) >= mostly
        percent = unexpected / considered * 100 if elements > 0 and considered > 0 else None
        return ExpectationOutcome(
            check_name=check,
            expectation=expectation.expectation_type,
            column_name=expectation.column,
            success=success,
            blocking={c.name: c.blocking for c in CHECKS}[check],
            element_count=elements,
            unexpected_count=unexpected,
            unexpected_share=None if percent is None else percent / 100.0,
            observed_value=None,
            tolerance=tolerance,
        )


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
