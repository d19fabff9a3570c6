"""Baseline windows, bin fitting rules and drift settings: the pure rules of the drift asset.

The statistics themselves live in ``core.sufficient_stats`` (bins, histograms) and
``core.drift`` (tests); this module decides *which* days a baseline spans, how bins
fitted from aggregates match ``fit_numeric_bins`` / ``fit_categories``, how stored bins
are fingerprinted, and which thresholds and sample sizes apply.

Windows
-------
Bins are fitted once, on the raw rows of the *fitting window*: a fixed baseline's
``start..end``, or the first ``preceding_days`` days from ``partitions_start``. A day's
*baseline window* is the fixed ``start..end``, or the ``preceding_days`` days before it.
A day inside the fitting window has no baseline window (``None``): it helped fit the
bins, and for a rolling baseline its preceding days would reach before the first
partition.

Methods
-------
Stored method names are those of the config's ``DriftMethodName`` (``psi``, ``ks``,
``js``, ``chi2``, ``null_rate_change``); ``core.drift`` calls two of them
``jensen_shannon`` and ``chi_square``. ``null_rate_change`` flags drift when the
interval of the change lies wholly above the threshold: direction ``higher_is_drift``,
decided on the interval. (Rows written before migration 013 flagged a fall too and say
``abs_higher_is_drift``.)

Discrete numeric features
-------------------------
A numeric feature with at most ``DISCRETE_MAX_VALUES`` (20) distinct finite values in
the fitting window is *discrete*: its bins are its values (``discrete_value_bins``: one
bin per baseline value, a value never seen falls in the bin of the nearest smaller
one), and it gets a count-based test, chi-square on the value counts (``chi2``), in place
of KS. KS assumes a continuous distribution: with ties its asymptotic p-value is very
conservative, and on a handful of quantile bins most of its power is lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from monitoring_pipeline.core.drift import DRIFT_METHODS
from monitoring_pipeline.core.sufficient_stats import NULL_BIN, OTHER_BIN, NumericBins

__all__ = [
    "DISCRETE_MAX_VALUES",
    "discrete_value_bins",
    "CORE_METHOD_NAMES",
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MIN_COUNT",
    "DEFAULT_MIN_COUNT_DISTANCE",
    "DISTANCE_METHODS",
    "METHODS_BY_KIND",
    "STORED_METHOD_NAMES",
    "DriftSettings",
    "DriftStatus",
    "baseline_window",
    "bins_checksum",
    "drift_status",
    "fitting_window",
    "method_descriptor",
    "numeric_bin_bounds",
    "numeric_bins_from_quantiles",
    "order_categories",
    "quantile_levels",
    "resolve_drift_settings",
]

FeatureKind = Literal["numeric", "categorical"]
DriftStatus = Literal["ok", "partial_baseline", "no_baseline"]

# core.drift name -> stored name (the config's DriftMethodName), and back.
STORED_METHOD_NAMES: dict[str, str] = {
    "psi": "psi",
    "ks": "ks",
    "jensen_shannon": "js",
    "chi_square": "chi2",
    "null_rate_change": "null_rate_change",
}
CORE_METHOD_NAMES: dict[str, str] = {v: k for k, v in STORED_METHOD_NAMES.items()}
# Stored names per feature kind, in the order rows are written.
METHODS_BY_KIND: dict[str, tuple[str, ...]] = {
    "numeric": ("psi", "ks", "js", "null_rate_change"),
    "categorical": ("psi", "js", "chi2", "null_rate_change"),
}
# Effect sizes judged on their value (their intervals are shown, not decisive): judged only
# on larger samples (see DriftSettings).
DISTANCE_METHODS = ("psi", "js")

DEFAULT_MIN_COUNT = 100
DEFAULT_MIN_COUNT_DISTANCE = 500
DEFAULT_MAX_CATEGORIES = 50

_DECIDED_ON = {
    "statistic": "statistic",
    "p_value": "p_value_adjusted",
    "interval": "interval",
    "statistic_and_p_value": "statistic_and_p_value_adjusted",
}

ERROR_UNKNOWN_METHOD = "drift.thresholds: unknown method {name!r}; known: {known}"
ERROR_THRESHOLD = "drift.thresholds.{name}: must be a finite number > 0, got {value!r}"
ERROR_COUNT = "drift.{name}: must be an integer >= 1, got {value!r}"
ERROR_WINDOW = "give either preceding_days, or start and end"
ERROR_RESERVED_CATEGORY = "category {name!r} of feature {feature!r} is a reserved bin name"


@dataclass(frozen=True)
class StoredMethod:
    """A drift method as the ``drift`` table describes it."""

    name: str
    core_name: str
    kinds: tuple[str, ...]
    default_threshold: float
    direction: str
    decided_on: str


def method_descriptor(name: str) -> StoredMethod:
    """The stored description of method ``name`` (``psi``, ``ks``, ``js``, ``chi2``,
    ``null_rate_change``), from ``core.drift.DRIFT_METHODS``.

    Example:
        >>> method_descriptor("chi2").decided_on, method_descriptor("null_rate_change").direction
        ('p_value_adjusted', 'higher_is_drift')
    """
    if name not in CORE_METHOD_NAMES:
        raise ValueError(ERROR_UNKNOWN_METHOD.format(name=name, known=list(CORE_METHOD_NAMES)))
    core = DRIFT_METHODS[CORE_METHOD_NAMES[name]]
    direction = core.direction
    return StoredMethod(
        name=name,
        core_name=core.name,
        kinds=core.kinds,
        default_threshold=core.default_threshold,
        direction=direction,
        decided_on=_DECIDED_ON[core.decision_on],
    )


@dataclass(frozen=True)
class DriftSettings:
    """Thresholds and sample sizes of a model's drift tests.

    Attributes:
        thresholds: stored method name -> threshold (every method present).
        min_count: observations each side needs for ks, chi2 and null_rate_change.
        min_count_distance: observations each side needs for psi and js, which are
            judged on their value, not on their interval: on ``k`` bins PSI's
            expectation under no drift is about ``(k - 1)(1/n + 1/m)``, so small
            cohort-days would be flagged by noise alone.
        max_categories: categories kept per categorical feature when fitting.
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    min_count: int = DEFAULT_MIN_COUNT
    min_count_distance: int = DEFAULT_MIN_COUNT_DISTANCE
    max_categories: int = DEFAULT_MAX_CATEGORIES

    def core_thresholds(self, names: Sequence[str]) -> dict[str, float]:
        """Thresholds of ``names`` keyed by ``core.drift`` method names."""
        return {CORE_METHOD_NAMES[n]: float(self.thresholds[n]) for n in names}


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(ERROR_COUNT.format(name=name, value=value))
    return int(value)


def resolve_drift_settings(
    thresholds: Mapping[str, float] | None = None,
    *,
    min_count: int | None = None,
    min_count_distance: int | None = None,
    max_categories: int | None = None,
) -> DriftSettings:
    """Validated settings: configured values over the defaults.

    Defaults: thresholds from ``core.drift``'s descriptors (psi 0.25, js 0.1, ks and
    chi2 0.05 on the Benjamini-Hochberg adjusted p-value, null_rate_change 0.05),
    ``min_count`` 100, ``min_count_distance`` 500, ``max_categories`` 50. Error messages
    name the offending key.

    Example:
        >>> resolve_drift_settings({"psi": 0.2}).thresholds["psi"]
        0.2
    """
    merged = {name: method_descriptor(name).default_threshold for name in CORE_METHOD_NAMES}
    for name, value in (thresholds or {}).items():
        if name not in CORE_METHOD_NAMES:
            raise ValueError(ERROR_UNKNOWN_METHOD.format(name=name, known=list(CORE_METHOD_NAMES)))
        number = float(value) if isinstance(value, int | float) else float("nan")
        if isinstance(value, bool) or not np.isfinite(number) or number <= 0:
            raise ValueError(ERROR_THRESHOLD.format(name=name, value=value))
        merged[name] = number
    return DriftSettings(
        thresholds=merged,
        min_count=_positive_int("min_count", DEFAULT_MIN_COUNT if min_count is None else min_count),
        min_count_distance=_positive_int(
            "min_count_distance",
            DEFAULT_MIN_COUNT_DISTANCE if min_count_distance is None else min_count_distance,
        ),
        max_categories=_positive_int(
            "max_categories", DEFAULT_MAX_CATEGORIES if max_categories is None else max_categories
        ),
    )


# --------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------


def _check_window(preceding_days: int | None, start: date | None, end: date | None) -> None:
    fixed = start is not None and end is not None
    if fixed == (preceding_days is not None) or (fixed and start > end):  # type: ignore[operator]
        raise ValueError(ERROR_WINDOW)


def fitting_window(
    partitions_start: date,
    *,
    preceding_days: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> tuple[date, date]:
    """Days whose raw rows the bins are fitted on (inclusive).

    Example:
        >>> fitting_window(date(2026, 10, 1), preceding_days=14)
        (datetime.date(2026, 10, 1), datetime.date(2026, 10, 14))
    """
    _check_window(preceding_days, start, end)
    if preceding_days is None:
        return start, end  # type: ignore[return-value]
    return partitions_start, partitions_start + timedelta(days=preceding_days - 1)


def baseline_window(
    day: date,
    partitions_start: date,
    *,
    preceding_days: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> tuple[date, date] | None:
    """The baseline days of ``day`` (inclusive), or ``None`` inside the fitting window.

    Fixed: ``start..end`` for every day outside it (before it too: a backfill of history
    compares with the later reference). Rolling: the ``preceding_days`` days before.

    Example:
        >>> baseline_window(date(2026, 10, 20), date(2026, 10, 1), preceding_days=14)
        (datetime.date(2026, 10, 6), datetime.date(2026, 10, 19))
        >>> baseline_window(date(2026, 10, 3), date(2026, 10, 1), preceding_days=14) is None
        True
    """
    fit_from, fit_to = fitting_window(
        partitions_start, preceding_days=preceding_days, start=start, end=end
    )
    if fit_from <= day <= fit_to:
        return None
    if preceding_days is None:
        return fit_from, fit_to
    if day < fit_from:  # before the first partition: nothing precedes it
        return None
    return day - timedelta(days=preceding_days), day - timedelta(days=1)


def drift_status(baseline_days: int, window_days: int | None) -> DriftStatus:
    """``no_baseline`` without a window or days, ``partial_baseline`` when days are
    missing, else ``ok``.

    Example:
        >>> drift_status(14, 14), drift_status(9, 14), drift_status(0, 14), drift_status(0, None)
        ('ok', 'partial_baseline', 'no_baseline', 'no_baseline')
    """
    if window_days is None or baseline_days <= 0:
        return "no_baseline"
    return "ok" if baseline_days >= window_days else "partial_baseline"


# --------------------------------------------------------------------------------------
# Bins fitted from aggregates
# --------------------------------------------------------------------------------------


def quantile_levels(n_bins: int) -> list[float]:
    """The inner quantile levels ``1/n .. (n-1)/n`` that ``fit_numeric_bins`` uses.

    Example:
        >>> quantile_levels(4)
        [0.25, 0.5, 0.75]
    """
    return np.linspace(0.0, 1.0, n_bins + 1)[1:-1].tolist()


DISCRETE_MAX_VALUES = 20


def discrete_value_bins(
    finite_values: np.ndarray, *, max_values: int = DISCRETE_MAX_VALUES
) -> NumericBins | None:
    """One bin per distinct value when there are at most ``max_values`` of them, else None.

    The inner edges are the values themselves: bin ``[v_i, v_{i+1})`` holds exactly
    ``v_i`` in the baseline (the first bin, below the smallest value, stays empty there).

    Example:
        >>> discrete_value_bins(np.array([0.0, 1.0, 1.0, 3.0])).inner_edges
        (0.0, 1.0, 3.0)
        >>> discrete_value_bins(np.arange(30.0)) is None
        True
    """
    distinct = np.unique(np.asarray(finite_values, dtype=np.float64))
    distinct = distinct[np.isfinite(distinct)]
    if distinct.size == 0 or distinct.size > max_values:
        return None
    return NumericBins(tuple(distinct.tolist()))


def numeric_bins_from_quantiles(quantiles: Sequence[float | None] | None) -> NumericBins:
    """``NumericBins`` from baseline quantiles computed elsewhere (e.g. by the database).

    The rule of ``fit_numeric_bins``: the quantiles at ``quantile_levels(n_bins)``
    (linear interpolation over finite values), duplicates removed so ties give fewer,
    wider bins. ``None`` (a baseline without any value) gives a single bin.

    Example:
        >>> numeric_bins_from_quantiles([1.0, 1.0, 2.5]).inner_edges
        (1.0, 2.5)
    """
    if quantiles is None:
        return NumericBins(())
    values = np.asarray([np.nan if q is None else q for q in quantiles], dtype=np.float64)
    values = values[np.isfinite(values)]
    return NumericBins(tuple(np.unique(values).tolist()))


def order_categories(
    counts: Mapping[str, int], *, max_categories: int | None = None, feature: str = ""
) -> list[str]:
    """Categories from their baseline counts, in ``fit_categories``' order: most frequent
    first, ties by name, at most ``max_categories``.

    Example:
        >>> order_categories({"a": 1, "b": 2, "c": 2}, max_categories=2)
        ['b', 'c']
    """
    for name in counts:
        if name in (NULL_BIN, OTHER_BIN):
            raise ValueError(ERROR_RESERVED_CATEGORY.format(name=name, feature=feature))
    ordered = sorted(
        ((str(k), int(v)) for k, v in counts.items() if v > 0), key=lambda kv: (-kv[1], kv[0])
    )
    names = [name for name, _ in ordered]
    return names if max_categories is None else names[:max_categories]


def bins_checksum(kind: FeatureKind, values: NumericBins | Sequence[str]) -> str:
    """A short fingerprint of bins: histograms are comparable only on equal fingerprints.

    Numeric edges are fingerprinted exactly (``float.hex``), categories in order.

    Example:
        >>> bins_checksum("numeric", NumericBins((0.5,))) == bins_checksum(
        ...     "numeric", NumericBins((0.5,)))
        True
    """
    if kind == "numeric":
        assert isinstance(values, NumericBins)
        content = [float(e).hex() for e in values.inner_edges]
    else:
        content = [str(v) for v in values]
    payload = json.dumps({"kind": kind, "bins": content}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def numeric_bin_bounds(bins: NumericBins) -> pd.DataFrame:
    """``bin`` label with its inclusive ``bin_lower`` and exclusive ``bin_upper`` edge.

    Example:
        >>> numeric_bin_bounds(NumericBins((0.5,))).to_numpy().tolist()
        [['000', -inf, 0.5], ['001', 0.5, inf]]
    """
    edges = bins.edges
    return pd.DataFrame({"bin": bins.bin_labels(), "bin_lower": edges[:-1], "bin_upper": edges[1:]})
