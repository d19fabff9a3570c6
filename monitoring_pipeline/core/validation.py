"""Row-level validation of prediction and label logs: which rows are unusable, and why.

Pure pandas. A row is *malformed* when no metric can use it (no id, no score, a cohort
value outside the allowed set...). Malformed rows are quarantined with every reason they
earned, never dropped silently. Missing *feature* values are not malformed: they are a
data-quality signal measured elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from monitoring_pipeline.core.labels import positions_in
from monitoring_pipeline.core.value_text import is_text, text_values

__all__ = [
    "PREDICTION_COLUMNS",
    "LABEL_COLUMNS",
    "SchemaError",
    "clean_text",
    "Split",
    "coerce_predictions",
    "coerce_labels",
    "split_malformed_predictions",
    "split_malformed_labels",
]

PREDICTION_COLUMNS = ("prediction_id", "scored_at", "model_version", "score", "decision")
LABEL_COLUMNS = ("prediction_id", "label", "labelled_at")
REASON_SEPARATOR = "; "
NUL = "\x00"
# Ids are a key of the stored rows; PostgreSQL's b-tree takes index entries up to ~2,700
# bytes, and a UTF-8 character takes at most 4: longer ids would fail the day's write.
MAX_ID_CHARACTERS = 500
# A value quoted in a reason is cut to this many characters (the raw row keeps it whole).
MAX_QUOTED_CHARACTERS = 60


class SchemaError(ValueError):
    """Required columns are missing from a source; the message lists them."""


@dataclass(frozen=True)
class Split:
    """Rows that passed (``valid``) and rows set aside, with one ``reason`` per row.

    ``quarantined`` keeps the index of the input, so the raw source rows can be looked up.
    """

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    reasons: pd.Series


def day_bounds(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return pd.Timestamp(start), pd.Timestamp(start + timedelta(days=1))


def coerce_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """Give the standard prediction columns their types; what will not parse becomes null.

    ``frame`` has standard column names. Parsing failures surface as nulls, which
    :func:`split_malformed_predictions` then reports with a reason.
    """
    out = frame.copy(deep=False)  # see _SHALLOW
    out["prediction_id"] = _text(out["prediction_id"])
    out["model_version"] = _text(out["model_version"])
    out["scored_at"] = pd.to_datetime(out["scored_at"], utc=True, errors="coerce", format="mixed")
    out["score"] = pd.to_numeric(out["score"], errors="coerce").astype("float64")
    out["decision"] = pd.to_numeric(out["decision"], errors="coerce").astype("float64")
    return out


def coerce_labels(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy(deep=False)  # see _SHALLOW
    out["prediction_id"] = _text(out["prediction_id"])
    out["label"] = pd.to_numeric(out["label"], errors="coerce").astype("float64")
    out["labelled_at"] = pd.to_datetime(
        out["labelled_at"], utc=True, errors="coerce", format="mixed"
    )
    return out


def quoted(values: pd.Series) -> pd.Series:
    """Values as a reason quotes them: in single quotes, cut to ``MAX_QUOTED_CHARACTERS``
    with the full length said, so a 100,000-character value makes a short reason.

    >>> quoted(pd.Series(["x", "y" * 100])).tolist()
    ["'x'", "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...' (100 characters)"]
    """
    text = values.astype("string")
    long = text.str.len() > MAX_QUOTED_CHARACTERS
    cut = "'" + text.str.slice(0, MAX_QUOTED_CHARACTERS) + "...' ("
    return ("'" + text + "'").where(~long, cut + text.str.len().astype("string") + " characters)")


def clean_text(series: pd.Series) -> pd.Series:
    """Strings with surrounding blanks removed; empty strings become null."""
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def stored_text(series: pd.Series) -> pd.Series:
    """``series`` as the text its values are stored as (:func:`~monitoring_pipeline.core.
    value_text.text_values`), cleaned (:func:`clean_text`): an integer code read as a float
    (its column holds a null somewhere in the day) is ``1``, not ``1.0``; a boolean is
    ``true``.

    >>> stored_text(pd.Series([1.0, None, 2.0])).tolist()
    ['1', <NA>, '2']
    """
    if not is_text(series):
        text = text_values(series).to_numpy(zero_copy_only=False)
        series = pd.Series(text, index=series.index, dtype="string")
    return clean_text(series)


_text = clean_text

# _SHALLOW: the functions here replace whole columns of a shallow copy (``df[col] = ...``
# sets a new array) and never write into one, so the caller's frame stays as it was; a deep
# copy of every chunk cost ~3% of a 1M-row ingestion.


class _Reasons:
    """Collects reasons per row; strings are only built for the flagged rows."""

    def __init__(self, index: pd.Index) -> None:
        self._index = index
        self._rules: list[tuple[np.ndarray, str | pd.Series]] = []

    def add(self, mask: pd.Series | np.ndarray, reason: str | pd.Series) -> None:
        """Flag rows where ``mask``; ``reason`` is one text or a per-row Series of texts."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self._rules.append((mask, reason))

    def series(self) -> pd.Series:
        if not self._rules:
            return pd.Series([], index=self._index[:0], dtype="string")
        flagged = np.logical_or.reduce([mask for mask, _ in self._rules])
        out = pd.Series("", index=self._index[flagged], dtype="string")
        for mask, reason in self._rules:
            hit = mask[flagged]
            text = reason if isinstance(reason, str) else reason.reindex(out.index)[hit]
            current = out[hit]
            out[hit] = current.where(current == "", current + REASON_SEPARATOR) + text
        # A reason quotes values; PostgreSQL text cannot hold a NUL, so it is spelled out.
        return out.str.replace(NUL, "\\x00", regex=False)


def _flag_nul_bytes(frame: pd.DataFrame, reasons: _Reasons) -> None:
    """A text value holding a NUL byte cannot be stored (PostgreSQL text has no NUL): the
    row is quarantined, naming the column, instead of failing the whole day's write."""
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        has_nul = text.str.contains(NUL, regex=False).fillna(False).to_numpy(dtype=bool)
        reasons.add(has_nul, f"{column} holds a NUL byte")


def split_malformed_predictions(
    frame: pd.DataFrame,
    *,
    day: date,
    cohort_values: Mapping[str, Sequence[str]],
    decision_from_threshold: float | None = None,
    read_problems: pd.Series | None = None,
) -> Split:
    """Separate usable predictions from malformed ones.

    Parameters
    ----------
    frame: coerced predictions (see :func:`coerce_predictions`) with cohort columns.
    day: the partition; rows scored on another UTC day are malformed.
    cohort_values: allowed values per cohort attribute.
    decision_from_threshold: when set, ``decision`` is recomputed as ``score >= threshold``
        instead of being read.
    read_problems: reasons found while reading the source (e.g. bytes that are not UTF-8),
        indexed like ``frame``; their rows are malformed too.

    Duplicated ids: exact copies are a logging retry, so the first copy is kept and the
    others quarantined; copies that disagree cannot be resolved, so all are quarantined.

    >>> # split = split_malformed_predictions(frame, day=date(2026, 11, 1), cohort_values={"sex": ["f", "m"]})
    """
    frame = frame.copy(deep=False)  # see _SHALLOW
    if decision_from_threshold is not None:
        frame["decision"] = np.where(
            frame["score"].isna(), np.nan, (frame["score"] >= decision_from_threshold) * 1.0
        )
    reasons = _Reasons(frame.index)
    if read_problems is not None:
        reasons.add(frame.index.isin(read_problems.index), read_problems)
    ids = frame["prediction_id"]
    reasons.add(ids.isna(), "prediction_id missing")
    reasons.add(
        ids.str.len().fillna(0).to_numpy() > MAX_ID_CHARACTERS,
        f"prediction_id longer than {MAX_ID_CHARACTERS} characters",
    )
    start, end = day_bounds(day)
    scored = frame["scored_at"]
    reasons.add(scored.isna(), "scored_at missing or not a time")
    reasons.add(
        scored.notna() & ((scored < start) | (scored >= end)), "scored_at outside the partition day"
    )
    reasons.add(frame["model_version"].isna(), "model_version missing")
    score = frame["score"]
    reasons.add(score.isna(), "score missing or not a number")
    reasons.add(score.notna() & ((score < 0) | (score > 1)), "score outside [0, 1]")
    decision = frame["decision"]
    reasons.add(decision.isna() | ~decision.isin([0.0, 1.0]), "decision not 0 or 1")
    for attribute, allowed in cohort_values.items():
        values = stored_text(frame[attribute])
        reasons.add(values.isna(), f"{attribute} missing")
        unknown = values.notna() & ~values.isin(list(allowed))
        if unknown.any():
            reasons.add(unknown, f"{attribute} value " + quoted(values[unknown]) + " not allowed")
        frame[attribute] = values

    _flag_nul_bytes(frame, reasons)

    has_id = ids.notna()
    # Counting distinct ids first is ~2x cheaper than flagging copies, which most chunks
    # (ids unique) do not need.
    if ids.nunique() < has_id.sum():
        duplicated_id = has_id & ids.duplicated(keep=False)
        content = frame.columns.drop("prediction_id")
        copies = frame.loc[duplicated_id]
        # How many distinct versions of each duplicated id exist.
        versions = (
            copies.astype("string")
            .fillna("<NA>")
            .groupby(copies["prediction_id"])[list(content)]
            .nunique()
            .max(axis=1)
        )
        conflicting_ids = versions.index[versions > 1]
        conflicting = duplicated_id & ids.isin(conflicting_ids)
        retried = duplicated_id & ~conflicting & ids.duplicated(keep="first")
        reasons.add(conflicting, "duplicate prediction_id with conflicting content")
        reasons.add(retried, "duplicate prediction_id (exact copy of an earlier row)")

    reason_series = reasons.series()
    bad = frame.index.isin(reason_series.index)
    valid = frame.loc[~bad]  # a frame of its own (copy on write): no copy of every column
    valid["decision"] = valid["decision"].astype("int16")
    return Split(valid=valid, quarantined=frame.loc[bad], reasons=reason_series)


def split_malformed_labels(labels: pd.DataFrame, scored_at: pd.Series) -> Split:
    """Separate usable label rows from malformed ones.

    ``labels`` is coerced (see :func:`coerce_labels`); ``scored_at`` maps prediction_id to the
    scoring time of the valid predictions. A label cannot predate its prediction; labels of
    ids not in ``scored_at`` are left valid here (the join counts them as orphans).
    """
    reasons = _Reasons(labels.index)
    reasons.add(labels["prediction_id"].isna(), "prediction_id missing")
    reasons.add(labels["label"].isna() | ~labels["label"].isin([0.0, 1.0]), "label not 0 or 1")
    labelled_at = labels["labelled_at"]
    reasons.add(labelled_at.isna(), "labelled_at missing or not a time")
    position = positions_in(labels["prediction_id"], scored_at.index)
    scored = pd.Series(scored_at.array.take(position, allow_fill=True), index=labels.index)
    reasons.add(
        labelled_at.notna() & scored.notna() & (labelled_at < scored),
        "labelled before the prediction was scored",
    )
    # Two different labels delivered at the same instant for one prediction: no newest one.
    keyed = labels.dropna(subset=["prediction_id", "labelled_at"])
    if keyed.duplicated(subset=["prediction_id", "labelled_at"], keep=False).any():
        distinct = keyed.groupby(["prediction_id", "labelled_at"])["label"].transform("nunique")
        reasons.add(
            labels.index.isin(keyed.index[distinct > 1]),
            "conflicting labels delivered at the same time",
        )
    reason_series = reasons.series()
    bad = labels.index.isin(reason_series.index)
    return Split(valid=labels.loc[~bad], quarantined=labels.loc[bad], reasons=reason_series)
