"""Values as the text the stored rows hold for them, which is also what PostgreSQL's ``->>``
gives for a JSON value: strings as they are, integers without a decimal point (also when
they come as floats: ``1.0`` is ``1``), other numbers in their shortest exact form,
booleans ``true``/``false``, missing (and non-finite) values null.

Validation judges cohort values on this text, and ``storage.labeled_rows`` stores it, so a
value is allowed, stored and counted as one and the same text. Pure pandas and Arrow.

>>> text_values(pd.Series([1.0, None, 2.5])).to_pylist()
['1', None, '2.5']
>>> text_values(pd.Series([True, False])).to_pylist()
['true', 'false']
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["is_missing", "is_text", "text_values"]


def text_values(series: pd.Series) -> pa.Array:
    """Each value of ``series`` as text (see the module docstring)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = pa.array(series, type=pa.bool_(), from_pandas=True)
        return pc.if_else(values, "true", "false")
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(series, from_pandas=True), pa.string())
    if pd.api.types.is_float_dtype(dtype):
        return _float_text(pa.array(series, type=pa.float64(), from_pandas=True))
    if is_text(series):
        return pa.array(series, type=pa.string(), from_pandas=True)
    return pa.array([_text_scalar(v) for v in series.tolist()], type=pa.string())


def is_text(values: pd.Series | pd.Index) -> bool:
    """Whether ``values`` hold text as text (a string dtype, not Python objects)."""
    dtype = values.dtype
    return pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)


def is_missing(value: object) -> bool:
    """None, pandas' NA and NaT, and NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _float_text(values: pa.Array) -> pa.Array:
    finite = pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))
    return pc.cast(finite, pa.string())


def _text_scalar(value: object) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return _float_text(pa.array([float(value)], type=pa.float64()))[0].as_py()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    return str(value)
