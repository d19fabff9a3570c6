"""Additive sufficient statistics: confusion counts, calibration bins, feature histograms.

Everything downstream (cohort metrics, disparities, drift) is derived from counts and
sums that *add up*: the statistics of two chunks of rows summed key by key equal the
statistics of the concatenated rows. That is what lets a day be computed in chunks, a
window be assembled from stored days, and a late label re-run replace one day only.

Cohorts
-------
A ``CohortSpec`` names cohort attribute columns and intersections of them. The cohorts
are:

* ``("all", "all")``: every row;
* ``(attribute, value)`` for each attribute and each of its values in the data;
* for an intersection ``("sex", "age_band")``: attribute ``"sex&age_band"`` and value
  ``"female&18-25"``: the attribute names and the values joined by ``"&"`` in the order
  the intersection lists them. Values of attributes used in an intersection must not
  contain ``"&"`` (a ``ValueError`` is raised: the encoding would be ambiguous).

A missing attribute value is its own cohort, ``"__missing__"``: rows are never dropped
silently. Only cohorts present in the data get a row (an absent cohort is all zeros,
which is what a key missing from one side of ``merge_stats`` means too).

Speed: each cohort dimension costs one ``pd.factorize`` (cached per column) and four
``np.bincount`` calls over the rows; no Python loop over groups (1M rows, three
attributes and one intersection take well under a second).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray

from monitoring_pipeline.core.value_text import is_text

__all__ = [
    "ALL_COHORT",
    "ALL_VERSIONS",
    "cohort_names",
    "CONFUSION_COUNT_COLUMNS",
    "cohort_groupings",
    "COHORT_KEY_COLUMNS",
    "INTERSECTION_SEPARATOR",
    "MISSING_COHORT_VALUE",
    "NULL_BIN",
    "OTHER_BIN",
    "CohortSpec",
    "HistogramCounts",
    "NumericBins",
    "additive_columns",
    "categorical_histogram",
    "ESTIMATION_KINDS",
    "compute_confusion_stats",
    "compute_estimation_stats",
    "estimation_bin_columns",
    "compute_feature_histograms",
    "fit_categories",
    "fit_numeric_bins",
    "histogram_numeric",
    "key_columns",
    "merge_stats",
    "score_bin_columns",
]

ALL_COHORT = "all"
# The model_version of rows summed over every version the day served.
ALL_VERSIONS = "all"
INTERSECTION_SEPARATOR = "&"
MISSING_COHORT_VALUE = "__missing__"
NULL_BIN = "__null__"
OTHER_BIN = "__other__"
COHORT_KEY_COLUMNS = ("cohort_attribute", "cohort_value")

# Integer counts of compute_confusion_stats, in output order (brier_sum, brier_sq_sum and
# the score-bin columns follow).
CONFUSION_COUNT_COLUMNS = (
    "n",
    "n_labelled",
    "label_pos",
    "pred_pos",
    "pred_pos_labelled",
    "tp",
    "fp",
    "tn",
    "fn",
)
_ADDITIVE_NAMES = frozenset((*CONFUSION_COUNT_COLUMNS, "brier_sum", "brier_sq_sum", "count"))
_ADDITIVE_PATTERN = re.compile(
    r"^(bin_(n|score_sum|label_sum)|est_(n|score_sum|score_sq_sum|labelled_n|labelled_score_sum"
    r"|labelled_score_sq_sum|label_sum))_\d+$"
)
# Per score bin and decision, what label-free estimation needs (compute_estimation_stats).
ESTIMATION_KINDS = (
    "n",
    "score_sum",
    "score_sq_sum",
    "labelled_n",
    "labelled_score_sum",
    "labelled_score_sq_sum",
    "label_sum",
)
# Bins of up to this many inner edges are assigned by comparisons (NumericBins.assign).
_COMPARED_EDGES = 16
_MAX_NUMERIC_BINS = 999  # numeric bins are labelled "000".."998": sortable as text

ERROR_MISSING_COLUMNS = "frame lacks required columns: {columns}"
ERROR_SCORE = "score must be finite and within [0, 1]"
ERROR_DECISION = "decision must be 0 or 1 (no nulls)"
ERROR_LABEL = "label must be 0, 1 or null"
ERROR_SEPARATOR = (
    "values of {attribute!r} contain {separator!r}, which separates intersection values"
)
ERROR_SPEC = "invalid cohort spec: {reason}"
ERROR_NO_FRAMES = "merge_stats needs at least one frame"
ERROR_COLUMNS_DIFFER = "frames to merge have different columns: {left} vs {right}"
ERROR_N_BINS = "n_bins must be between 1 and {max_bins}, got {n_bins}"
ERROR_SCORE_BINS = "score_bins must be >= 1, got {score_bins}"
ERROR_EMPTY_BASELINE = "the baseline has no finite value to fit bins on"
ERROR_RESERVED_CATEGORY = "categories must be unique and must not use the reserved names {names}"


# --------------------------------------------------------------------------------------
# Cohort specification and encoding
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortSpec:
    """Which cohorts to slice by.

    Attributes:
        attributes: cohort attribute columns, each sliced on its own.
        intersections: tuples of two or more attribute columns sliced jointly.

    Example:
        >>> spec = CohortSpec(["sex", "age_band"], [("sex", "age_band")])
        >>> spec.cohort_attribute_names()
        ('all', 'sex', 'age_band', 'sex&age_band')
    """

    attributes: tuple[str, ...] = ()
    intersections: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from callers and config files; store tuples (hashable, immutable).
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "intersections", tuple(tuple(i) for i in self.intersections))
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(ERROR_SPEC.format(reason="duplicate attribute"))
        for name in self.columns:
            if INTERSECTION_SEPARATOR in name or name == ALL_COHORT:
                raise ValueError(ERROR_SPEC.format(reason=f"reserved attribute name {name!r}"))
        for intersection in self.intersections:
            if len(intersection) < 2 or len(set(intersection)) != len(intersection):
                raise ValueError(
                    ERROR_SPEC.format(
                        reason=f"intersection {intersection!r} needs 2+ distinct attributes"
                    )
                )
        if len(set(self.intersections)) != len(self.intersections):
            raise ValueError(ERROR_SPEC.format(reason="duplicate intersection"))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every attribute column the spec reads, in first-mention order."""
        seen = dict.fromkeys(self.attributes)
        for intersection in self.intersections:
            seen.update(dict.fromkeys(intersection))
        return tuple(seen)

    def dimensions(self) -> tuple[tuple[str, ...], ...]:
        """Column tuples of every cohort dimension: ``()`` (all), singles, intersections."""
        return ((), *((a,) for a in self.attributes), *self.intersections)

    def cohort_attribute_names(self) -> tuple[str, ...]:
        """``cohort_attribute`` value of every dimension, in ``dimensions()`` order."""
        return tuple(_dimension_name(d) for d in self.dimensions())


def cohort_names(attributes: pd.Series, values: pd.Series) -> np.ndarray:
    """How a cohort is named wherever people read it: ``all``, or ``attribute=value``.

    Example:
        >>> cohort_names(pd.Series(["all", "region"]), pd.Series(["all", "west"])).tolist()
        ['all', 'region=west']
    """
    attributes = attributes.astype(str)
    named = attributes + "=" + values.astype(str)
    return np.where(attributes == ALL_COHORT, ALL_COHORT, named).astype(object)


def cohort_groupings(
    rows: pd.DataFrame, attributes: Sequence[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(cohort_attribute, group code per row, group values)`` for cohort ``all`` (one
    group) and each attribute of ``attributes`` (its values as text, missing ones a group
    of their own), for per-cohort sums by ``np.bincount``.

    Example:
        >>> [(a, c.tolist(), v.tolist()) for a, c, v in
        ...  cohort_groupings(pd.DataFrame({"g": ["x", "y", "x"]}), ["g"])]
        [('all', [0, 0, 0], ['all']), ('g', [0, 1, 0], ['x', 'y'])]
    """
    groupings = [(ALL_COHORT, np.zeros(len(rows), dtype=np.int64), np.array([ALL_COHORT]))]
    for attribute in attributes:
        codes, uniques = pd.factorize(rows[attribute].astype("string"), use_na_sentinel=False)
        groupings.append((attribute, codes, np.asarray(uniques, dtype=object)))
    return groupings


def _dimension_name(columns: tuple[str, ...]) -> str:
    return INTERSECTION_SEPARATOR.join(columns) if columns else ALL_COHORT


@dataclass(frozen=True)
class _Codes:
    """Integer codes 0..len(labels)-1 per row, and the label of each code."""

    codes: NDArray[np.int64]
    labels: NDArray[np.object_]


def _encode_attribute(values: pd.Series) -> _Codes:
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    labels = np.asarray([str(u) for u in uniques], dtype=object)
    codes = codes.astype(np.int64, copy=False)
    if (codes < 0).any():
        # A missing value is a cohort of its own: rows are not dropped silently.
        codes = np.where(codes < 0, len(labels), codes)
        labels = np.append(labels, MISSING_COHORT_VALUE)
    return _Codes(codes, labels)


def _combine(parts: Sequence[_Codes], n_rows: int) -> _Codes:
    """Codes of the joint value of several attributes, compacted to combinations present."""
    if not parts:
        return _Codes(np.zeros(n_rows, dtype=np.int64), np.asarray([ALL_COHORT], dtype=object))
    if len(parts) == 1:
        return parts[0]
    combined = np.zeros(n_rows, dtype=np.int64)
    for part in parts:
        combined = combined * len(part.labels) + part.codes
    present, codes = np.unique(combined, return_inverse=True)
    # Decode the mixed-radix code of each present combination back into its parts.
    labels_per_part = []
    remainder = present
    for part in reversed(parts):
        labels_per_part.append(part.labels[remainder % len(part.labels)])
        remainder = remainder // len(part.labels)
    labels_per_part.reverse()
    labels = np.asarray(
        [INTERSECTION_SEPARATOR.join(values) for values in zip(*labels_per_part, strict=True)],
        dtype=object,
    )
    return _Codes(codes.astype(np.int64, copy=False), labels)


def _encode_cohorts(frame: pd.DataFrame, spec: CohortSpec) -> list[tuple[str, _Codes]]:
    """(cohort_attribute, codes) for every dimension of the spec, one factorize per column."""
    encoded = {column: _encode_attribute(frame[column]) for column in spec.columns}
    for intersection in spec.intersections:
        for column in intersection:
            if any(INTERSECTION_SEPARATOR in label for label in encoded[column].labels):
                raise ValueError(
                    ERROR_SEPARATOR.format(attribute=column, separator=INTERSECTION_SEPARATOR)
                )
    return [
        (_dimension_name(dim), _combine([encoded[c] for c in dim], len(frame)))
        for dim in spec.dimensions()
    ]


@dataclass(frozen=True)
class _GroupCodes:
    codes: NDArray[np.int64]
    n_groups: int
    # One array per group key: the key's value for each group code (original dtype).
    values: tuple[pd.Index | pd.api.extensions.ExtensionArray | np.ndarray, ...]


def _encode_groups(frame: pd.DataFrame, group_keys: Sequence[str]) -> _GroupCodes:
    n_rows = len(frame)
    parts = []
    for key in group_keys:
        # use_na_sentinel=False: a null model_version is a group, its rows are kept.
        codes, uniques = pd.factorize(frame[key], sort=True, use_na_sentinel=False)
        parts.append((codes.astype(np.int64, copy=False), uniques))
    if not parts:
        return _GroupCodes(np.zeros(n_rows, dtype=np.int64), 1, ())
    combined = np.zeros(n_rows, dtype=np.int64)
    for codes, uniques in parts:
        combined = combined * len(uniques) + codes
    present, codes = np.unique(combined, return_inverse=True)
    values = []
    remainder = present
    for _codes, uniques in reversed(parts):
        values.append(uniques.take(remainder % len(uniques)))
        remainder = remainder // len(uniques)
    values.reverse()
    return _GroupCodes(codes.astype(np.int64, copy=False), len(present), tuple(values))


def _require_columns(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(ERROR_MISSING_COLUMNS.format(columns=missing))


def _compact_keys(key: NDArray[np.int64], n_keys: int) -> tuple[NDArray[np.int64], NDArray]:
    """Return (dense key, original key of each dense key).

    Dense bincount arrays are fastest while the key space is small; with many sparse
    combinations (large intersections x many versions) compact to the keys present.
    """
    if n_keys <= 2 * len(key) + 4096:
        return key, np.arange(n_keys, dtype=np.int64)
    present, dense = np.unique(key, return_inverse=True)
    return dense.astype(np.int64, copy=False), present


def _group_cohort_keys(groups, cohort) -> tuple[NDArray[np.int64], NDArray, NDArray]:
    """Per row, a dense key of its (group, cohort value) pair; per dense key, the pair's group
    code and cohort value (keys compacted by ``_compact_keys``)."""
    n_cohorts = len(cohort.labels)
    key, original = _compact_keys(
        groups.codes * n_cohorts + cohort.codes, groups.n_groups * n_cohorts
    )
    return key, original // n_cohorts, cohort.labels[original % n_cohorts]


# --------------------------------------------------------------------------------------
# Confusion and calibration statistics
# --------------------------------------------------------------------------------------


def score_bin_columns(score_bins: int) -> list[str]:
    """Names of the per-score-bin calibration columns for ``score_bins`` bins."""
    return [
        f"bin_{kind}_{b}" for kind in ("n", "score_sum", "label_sum") for b in range(score_bins)
    ]


def _validated_arrays(
    frame: pd.DataFrame,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64]]:
    score = frame["score"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not (np.isfinite(score) & (score >= 0.0) & (score <= 1.0)).all():
        raise ValueError(ERROR_SCORE)
    decision_raw = frame["decision"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isin(decision_raw, (0.0, 1.0)).all():
        raise ValueError(ERROR_DECISION)
    label_raw = frame["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    labelled = ~np.isnan(label_raw)
    if not np.isin(label_raw[labelled], (0.0, 1.0)).all():
        raise ValueError(ERROR_LABEL)
    label = np.where(labelled, label_raw, 0.0).astype(np.int64)
    return score, decision_raw.astype(np.int64), labelled, label


def compute_confusion_stats(
    frame: pd.DataFrame,
    cohort_spec: CohortSpec,
    *,
    score_bins: int = 10,
    group_keys: Sequence[str] = ("model_version",),
) -> pd.DataFrame:
    """Additive confusion and calibration counts per (group keys, cohort).

    Parameters:
        frame: one row per prediction with ``score`` (float in [0, 1]), ``decision``
            (0/1), ``label`` (0/1, or null while unlabelled), the ``group_keys`` columns
            and the cohort attribute columns of ``cohort_spec``.
        cohort_spec: cohorts to slice by (see the module docstring for the encoding).
        score_bins: number of equal-width score bins on [0, 1] for calibration; a score
            goes to bin ``min(floor(score * score_bins), score_bins - 1)`` (1.0 is in the
            last bin).
        group_keys: columns every row of the result is keyed by besides the cohort.

    Returns:
        A long DataFrame sorted by its keys: ``*group_keys, cohort_attribute,
        cohort_value`` then the additive columns ``n`` (rows), ``n_labelled``,
        ``label_pos`` (actual positives among labelled), ``pred_pos`` (decision 1 among
        all rows), ``pred_pos_labelled``, ``tp``, ``fp``, ``tn``, ``fn`` (int64),
        ``brier_sum`` (sum of (score - label)^2 over labelled rows), ``brier_sq_sum``
        (sum of (score - label)^4: the variance of the Brier terms) and, per score bin
        ``b``, ``bin_n_b`` (int64), ``bin_score_sum_b`` and ``bin_label_sum_b`` (int64)
        over labelled rows. Only cohorts with at least one row appear.

    Example:
        >>> frame = pd.DataFrame({"model_version": ["v1"] * 3, "score": [0.9, 0.2, 0.6],
        ...     "decision": [1, 0, 1], "label": [1, None, 0], "sex": ["f", "m", "f"]})
        >>> stats = compute_confusion_stats(frame, CohortSpec(["sex"]), score_bins=2)
        >>> stats[["cohort_value", "n", "n_labelled", "tp", "fp"]].to_numpy().tolist()
        [['all', 3, 2, 1, 1], ['f', 2, 2, 1, 1], ['m', 1, 0, 0, 0]]
    """
    if score_bins < 1:
        raise ValueError(ERROR_SCORE_BINS.format(score_bins=score_bins))
    group_keys = list(group_keys)
    _require_columns(frame, [*group_keys, "score", "decision", "label", *cohort_spec.columns])
    score, decision, labelled, label = _validated_arrays(frame)
    groups = _encode_groups(frame, group_keys)
    cohorts = _encode_cohorts(frame, cohort_spec)

    # Confusion cell per row: 0/1 = unlabelled with decision 0/1; 2 = tn, 3 = fp, 4 = fn,
    # 5 = tp (2 + 2 * label + decision). One integer bincount yields all nine counts.
    cell = np.where(labelled, 2 + 2 * label + decision, decision)
    score_bin = np.minimum((score * score_bins).astype(np.int64), score_bins - 1)
    labelled_idx = np.flatnonzero(labelled)
    score_l = score[labelled_idx]
    label_l = label[labelled_idx]
    bin_l = score_bin[labelled_idx]
    squared_error_l = (score_l - label_l) ** 2

    pieces: list[dict[str, np.ndarray]] = []
    for attribute, cohort in cohorts:
        key, key_group, key_value = _group_cohort_keys(groups, cohort)
        n_keys = len(key_group)
        cells = np.bincount(key * 6 + cell, minlength=n_keys * 6).reshape(n_keys, 6)
        key_l = key[labelled_idx]
        bin_key = key_l * score_bins + bin_l
        bin_cells = np.bincount(bin_key * 2 + label_l, minlength=n_keys * score_bins * 2)
        bin_cells = bin_cells.reshape(n_keys, score_bins, 2)
        bin_score = np.bincount(bin_key, weights=score_l, minlength=n_keys * score_bins)
        brier = np.bincount(key_l, weights=squared_error_l, minlength=n_keys)
        brier_sq = np.bincount(key_l, weights=squared_error_l**2, minlength=n_keys)

        n = cells.sum(axis=1)
        keep = np.flatnonzero(n > 0)
        group_code = key_group[keep]
        piece: dict[str, np.ndarray] = {
            "__group": group_code,
            "cohort_attribute": np.full(len(keep), attribute, dtype=object),
            "cohort_value": key_value[keep],
            "n": n[keep],
            "n_labelled": cells[keep, 2:].sum(axis=1),
            "label_pos": cells[keep, 4] + cells[keep, 5],
            "pred_pos": cells[keep, 1] + cells[keep, 3] + cells[keep, 5],
            "pred_pos_labelled": cells[keep, 3] + cells[keep, 5],
            "tp": cells[keep, 5],
            "fp": cells[keep, 3],
            "tn": cells[keep, 2],
            "fn": cells[keep, 4],
            "brier_sum": brier[keep],
            "brier_sq_sum": brier_sq[keep],
        }
        bin_score = bin_score.reshape(n_keys, score_bins)
        for b in range(score_bins):
            piece[f"bin_n_{b}"] = bin_cells[keep, b, :].sum(axis=1)
        for b in range(score_bins):
            piece[f"bin_score_sum_{b}"] = bin_score[keep, b]
        for b in range(score_bins):
            piece[f"bin_label_sum_{b}"] = bin_cells[keep, b, 1]
        pieces.append(piece)

    return _assemble(pieces, groups, group_keys)


def estimation_bin_columns(score_bins: int) -> list[str]:
    """Names of the columns of :func:`compute_estimation_stats`, kind by kind, bin by bin."""
    return [f"est_{kind}_{b}" for kind in ESTIMATION_KINDS for b in range(score_bins)]


def compute_estimation_stats(
    frame: pd.DataFrame,
    cohort_spec: CohortSpec,
    *,
    score_bins: int = 20,
    group_keys: Sequence[str] = ("model_version",),
) -> pd.DataFrame:
    """Additive score sums per (group keys, cohort, decision, score bin): what estimating
    performance from scores needs (``core.estimation``), for every row, labelled or not.

    Parameters are those of :func:`compute_confusion_stats` (``score_bins`` equal-width
    bins, 1.0 in the last). Returns one row per (group keys, cohort, decision) present,
    with ``decision`` (0/1) after the cohort keys and, per bin ``b``: ``est_n_b`` (rows),
    ``est_score_sum_b``, ``est_score_sq_sum_b`` over all rows, and ``est_labelled_n_b``,
    ``est_labelled_score_sum_b``, ``est_labelled_score_sq_sum_b``, ``est_label_sum_b``
    over labelled rows.

    Example:
        >>> frame = pd.DataFrame({"model_version": ["v1"] * 3, "score": [0.9, 0.2, 0.6],
        ...     "decision": [1, 0, 1], "label": [1, None, 0], "sex": ["f", "m", "f"]})
        >>> stats = compute_estimation_stats(frame, CohortSpec(["sex"]), score_bins=2)
        >>> stats[["cohort_value", "decision", "est_n_0", "est_n_1", "est_label_sum_1"]
        ...       ].to_numpy().tolist()
        [['all', 0, 1, 0, 0], ['all', 1, 0, 2, 1], ['f', 1, 0, 2, 1], ['m', 0, 1, 0, 0]]
    """
    if score_bins < 1:
        raise ValueError(ERROR_SCORE_BINS.format(score_bins=score_bins))
    group_keys = list(group_keys)
    _require_columns(frame, [*group_keys, "score", "decision", "label", *cohort_spec.columns])
    score, decision, labelled, label = _validated_arrays(frame)
    groups = _encode_groups(frame, group_keys)
    score_bin = np.minimum((score * score_bins).astype(np.int64), score_bins - 1)
    weights = {
        "n": None,
        "score_sum": score,
        "score_sq_sum": score * score,
        "labelled_n": labelled.astype(np.float64),
        "labelled_score_sum": np.where(labelled, score, 0.0),
        "labelled_score_sq_sum": np.where(labelled, score * score, 0.0),
        "label_sum": label.astype(np.float64),
    }
    pieces: list[dict[str, np.ndarray]] = []
    for attribute, cohort in _encode_cohorts(frame, cohort_spec):
        key, key_group, key_value = _group_cohort_keys(groups, cohort)
        n_cells = len(key_group) * 2
        cell = key * 2 + decision
        bin_key = cell * score_bins + score_bin
        sums = {
            kind: np.bincount(bin_key, weights=w, minlength=n_cells * score_bins).reshape(
                n_cells, score_bins
            )
            for kind, w in weights.items()
        }
        keep = np.flatnonzero(sums["n"].sum(axis=1) > 0)
        piece: dict[str, np.ndarray] = {
            "__group": key_group[keep // 2],
            "cohort_attribute": np.full(len(keep), attribute, dtype=object),
            "cohort_value": key_value[keep // 2],
            "decision": (keep % 2).astype(np.int64),
        }
        for kind, matrix in sums.items():
            integral = kind in ("n", "labelled_n", "label_sum")
            for b in range(score_bins):
                column = matrix[keep, b]
                piece[f"est_{kind}_{b}"] = np.rint(column).astype(np.int64) if integral else column
        pieces.append(piece)
    return _assemble(pieces, groups, group_keys)


def _assemble(
    pieces: list[dict[str, np.ndarray]], groups: _GroupCodes, group_keys: list[str]
) -> pd.DataFrame:
    """Stack per-dimension column arrays into one frame keyed by the group key values."""
    columns = list(pieces[0])
    stacked = {c: np.concatenate([p[c] for p in pieces]) for c in columns}
    group_code = stacked.pop("__group")
    data: dict[str, object] = {}
    for key, values in zip(group_keys, groups.values, strict=True):
        data[key] = values.take(group_code)
    for column, array in stacked.items():
        if array.dtype.kind in "iu":
            array = array.astype(np.int64, copy=False)
        data[column] = array
    result = pd.DataFrame(data)
    for column in COHORT_KEY_COLUMNS:
        result[column] = result[column].astype("str")
    return _sort_by_keys(result)


def _sort_by_keys(frame: pd.DataFrame) -> pd.DataFrame:
    keys = key_columns(frame)
    return frame.sort_values(keys, na_position="last", kind="stable").reset_index(drop=True)


def additive_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of a statistics frame that add up across chunks (counts and sums)."""
    return [c for c in frame.columns if c in _ADDITIVE_NAMES or _ADDITIVE_PATTERN.match(c)]


def key_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of a statistics frame that identify a row (everything not additive)."""
    additive = set(additive_columns(frame))
    return [c for c in frame.columns if c not in additive]


def merge_stats(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Sum the additive columns of statistics frames over identical keys.

    Works on ``compute_confusion_stats`` and ``compute_feature_histograms`` outputs: this
    is how chunks merge into a day and days into a window. Because every column is a
    count or a sum, merging the statistics of chunks gives exactly the statistics of the
    concatenated rows (up to floating-point summation order in the float sums). A key
    present in only some frames counts as zeros in the others. A NaN addend (a sum a
    stored row does not have, e.g. ``brier_sq_sum`` of rows written before it existed)
    makes the sum NaN: unknown, never a partial sum.

    Parameters:
        frames: statistics frames with identical columns.

    Returns:
        One row per distinct key, sorted by the keys (null keys last), columns in the
        first frame's order.

    Example:
        >>> a = pd.DataFrame({"cohort_attribute": ["all"], "cohort_value": ["all"], "n": [2]})
        >>> b = pd.DataFrame({"cohort_attribute": ["all"], "cohort_value": ["all"], "n": [3]})
        >>> int(merge_stats([a, b])["n"].iloc[0])
        5
    """
    frames = list(frames)
    if not frames:
        raise ValueError(ERROR_NO_FRAMES)
    columns = list(frames[0].columns)
    for other in frames[1:]:
        if set(other.columns) != set(columns):
            raise ValueError(ERROR_COLUMNS_DIFFER.format(left=columns, right=list(other.columns)))
    combined = pd.concat([f[columns] for f in frames], ignore_index=True)
    keys = key_columns(combined)
    grouped = combined.groupby(keys, sort=True, dropna=False, observed=True)
    merged = grouped.sum(skipna=False).reset_index()
    return _sort_by_keys(merged[columns])


# --------------------------------------------------------------------------------------
# Feature histograms on baseline-fixed bins
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistogramCounts:
    """Counts of one feature on fixed bins.

    Attributes:
        counts: int64 count per bin (numeric: one per ``NumericBins`` bin; categorical:
            one per category, then the ``"__other__"`` bucket).
        null_count: number of null values (not in ``counts``).
    """

    counts: NDArray[np.int64]
    null_count: int

    @property
    def total(self) -> int:
        """All values, nulls included."""
        return int(self.counts.sum()) + self.null_count


@dataclass(frozen=True)
class NumericBins:
    """Bins of a numeric feature, fixed on a baseline.

    Bin ``i`` is ``[edges[i], edges[i + 1])`` with ``edges = (-inf, *inner_edges, +inf)``,
    so every future value (including +/-inf) falls in a bin; nulls are counted apart.

    Attributes:
        inner_edges: strictly increasing finite cut points.
    """

    inner_edges: tuple[float, ...]

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.inner_edges)
        if not all(np.isfinite(edges)) or any(np.diff(edges) <= 0):
            raise ValueError("inner_edges must be finite and strictly increasing")
        if len(edges) + 1 > _MAX_NUMERIC_BINS:
            raise ValueError(ERROR_N_BINS.format(max_bins=_MAX_NUMERIC_BINS, n_bins=len(edges)))
        object.__setattr__(self, "inner_edges", edges)

    @property
    def n_bins(self) -> int:
        """Number of bins (inner edges + 1)."""
        return len(self.inner_edges) + 1

    @property
    def edges(self) -> NDArray[np.float64]:
        """All bin edges, with -inf and +inf outer edges."""
        return np.asarray([-np.inf, *self.inner_edges, np.inf], dtype=np.float64)

    def bin_labels(self) -> list[str]:
        """Zero-padded bin indexes ("000", "001", ...): text that sorts in bin order."""
        return [f"{i:03d}" for i in range(self.n_bins)]

    def describe(self) -> list[str]:
        """Human-readable bins, e.g. ``["[-inf, 0.5)", "[0.5, inf)"]``."""
        edges = self.edges
        return [f"[{edges[i]:.6g}, {edges[i + 1]:.6g})" for i in range(self.n_bins)]

    def assign(self, values: ArrayLike) -> NDArray[np.int64]:
        """Bin index of each value; -1 for null (NaN / None / NA)."""
        array = _as_float_array(values)
        edges = np.asarray(self.inner_edges)
        if len(edges) <= _COMPARED_EDGES:
            # The edges at or below each value, counted one comparison per edge: on few
            # edges ~2.5x faster than searchsorted (side="right"), and the same index.
            codes = np.zeros(len(array), dtype=np.int64)
            for edge in edges:
                codes += array >= edge
        else:
            codes = np.searchsorted(edges, array, side="right")
        return np.where(np.isnan(array), -1, codes).astype(np.int64)


def _as_float_array(values: ArrayLike) -> NDArray[np.float64]:
    return pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)


def fit_numeric_bins(baseline_values: ArrayLike, n_bins: int = 10) -> NumericBins:
    """Quantile bins fitted on baseline values.

    The inner edges are the baseline's ``1/n_bins, ..., (n_bins-1)/n_bins`` quantiles
    (numpy's default linear interpolation) over finite values, deduplicated: a baseline
    with ties (e.g. 40% zeros) gets fewer, wider bins rather than empty zero-width ones.
    Compute them once per baseline, not per day (the quantiles are the costly part).

    Parameters:
        baseline_values: numeric values; nulls and +/-inf are ignored for the fit.
        n_bins: wanted number of bins (at most 999; ties may give fewer).

    Returns:
        ``NumericBins`` with -inf/+inf outer edges.

    Example:
        >>> fit_numeric_bins([1, 2, 3, 4, 5, 6, 7, 8], n_bins=4).inner_edges
        (2.75, 4.5, 6.25)
    """
    if not 1 <= n_bins <= _MAX_NUMERIC_BINS:
        raise ValueError(ERROR_N_BINS.format(max_bins=_MAX_NUMERIC_BINS, n_bins=n_bins))
    array = _as_float_array(baseline_values)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise ValueError(ERROR_EMPTY_BASELINE)
    if n_bins == 1:
        return NumericBins(())
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return NumericBins(tuple(np.unique(quantiles).tolist()))


def histogram_numeric(values: ArrayLike, bins: NumericBins) -> HistogramCounts:
    """Count values on baseline-fixed numeric bins.

    Example:
        >>> h = histogram_numeric([0.1, 0.7, None, 5.0], NumericBins((0.5, 1.0)))
        >>> h.counts.tolist(), h.null_count
        ([1, 1, 1], 1)
    """
    codes = bins.assign(values)
    null_count = int((codes < 0).sum())
    counts = np.bincount(codes[codes >= 0], minlength=bins.n_bins).astype(np.int64)
    return HistogramCounts(counts=counts, null_count=null_count)


def _check_categories(categories: Sequence[str]) -> list[str]:
    categories = list(categories)
    if len(set(categories)) != len(categories) or {NULL_BIN, OTHER_BIN} & set(categories):
        raise ValueError(ERROR_RESERVED_CATEGORY.format(names=[OTHER_BIN, NULL_BIN]))
    return categories


def _categorical_codes(values: ArrayLike, categories: list[str]) -> NDArray[np.int64]:
    """Category index per value; len(categories) for unseen ("__other__"); -1 for null."""
    series = pd.Series(values)
    if is_text(series):
        # Text looked up by Arrow's own hash table: ~5x faster than get_indexer.
        text = pa.array(series.array)
        found = pc.index_in(text, value_set=pa.array(categories, pa.string()))
        codes = found.fill_null(len(categories)).to_numpy(zero_copy_only=False)
        return np.where(text.is_null().to_numpy(zero_copy_only=False), -1, codes.astype(np.int64))
    # A hash lookup: -1 both for nulls and for values outside the categories.
    codes = pd.Index(categories).get_indexer(series).astype(np.int64)
    codes = np.where(codes < 0, len(categories), codes)
    return np.where(series.isna().to_numpy(), -1, codes)


def fit_categories(baseline_values: ArrayLike, *, max_categories: int | None = None) -> list[str]:
    """Categories seen in the baseline, most frequent first (ties by value).

    Parameters:
        baseline_values: categorical values; nulls are ignored.
        max_categories: keep only this many most frequent categories (the rest will fall
            in ``"__other__"``); ``None`` keeps all.

    Example:
        >>> fit_categories(["b", "a", "b", None, "c"], max_categories=2)
        ['b', 'a']
    """
    series = pd.Series(baseline_values).dropna().astype("str")
    counts = series.value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    names = [name for name, _ in ordered]
    return _check_categories(names if max_categories is None else names[:max_categories])


def categorical_histogram(values: ArrayLike, categories: Sequence[str]) -> HistogramCounts:
    """Count values on baseline categories plus an ``"__other__"`` bucket.

    Values are compared to the categories as they are (use strings on both sides).

    Returns:
        ``HistogramCounts`` whose ``counts`` has ``len(categories) + 1`` entries, the
        last being ``"__other__"`` (values unseen in the baseline).

    Example:
        >>> h = categorical_histogram(["a", "b", "z", None], ["a", "b"])
        >>> h.counts.tolist(), h.null_count
        ([1, 1, 1], 1)
    """
    categories = _check_categories(categories)
    codes = _categorical_codes(values, categories)
    counts = np.bincount(codes[codes >= 0], minlength=len(categories) + 1).astype(np.int64)
    return HistogramCounts(counts=counts, null_count=int((codes < 0).sum()))


def compute_feature_histograms(
    frame: pd.DataFrame,
    features_numeric: Mapping[str, NumericBins],
    features_categorical: Mapping[str, Sequence[str]],
    cohort_spec: CohortSpec,
    *,
    group_keys: Sequence[str] = ("model_version",),
) -> pd.DataFrame:
    """Histograms of many features for every cohort at once, in tidy long format.

    Parameters:
        frame: one row per prediction with the feature columns, the ``group_keys``
            columns and the cohort attribute columns.
        features_numeric: numeric feature name -> its baseline ``NumericBins``.
        features_categorical: categorical feature name -> its baseline categories.
        cohort_spec: cohorts to slice by (same encoding as ``compute_confusion_stats``).
        group_keys: key columns besides the cohort.

    Returns:
        Columns ``*group_keys, cohort_attribute, cohort_value, feature, feature_kind
        ("numeric" | "categorical"), bin, count`` (int64), sorted by the keys. ``bin`` is
        the numeric bin index as zero-padded text ("000", ...), or the category name, or
        ``"__other__"``; nulls are bin ``"__null__"``. Every bin of a feature appears for
        every cohort present, zero counts included, so empty bins stay visible. Counts
        add up across chunks and days (``merge_stats``).

    Example:
        >>> frame = pd.DataFrame({"model_version": ["v1"] * 3, "x": [0.1, 0.9, None],
        ...     "sex": ["f", "m", "f"]})
        >>> h = compute_feature_histograms(frame, {"x": NumericBins((0.5,))}, {},
        ...     CohortSpec(["sex"]))
        >>> h[h.cohort_value == "all"][["bin", "count"]].to_numpy().tolist()
        [['000', 1], ['001', 1], ['__null__', 1]]
    """
    group_keys = list(group_keys)
    features = [*features_numeric, *features_categorical]
    _require_columns(frame, [*group_keys, *features, *cohort_spec.columns])
    groups = _encode_groups(frame, group_keys)
    cohorts = _encode_cohorts(frame, cohort_spec)

    # Per feature: a code per row in 0..n_codes-1 with the null bucket last.
    encoded: list[tuple[str, str, NDArray[np.int64], list[str]]] = []
    for name, bins in features_numeric.items():
        codes = bins.assign(frame[name])
        labels = [*bins.bin_labels(), NULL_BIN]
        encoded.append((name, "numeric", np.where(codes < 0, bins.n_bins, codes), labels))
    for name, categories in features_categorical.items():
        categories = _check_categories(categories)
        codes = _categorical_codes(frame[name], categories)
        labels = [*categories, OTHER_BIN, NULL_BIN]
        encoded.append(
            (name, "categorical", np.where(codes < 0, len(categories) + 1, codes), labels)
        )

    pieces: list[dict[str, np.ndarray]] = []
    for attribute, cohort in cohorts:
        key, key_group, key_value = _group_cohort_keys(groups, cohort)
        n_keys = len(key_group)
        present = np.flatnonzero(np.bincount(key, minlength=n_keys) > 0)
        for name, kind, codes, labels in encoded:
            n_codes = len(labels)
            counts = np.bincount(key * n_codes + codes, minlength=n_keys * n_codes)
            counts = counts.reshape(n_keys, n_codes)[present]
            pieces.append(
                {
                    "__group": np.repeat(key_group[present], n_codes),
                    "cohort_attribute": np.full(counts.size, attribute, dtype=object),
                    "cohort_value": np.repeat(key_value[present], n_codes),
                    "feature": np.full(counts.size, name, dtype=object),
                    "feature_kind": np.full(counts.size, kind, dtype=object),
                    "bin": np.tile(np.asarray(labels, dtype=object), len(present)),
                    "count": counts.ravel().astype(np.int64),
                }
            )
    if not pieces:
        pieces.append(
            {
                "__group": np.zeros(0, dtype=np.int64),
                **{
                    c: np.zeros(0, dtype=object)
                    for c in ("cohort_attribute", "cohort_value", "feature", "feature_kind", "bin")
                },
                "count": np.zeros(0, dtype=np.int64),
            }
        )
    result = _assemble(pieces, groups, group_keys)
    for column in ("feature", "feature_kind", "bin"):
        result[column] = result[column].astype("str")
    return _sort_by_keys(result)
