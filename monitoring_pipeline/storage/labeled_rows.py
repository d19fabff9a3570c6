"""How a labeled prediction is stored: typed columns and value arrays, not JSON.

``monitoring.labeled_prediction_rows`` keeps cohort values and feature values in arrays
(text / double precision / text) whose positions ``monitoring.labeled_prediction_layouts``
names per partition; the ``monitoring.labeled_predictions`` view rebuilds the JSON objects
analysts query. Storing ~20 feature values per row typed, sent with binary COPY, costs
PostgreSQL a fraction of parsing and storing them as JSON (see sql/012).

Value rules (the same as reading the former JSON back with ``->>``):
- numeric features: numbers, and text holding a number (surrounding blanks allowed), become
  double precision; missing and non-finite values are NULL; anything else (a word, a
  boolean) is NULL too and kept verbatim in ``unparsed_features``;
- categorical features and cohort attributes: text; numbers as written (integers without a
  decimal point), booleans ``true``/``false``, missing values NULL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_pipeline.core.value_text import is_missing, text_values

ROWS_TABLE = "labeled_prediction_rows"
LAYOUTS_TABLE = "labeled_prediction_layouts"

# Arrow types that binary COPY sends as the column's own PostgreSQL type.
ROW_SCHEMA = pa.schema(
    [
        ("partition_date", pa.date32()),
        ("model_name", pa.string()),
        ("prediction_id", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        ("model_version", pa.string()),
        ("score", pa.float64()),
        ("decision", pa.int16()),
        ("label", pa.int16()),
        ("first_labelled_at", pa.timestamp("us", tz="UTC")),
        ("labelled_at", pa.timestamp("us", tz="UTC")),
        ("label_lag_hours", pa.float64()),
        ("label_revisions", pa.int32()),
        ("cohort_values", pa.list_(pa.string())),
        ("numeric_features", pa.list_(pa.float64())),
        ("categorical_features", pa.list_(pa.string())),
        ("unparsed_features", pa.string()),  # jsonb
    ]
)
JSONB_COLUMNS = ("unparsed_features",)

# A number's text (after trimming blanks): what counts as a number in a numeric feature.
NUMBER_PATTERN = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"


def labeled_rows(
    frame: pd.DataFrame,
    *,
    cohort_attributes: Sequence[str],
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
) -> pa.Table:
    """``frame`` (the labeled rows: the scalar columns of ``ROW_SCHEMA`` plus one column per
    cohort attribute and feature, values as read) as a table of ``ROW_SCHEMA``."""
    n = len(frame)
    columns: dict[str, pa.Array] = {}
    for field in ROW_SCHEMA:
        if field.name in frame.columns:
            columns[field.name] = _scalar(frame[field.name], field.type)
    columns["cohort_values"] = _list_of(
        [text_values(frame[name]) for name in cohort_attributes], n, pa.string()
    )
    numbers, unparsed = [], {}
    for name in numeric_features:
        parsed, rejected = numeric_values(frame[name])
        numbers.append(parsed)
        if rejected is not None:
            unparsed[name] = rejected
    columns["numeric_features"] = _list_of(numbers, n, pa.float64())
    columns["categorical_features"] = _list_of(
        [text_values(frame[name]) for name in categorical_features], n, pa.string()
    )
    columns["unparsed_features"] = _unparsed_json(unparsed, n)
    return pa.Table.from_arrays([columns[field.name] for field in ROW_SCHEMA], schema=ROW_SCHEMA)


def stored_values(rows: pa.Table, cohort_attributes: Sequence[str]) -> pd.DataFrame:
    """``model_version, score, decision, label`` (label float, NaN while unlabelled) and one
    text column per cohort attribute of ``rows`` (a :func:`labeled_rows` table): the values
    as stored, what ``reads.iter_labeled_predictions`` reads back.

    >>> rows = pa.table({"model_version": ["v1", "v1"], "score": [0.2, 0.9],
    ...     "decision": pa.array([0, 1], pa.int16()), "label": pa.array([None, 1], pa.int16()),
    ...     "cohort_values": [["f", "30"], ["m", None]]})
    >>> stored_values(rows, ["sex", "age"]).to_dict("list")
    {'model_version': ['v1', 'v1'], 'score': [0.2, 0.9], 'decision': [0, 1], 'label': [nan, 1.0], 'sex': ['f', 'm'], 'age': ['30', nan]}
    """
    frame = rows.select(["model_version", "score", "decision", "label"]).to_pandas()
    frame["label"] = frame["label"].astype("float64")
    _add_elements(frame, rows.column("cohort_values"), cohort_attributes, cohort_attributes)
    return frame


def stored_feature_values(
    rows: pa.Table,
    layout: Mapping[str, Sequence[str]],
    *,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    cohort_attributes: Sequence[str],
) -> pd.DataFrame:
    """``score``, the ``numeric_features`` (floats, NaN where stored NULL), the
    ``categorical_features`` and ``cohort_attributes`` (text) of ``rows``, a
    :func:`labeled_rows` table written with ``layout`` (the names of its arrays'
    positions): the values as stored, what ``reads.iter_feature_values`` reads back."""
    frame = rows.select(["score"]).to_pandas()
    _add_elements(
        frame, rows.column("numeric_features"), layout["numeric_features"], numeric_features
    )
    _add_elements(
        frame,
        rows.column("categorical_features"),
        layout["categorical_features"],
        categorical_features,
    )
    _add_elements(
        frame, rows.column("cohort_values"), layout["cohort_attributes"], cohort_attributes
    )
    return frame


def _add_elements(
    frame: pd.DataFrame, arrays: pa.ChunkedArray, positions: Sequence[str], names: Sequence[str]
) -> None:
    """Each of ``names`` as a column of ``frame``: its element of ``arrays`` (one list per
    row, named by ``positions``)."""
    positions = list(positions)
    lists = arrays.combine_chunks() if isinstance(arrays, pa.ChunkedArray) else arrays
    width = len(positions)
    if not _fixed_width(lists, width):
        for name in names:
            frame[name] = pc.list_element(lists, positions.index(name)).to_pandas()
        return
    # Every row a list of ``width`` (as labeled_rows writes them): element j of each row is
    # every width-th value from j, read by a reshape (floats) or a strided take (text),
    # ~4x faster than list_element's per-row walk.
    values = lists.flatten()
    if pa.types.is_floating(values.type):
        matrix = values.to_numpy(zero_copy_only=False).reshape(-1, width)
        for name in names:
            frame[name] = matrix[:, positions.index(name)]
        return
    for name in names:
        taken = values.take(np.arange(positions.index(name), len(values), width))
        frame[name] = taken.to_pandas()


def _fixed_width(lists: pa.ListArray, width: int) -> bool:
    """Whether every row of ``lists`` is a list (not null) of ``width`` values."""
    if lists.null_count or width == 0:
        return False
    return len(lists) == 0 or pc.all(pc.equal(pc.list_value_length(lists), width)).as_py()


LAYOUT_SCHEMA = pa.schema(
    [
        ("partition_date", pa.date32()),
        ("model_name", pa.string()),
        ("cohort_attributes", pa.list_(pa.string())),
        ("numeric_features", pa.list_(pa.string())),
        ("categorical_features", pa.list_(pa.string())),
    ]
)


def layout_table(
    partition_date: date,
    model_name: str,
    *,
    cohort_attributes: Sequence[str],
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
) -> pa.Table:
    """The partition's ``labeled_prediction_layouts`` row: the names of the arrays' positions."""
    row = {
        "partition_date": partition_date,
        "model_name": model_name,
        "cohort_attributes": list(cohort_attributes),
        "numeric_features": list(numeric_features),
        "categorical_features": list(categorical_features),
    }
    return pa.Table.from_pylist([row], schema=LAYOUT_SCHEMA)


def _scalar(series: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(arrow_type):
        values = pd.to_datetime(series, utc=True)
        return pa.array(values, type=pa.timestamp("ns", tz="UTC"), from_pandas=True).cast(
            arrow_type
        )
    if pa.types.is_date32(arrow_type):
        return pa.array(pd.to_datetime(series).dt.date, type=arrow_type, from_pandas=True)
    if pa.types.is_integer(arrow_type):
        values = pa.array(series, from_pandas=True)
        return pc.cast(values, arrow_type)  # safe cast: fails on fractions or overflow
    return pc.cast(pa.array(series, from_pandas=True), arrow_type)


def _list_of(columns: list[pa.Array], n: int, value_type: pa.DataType) -> pa.Array:
    """Row i = [columns[0][i], columns[1][i], ...]: interleaved without a Python loop."""
    width = len(columns)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * width)
    if width == 0:
        return pa.ListArray.from_arrays(offsets, pa.array([], type=value_type))
    stacked = pa.concat_arrays([_contiguous(c).cast(value_type) for c in columns])
    order = (np.arange(width)[None, :] * n + np.arange(n)[:, None]).ravel()
    return pa.ListArray.from_arrays(offsets, stacked.take(pa.array(order)))


def _contiguous(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """pandas' Arrow-backed columns convert to chunked arrays: one array, please."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def numeric_values(series: pd.Series) -> tuple[pa.Array, pa.Array | None]:
    """(float64 values, the values that are not numbers as JSON text or None if there are
    none). Missing and non-finite values are null in both: they are missing, not wrong."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = pa.array(series, type=pa.bool_(), from_pandas=True)
        return pa.nulls(len(series), pa.float64()), pc.if_else(values, "true", "false")
    if pd.api.types.is_numeric_dtype(dtype):
        values = pa.array(series.astype("float64"), type=pa.float64(), from_pandas=True)
        return _finite(values), None
    objects = series.astype(object).to_numpy()
    numbers = np.full(len(objects), np.nan)
    rejected: list[str | None] = [None] * len(objects)
    text = pd.Series(objects).map(lambda v: v if isinstance(v, str) else None)
    trimmed = pa.array(text, type=pa.string(), from_pandas=True)
    trimmed = pc.utf8_trim_whitespace(trimmed)
    looks_numeric = pc.fill_null(pc.match_substring_regex(trimmed, NUMBER_PATTERN), False)
    parsed_text = pc.cast(
        pc.if_else(looks_numeric, trimmed, pa.scalar(None, pa.string())), pa.float64()
    ).to_numpy(zero_copy_only=False)
    looks_numeric = looks_numeric.to_numpy(zero_copy_only=False)
    any_rejected = False
    for i, value in enumerate(objects):
        if is_missing(value):
            continue
        if isinstance(value, bool | np.bool_):
            rejected[i], any_rejected = ("true" if value else "false"), True
        elif isinstance(value, int | float | np.integer | np.floating):
            numbers[i] = float(value)
        elif isinstance(value, str):
            if looks_numeric[i]:
                numbers[i] = parsed_text[i]
            else:
                rejected[i], any_rejected = json.dumps(value), True
        else:
            rejected[i], any_rejected = json.dumps(str(value)), True
    values = _finite(pa.array(numbers, type=pa.float64(), from_pandas=True))
    return values, pa.array(rejected, type=pa.string()) if any_rejected else None


def _finite(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))


def _unparsed_json(unparsed: dict[str, pa.Array], n: int) -> pa.Array:
    """One JSON object per row with its rejected numeric values; null for rows with none."""
    if not unparsed:
        return pa.nulls(n, pa.string())
    names = list(unparsed)
    columns = [unparsed[name].to_pylist() for name in names]
    objects: list[str | None] = [None] * n
    has_any = np.zeros(n, dtype=bool)
    for column in unparsed.values():
        has_any |= pc.is_valid(column).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(has_any):
        pairs = [
            f"{json.dumps(name)}: {column[i]}"
            for name, column in zip(names, columns, strict=True)
            if column[i] is not None
        ]
        objects[i] = "{" + ", ".join(pairs) + "}"
    return pa.array(objects, type=pa.string())
