"""Drift of one (model, day): bins fitted once, additive daily histograms, tests against
the baseline.

Steps, under a per-model advisory lock (drift runs of one model serialize; each takes
seconds, and concurrent backfill partitions then never write the same rows twice):

1. **Bins** (``monitoring.feature_bins``): each watched feature and the score get bins
   fitted once on the rows of the fitting window (``core.drift_baseline``). Numeric
   values stream out of the database by COPY into numpy, every row up to
   ``FIT_SAMPLE_ROWS`` (above it, a deterministic sample by id hash), and the edges are
   ``np.quantile`` at ``quantile_levels(n_bins)``, duplicates removed
   (``numeric_bins_from_quantiles``); categories are counted by the database and ordered
   by ``order_categories``, so only one count per category reaches Python. Until every day of the fitting window is materialized (``ingestion_stats``
   has its row, written with ``labeled_predictions``) nothing can be fitted. Bins are
   refitted only when what they were fitted with changes: the kind, ``baseline.bins``
   (numeric), the category cap (categorical) or the fitting window. A numeric feature
   with at most ``DISCRETE_MAX_VALUES`` (20) distinct values in the fitting rows is
   discrete: one bin per value (``feature_bins.discrete``; bins stored before that rule
   are refitted once).
2. **Histograms** (``monitoring.feature_histograms``): ``compute_feature_histograms``
   (cohort ``all`` and each single cohort attribute) over the day's rows in chunks, merged
   by ``merge_stats`` (:class:`DayHistograms`). ``labeled_predictions`` counts them as it
   writes the rows when every watched feature has bins the current config would fit
   (:func:`current_bins`), and keeps them in ``ingested_feature_histograms`` with the
   checksum of those bins and the cohort attributes (:func:`histograms_checksum`); the day's
   run takes them when its own bins give the same checksum, else it streams the day's rows
   back from ``labeled_predictions``.
3. **Baseline**: the sum of the stored histograms of the baseline window's days on the
   current bins (same ``bins_checksum``). A baseline day that has labeled predictions
   but no histograms on the current bins (the fitting window's days, which ran before
   the bins existed; days after a refit or a new feature; days not yet run in an
   out-of-order backfill) gets them computed once from its rows and stored, so the
   baseline does not depend on the run order. Days without labeled predictions are
   missing: the rest is used (``partial_baseline``) and ``baseline_days`` says how many.
4. **Tests** (``monitoring.drift``): ``evaluate_drift`` twice over every (cohort,
   feature): psi and js need ``min_count_distance`` observations per side; ks, chi2 and
   null_rate_change need ``min_count``. A discrete numeric feature gets chi2 on its
   value counts in place of ks. Benjamini-Hochberg runs across every sufficient ks,
   chi2, psi and js test of the model and day (one family, all features and cohorts; a
   psi or js flag also needs its adjusted p-value below ``FDR_LEVEL``).

Without a baseline (the day lies inside the fitting window, or no bins yet) the day's
rows have ``status = 'no_baseline'``, NULL figures and ``drifted`` NULL: one row per
(cohort, feature, method) when the day could be binned, else one per (feature, method)
for cohort ``all`` with NULL counts.

Everything of the day (histograms and drift rows) is written by one
``replace_partitions`` transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.drift import PSI_EPSILON, decide_drift, evaluate_drift
from monitoring_pipeline.core.drift_baseline import (
    CORE_METHOD_NAMES,
    DISTANCE_METHODS,
    METHODS_BY_KIND,
    STORED_METHOD_NAMES,
    DriftSettings,
    baseline_window,
    bins_checksum,
    discrete_value_bins,
    drift_status,
    fitting_window,
    method_descriptor,
    numeric_bin_bounds,
    numeric_bins_from_quantiles,
    order_categories,
    quantile_levels,
    resolve_drift_settings,
)
from monitoring_pipeline.core.sufficient_stats import (
    ALL_VERSIONS,
    CohortSpec,
    NumericBins,
    compute_feature_histograms,
    merge_stats,
)
from monitoring_pipeline.storage import drift as drift_store
from monitoring_pipeline.storage.ingestion import count_labeled_rows, days_with_rows, ingested_days
from monitoring_pipeline.storage.locks import lock_model_table
from monitoring_pipeline.storage.reads import (
    CHUNK_ROWS,
    iter_feature_values,
    iter_window_feature_values,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

__all__ = [
    "DriftConfigError",
    "DayHistograms",
    "DriftResult",
    "FeatureBins",
    "baseline_histograms",
    "build_drift",
    "compute_day_histograms",
    "current_bins",
    "drift_settings",
    "ensure_bins",
    "evaluate_day",
    "fill_baseline_days",
    "histograms_checksum",
    "watched_features",
]


SCORE_FEATURE = "score"
# Two-key advisory lock (namespace, hashtext(model)); the migrations' one-key lock lives
# in a separate key space.
LOCK_NAMESPACE = 0x64726674  # "drft"
METHOD_ORDER = ("psi", "ks", "js", "chi2", "null_rate_change")
HISTOGRAM_KEYS = ["cohort_attribute", "cohort_value", "feature", "feature_kind", "bin"]
DRIFT_COLUMNS = [
    "model_version", "cohort_attribute", "cohort_value", "feature", "feature_kind", "method",
    "statistic", "p_value", "p_value_adjusted", "lower", "upper", "threshold", "direction",
    "decided_on", "drifted", "sufficient", "n_reference", "n_current", "baseline_from",
    "baseline_to", "baseline_days", "status",
]  # fmt: skip
HISTOGRAM_COLUMNS = [
    "model_version", "cohort_attribute", "cohort_value", "feature", "feature_kind", "bin",
    "bin_lower", "bin_upper", "count", "bins_checksum",
]  # fmt: skip

ERROR_SCORE_FEATURE = (
    "models.{model}.features: {name!r} is reserved for the model score (drift of 'score' "
    "is computed from the score column)"
)

FeatureKind = Literal["numeric", "categorical"]


class DriftConfigError(ValueError):
    """The model's drift settings are invalid; the message names the key."""


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


def drift_settings(config: MonitoringConfig, model_name: str) -> DriftSettings:
    """The model's drift settings: its ``drift`` block over the documented defaults."""
    block = config.models[model_name].drift
    try:
        return resolve_drift_settings(
            block.thresholds,
            min_count=block.min_count,
            min_count_distance=block.min_count_distance,
            max_categories=block.max_categories,
        )
    except ValueError as exc:
        raise DriftConfigError(f"models.{model_name}.{exc}") from None


def watched_features(config: MonitoringConfig, model_name: str) -> dict[str, FeatureKind]:
    """Feature -> kind: the score first, then the numeric and categorical features, then
    the attribution columns (numeric; their values only: no null_rate_change)."""
    features = config.models[model_name].features
    if SCORE_FEATURE in features.all:
        raise DriftConfigError(ERROR_SCORE_FEATURE.format(model=model_name, name=SCORE_FEATURE))
    kinds: dict[str, FeatureKind] = {SCORE_FEATURE: "numeric"}
    kinds |= dict.fromkeys(features.numeric, "numeric")
    kinds |= dict.fromkeys(features.categorical, "categorical")
    # Attributions drift like numeric features (same bins, tests and FDR family).
    kinds |= dict.fromkeys(config.models[model_name].attribution_columns, "numeric")
    return kinds


def _windows(config: MonitoringConfig, model_name: str) -> dict:
    baseline = config.models[model_name].baseline
    return {
        "preceding_days": baseline.preceding_days,
        "start": baseline.start,
        "end": baseline.end,
    }


# --------------------------------------------------------------------------------------
# Bins
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureBins:
    """The stored bins of one feature and what they were fitted with."""

    feature: str
    kind: FeatureKind
    numeric: NumericBins | None
    categories: tuple[str, ...] | None
    n_bins_requested: int | None
    max_categories: int | None
    fitted_from: date
    fitted_to: date
    fitted_values: int
    # Numeric: one bin per baseline value (a discrete feature, tested by chi-square);
    # None for bins stored before that rule existed, which are refitted once.
    discrete: bool | None = None

    @property
    def checksum(self) -> str:
        return bins_checksum(self.kind, self.numeric if self.kind == "numeric" else self.categories)

    @property
    def n_bins(self) -> int:
        if self.numeric is not None:
            return self.numeric.n_bins
        return len(self.categories or ()) + 1

    def fitted_like(
        self, kind: str, window: tuple[date, date], n_bins: int, max_categories: int
    ) -> bool:
        """Whether these bins are what the current config would fit (no refit needed)."""
        if (self.kind, self.fitted_from, self.fitted_to) != (kind, *window):
            return False
        if kind == "numeric":
            return self.n_bins_requested == n_bins and self.discrete is not None
        return self.max_categories == max_categories


@dataclass(frozen=True)
class BinsState:
    bins: dict[str, FeatureBins]
    fitted_now: list[str]
    waiting: list[str]
    reason: str


def _load_bins(conn: sa.Connection, model_name: str) -> dict[str, FeatureBins]:
    rows = drift_store.load_bins(conn, model_name)
    out = {}
    for row in rows:
        numeric = row["feature_kind"] == "numeric"
        out[row["feature"]] = FeatureBins(
            feature=row["feature"],
            kind=row["feature_kind"],
            numeric=NumericBins(tuple(row["edges"])) if numeric else None,
            categories=None if numeric else tuple(row["categories"]),
            n_bins_requested=row["n_bins_requested"],
            max_categories=row["max_categories"],
            fitted_from=row["fitted_from"],
            fitted_to=row["fitted_to"],
            fitted_values=row["fitted_values"],
            discrete=row["discrete"],
        )
    return out


def _still_fitted(
    stored: Mapping[str, FeatureBins],
    kinds: Mapping[str, FeatureKind],
    window: tuple[date, date],
    n_bins: int,
    settings: DriftSettings,
) -> dict[str, FeatureBins]:
    """The ``stored`` bins of watched features that the current config would fit alike."""
    return {
        f: stored[f]
        for f, kind in kinds.items()
        if f in stored and stored[f].fitted_like(kind, window, n_bins, settings.max_categories)
    }


def current_bins(
    engine: Engine, config: MonitoringConfig, model_name: str
) -> dict[str, FeatureBins]:
    """The model's stored bins when every watched feature has bins the current config
    would fit (those its next drift run uses as they are); else none (not fitted yet, a
    refit due, or a drift setting the drift run will name as wrong)."""
    try:
        settings = drift_settings(config, model_name)
        kinds = watched_features(config, model_name)
    except DriftConfigError:
        return {}
    window = fitting_window(config.partitions_start, **_windows(config, model_name))
    n_bins = config.models[model_name].baseline.bins
    with engine.connect() as conn:
        valid = _still_fitted(_load_bins(conn, model_name), kinds, window, n_bins, settings)
    return valid if len(valid) == len(kinds) else {}


def _missing_days(conn: sa.Connection, model_name: str, window: tuple[date, date]) -> list[date]:
    """Days of the window whose labeled_predictions partition has not been written."""
    present = ingested_days(conn, model_name, window[0], window[1])
    days = [window[0] + timedelta(days=i) for i in range((window[1] - window[0]).days + 1)]
    return [d for d in days if d not in present]


def _fit_bins(
    conn: sa.Connection,
    model_name: str,
    kinds: dict[str, FeatureKind],
    window: tuple[date, date],
    n_bins: int,
    max_categories: int,
) -> dict[str, FeatureBins]:
    """Fit the bins of ``kinds`` on the window's rows: numeric quantiles from the values
    streamed out (sampled above FIT_SAMPLE_ROWS), category counts by the database."""
    out: dict[str, FeatureBins] = {}
    common = {"fitted_from": window[0], "fitted_to": window[1]}

    numeric = [f for f, k in kinds.items() if k == "numeric"]
    if numeric:
        values = _numeric_fitting_values(conn, model_name, numeric, window)
        levels = quantile_levels(n_bins)
        for name in numeric:
            finite = values[name][np.isfinite(values[name])]
            value_bins = discrete_value_bins(finite)
            out[name] = FeatureBins(
                feature=name,
                kind="numeric",
                numeric=value_bins
                or numeric_bins_from_quantiles(
                    np.quantile(finite, levels).tolist() if finite.size else None
                ),
                categories=None,
                n_bins_requested=n_bins,
                max_categories=None,
                fitted_values=int(finite.size),
                discrete=value_bins is not None,
                **common,
            )

    categorical = [f for f, k in kinds.items() if k == "categorical"]
    if categorical:
        counts = drift_store.category_counts(conn, model_name, categorical, window)
        for name in categorical:
            mine = counts[counts.feature == name]
            out[name] = FeatureBins(
                feature=name,
                kind="categorical",
                numeric=None,
                categories=tuple(
                    order_categories(
                        dict(zip(mine.value, mine.n, strict=True)),
                        max_categories=max_categories,
                        feature=name,
                    )
                ),
                n_bins_requested=None,
                max_categories=max_categories,
                fitted_values=int(mine.n.sum()),
                discrete=False,
                **common,
            )
    return out


# Above this many rows in the fitting window, numeric bins are fitted on a deterministic
# sample of about this size: quantile edges of a million values are exact to ~0.1% of the
# mass, and the values of a long, busy window would not fit in memory.
FIT_SAMPLE_ROWS = 1_000_000


def _numeric_fitting_values(
    conn: sa.Connection, model_name: str, numeric: list[str], window: tuple[date, date]
) -> dict[str, np.ndarray]:
    """The window's values of ``numeric`` features (score included when listed), streamed
    out by COPY; every row up to FIT_SAMPLE_ROWS, else the rows whose id hash falls in one
    residue class (the same sample on every refit of unchanged rows)."""
    rows = count_labeled_rows(conn, model_name, window[0], window[1])
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in numeric}
    for chunk in iter_window_feature_values(
        conn.engine,
        model_name,
        window,
        numeric_features=[f for f in numeric if f != SCORE_FEATURE],
        sample_every=max(1, -(-rows // FIT_SAMPLE_ROWS)),
    ):
        for name in numeric:
            chunks[name].append(chunk[name].to_numpy(dtype=np.float64, na_value=np.nan))
    return {
        name: np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
        for name, parts in chunks.items()
    }


def _save_bins(
    conn: sa.Connection, model_name: str, bins: dict[str, FeatureBins], audit: Audit
) -> None:
    drift_store.save_bins(
        conn,
        model_name,
        [
            {
                "feature": b.feature,
                "kind": b.kind,
                "edges": list(b.numeric.inner_edges) if b.numeric is not None else None,
                "categories": list(b.categories) if b.categories is not None else None,
                "n_bins_requested": b.n_bins_requested,
                "max_categories": b.max_categories,
                "n_bins": b.n_bins,
                "fitted_from": b.fitted_from,
                "fitted_to": b.fitted_to,
                "fitted_values": b.fitted_values,
                "discrete": b.discrete,
                "checksum": b.checksum,
                "run_id": audit.run_id,
                "produced_at": audit.produced_at,
            }
            for b in bins.values()
        ],
    )


def ensure_bins(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    settings: DriftSettings,
    audit: Audit,
) -> BinsState:
    """The model's bins: stored ones when still valid, else fitted now (when the fitting
    window is materialized). Features that cannot be fitted yet are ``waiting``."""
    kinds = watched_features(config, model_name)
    window = fitting_window(config.partitions_start, **_windows(config, model_name))
    n_bins = config.models[model_name].baseline.bins
    with engine.begin() as conn:
        # Runs of two days of one model may both find the bins missing: the second waits
        # here and then reuses what the first fitted (its DELETE-then-INSERT would
        # otherwise fail on the primary key once the first commits).
        lock_model_table(conn, table="monitoring.feature_bins", model_name=model_name)
        valid = _still_fitted(_load_bins(conn, model_name), kinds, window, n_bins, settings)
        to_fit = {f: k for f, k in kinds.items() if f not in valid}
        if not to_fit:
            return BinsState(valid, [], [], f"bins fitted on {window[0]}..{window[1]} reused")
        missing = _missing_days(conn, model_name, window)
        if missing:
            reason = (
                f"bins not fitted yet: {len(missing)} of {(window[1] - window[0]).days + 1} days "
                f"of the fitting window {window[0]}..{window[1]} not materialized "
                f"(first missing {missing[0]})"
            )
            return BinsState(valid, [], list(to_fit), reason)
        fitted = _fit_bins(conn, model_name, to_fit, window, n_bins, settings.max_categories)
        _save_bins(conn, model_name, fitted, audit)
    return BinsState(
        {f: (valid | fitted)[f] for f in kinds},
        list(fitted),
        [],
        f"bins fitted on {window[0]}..{window[1]} for {len(fitted)} feature(s)",
    )


# --------------------------------------------------------------------------------------
# Histograms
# --------------------------------------------------------------------------------------


# Bumped when what a day's histograms hold changes: those counted before are stale.
HISTOGRAMS_FORMAT = 1
# Chunk histograms held before they are summed into one (bounds a large day's memory).
MERGE_EVERY = 8


def histograms_checksum(bins: Mapping[str, FeatureBins], attributes: Sequence[str]) -> str:
    """What a day's histograms are counted by: each feature's bins and the cohort
    attributes. Histograms counted by another checksum are not those of the current bins."""
    described = {
        "attributes": list(attributes),
        "bins": {feature: bins[feature].checksum for feature in sorted(bins)},
        "format": HISTOGRAMS_FORMAT,
    }
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


class DayHistograms:
    """A day's feature histograms on ``bins`` (cohort ``all`` and each of ``attributes``),
    counted chunk by chunk. A chunk holds ``score``, the numeric features as floats and the
    categorical ones and the cohort attributes as text; ``labeled_predictions`` adds each
    chunk it writes, :func:`compute_day_histograms` each chunk it reads back."""

    def __init__(self, bins: Mapping[str, FeatureBins], attributes: Sequence[str]) -> None:
        self.bins = dict(bins)
        self.attributes = list(attributes)
        self.checksum = histograms_checksum(self.bins, self.attributes)
        self._numeric = {f: b.numeric for f, b in self.bins.items() if b.numeric is not None}
        self._categorical = {
            f: list(b.categories) for f, b in self.bins.items() if b.categories is not None
        }
        self._spec = CohortSpec(tuple(self.attributes))
        self._counted: list[pd.DataFrame] = []

    @property
    def numeric_features(self) -> list[str]:
        """The numeric features a chunk needs (besides ``score``)."""
        return [f for f in self._numeric if f != SCORE_FEATURE]

    @property
    def categorical_features(self) -> list[str]:
        return list(self._categorical)

    @property
    def cohort_attributes(self) -> tuple[str, ...]:
        return self._spec.columns

    def add(self, chunk: pd.DataFrame) -> None:
        if not self.bins or chunk.empty:
            return
        self._counted.append(
            compute_feature_histograms(
                chunk, self._numeric, self._categorical, self._spec, group_keys=()
            )
        )
        if len(self._counted) >= MERGE_EVERY:
            self._counted = [merge_stats(self._counted)]

    def frame(self) -> pd.DataFrame:
        """``HISTOGRAM_KEYS`` + ``count`` (int64), sorted by the keys."""
        if not self._counted:
            empty = pd.DataFrame({c: pd.Series(dtype="str") for c in HISTOGRAM_KEYS})
            empty["count"] = pd.Series(dtype="int64")
            return empty
        return merge_stats(self._counted)[[*HISTOGRAM_KEYS, "count"]]

    def rows(self) -> pd.DataFrame:
        """:meth:`frame` as ``feature_histograms`` stores it, with the checksum
        (``spec_checksum``): the ``ingested_feature_histograms`` rows."""
        if not self._counted:
            return pd.DataFrame()
        return histogram_rows(self.frame(), self.bins).assign(spec_checksum=self.checksum)


def compute_day_histograms(
    engine: Engine,
    model_name: str,
    day: date,
    bins: dict[str, FeatureBins],
    attributes: Sequence[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """The day's histograms on ``bins``: ``HISTOGRAM_KEYS`` + ``count``. Those
    labeled_predictions counted on the same bins and attributes, else the day's rows
    streamed ``chunk_rows`` at a time and merged by addition."""
    counted = DayHistograms(bins, attributes)
    if not bins:
        return counted.frame()
    ingested = drift_store.ingested_histograms(engine, model_name, day, counted.checksum)
    if not ingested.empty:
        return merge_stats([ingested.astype({"count": "int64"})])[[*HISTOGRAM_KEYS, "count"]]
    for chunk in iter_feature_values(
        engine,
        model_name,
        day,
        numeric_features=counted.numeric_features,
        categorical_features=counted.categorical_features,
        cohort_attributes=counted.cohort_attributes,
        chunk_rows=chunk_rows,
    ):
        counted.add(chunk)
    return counted.frame()


def histogram_rows(histograms: pd.DataFrame, bins: dict[str, FeatureBins]) -> pd.DataFrame:
    """Histograms as ``feature_histograms`` stores them (edges and bins fingerprint)."""
    bounds = [
        numeric_bin_bounds(b.numeric).assign(feature=f)
        for f, b in bins.items()
        if b.numeric is not None
    ]
    rows = histograms.assign(model_version=ALL_VERSIONS)
    if bounds:
        rows = rows.merge(pd.concat(bounds), on=["feature", "bin"], how="left")
    else:
        rows = rows.assign(bin_lower=np.nan, bin_upper=np.nan)
    rows["bins_checksum"] = rows["feature"].map({f: b.checksum for f, b in bins.items()})
    return rows[HISTOGRAM_COLUMNS]


def _valid_histogram_days(
    engine: Engine, model_name: str, window: tuple[date, date], bins: dict[str, FeatureBins]
) -> pd.DataFrame:
    """(partition_date, feature) pairs of the window stored on the current bins."""
    stored = drift_store.histogram_checksums(engine, model_name, ALL_VERSIONS, window)
    checksums = {f: b.checksum for f, b in bins.items()}
    return stored[stored.bins_checksum == stored.feature.map(checksums)]


def fill_baseline_days(
    engine: Engine,
    model_name: str,
    window: tuple[date, date],
    bins: dict[str, FeatureBins],
    attributes: Sequence[str],
    audit: Audit,
) -> list[date]:
    """Store the histograms of window days that have labeled predictions but no
    histograms on the current bins for every feature; returns those days."""
    valid = _valid_histogram_days(engine, model_name, window, bins)
    complete = {
        d for d, n in valid.groupby("partition_date").feature.nunique().items() if n == len(bins)
    }
    with_rows = days_with_rows(engine, model_name, window[0], window[1])
    filled = [d for d in with_rows if d not in complete]
    for day in filled:
        histograms = compute_day_histograms(engine, model_name, day, bins, attributes)
        replace_partitions(
            engine,
            model_name=model_name,
            partition_date=day,
            rows=[
                TableRows(
                    "feature_histograms",
                    histogram_rows(histograms, bins).assign(
                        partition_date=day, model_name=model_name
                    ),
                )
            ],
            audit=audit,
        )
    return filled


def baseline_histograms(
    engine: Engine, model_name: str, window: tuple[date, date], bins: dict[str, FeatureBins]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Sum of the window's stored histograms on the current bins (``merge_stats``), and
    the number of days found per feature."""
    rows = drift_store.window_histograms(engine, model_name, ALL_VERSIONS, window)
    checksums = {f: b.checksum for f, b in bins.items()}
    rows = rows[rows.bins_checksum == rows.feature.map(checksums)]
    days = rows.groupby("feature").partition_date.nunique().to_dict()
    if rows.empty:
        return rows[[*HISTOGRAM_KEYS, "count"]], {f: 0 for f in bins}
    merged = merge_stats([rows[[*HISTOGRAM_KEYS, "count"]].astype({"count": "int64"})])
    return merged, {f: int(days.get(f, 0)) for f in bins}


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def evaluate_day(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    settings: DriftSettings,
    discrete_features: Sequence[str] = (),
) -> pd.DataFrame:
    """Every drift test of the day, stored method names, one Benjamini-Hochberg family
    (every sufficient ks, chi2, psi and js test of every feature and cohort; psi, js and
    chi2 of one histogram are one hypothesis). ``discrete_features`` (numeric, one bin
    per value) get chi2 in place of ks."""
    distance = list(DISTANCE_METHODS)
    tests = [m for m in CORE_METHOD_NAMES if m not in DISTANCE_METHODS]
    frames = [
        evaluate_drift(
            baseline,
            current,
            methods=[CORE_METHOD_NAMES[m] for m in names],
            thresholds=settings.core_thresholds(names),
            min_count=min_count,
            epsilon=PSI_EPSILON,
            count_test_features=discrete_features,
            decide=False,
        )
        for names, min_count in (
            (distance, settings.min_count_distance),
            (tests, settings.min_count),
        )
    ]
    result = pd.concat(frames, ignore_index=True)
    histogram_columns = [c for c in current.columns if c not in ("bin", "count")]
    result = decide_drift(result, histogram_columns=histogram_columns)
    result["method"] = result["method"].map(STORED_METHOD_NAMES)
    descriptors = {m: method_descriptor(m) for m in CORE_METHOD_NAMES}
    result["direction"] = result["method"].map({m: d.direction for m, d in descriptors.items()})
    result["decided_on"] = result["method"].map({m: d.decided_on for m, d in descriptors.items()})
    return _sorted(result)


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    order = rows.assign(__rank=rows["method"].map(rank))
    order = order.sort_values(
        ["cohort_attribute", "cohort_value", "feature", "__rank"], kind="stable"
    )
    return order.drop(columns="__rank").reset_index(drop=True)


def no_bins_rows(kinds: dict[str, FeatureKind], settings: DriftSettings) -> pd.DataFrame:
    """``no_baseline`` rows for features without bins: cohort ``all``, NULL figures."""
    rows = []
    for feature, kind in kinds.items():
        for method in METHODS_BY_KIND[kind]:
            descriptor = method_descriptor(method)
            rows.append(
                {
                    "cohort_attribute": "all",
                    "cohort_value": "all",
                    "feature": feature,
                    "feature_kind": kind,
                    "method": method,
                    "threshold": settings.thresholds[method],
                    "direction": descriptor.direction,
                    "decided_on": descriptor.decided_on,
                }
            )
    frame = pd.DataFrame(rows)
    for column in ("statistic", "p_value", "p_value_adjusted", "lower", "upper"):
        frame[column] = np.nan
    frame["drifted"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    frame["sufficient"] = False
    frame["n_reference"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame["n_current"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    return frame


# --------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftResult:
    rows: int
    histogram_rows: int
    backfilled_days: list[date]
    bins_fitted: list[str]
    bins_note: str
    bins_ready: bool
    baseline_from: date | None
    baseline_to: date | None
    window_days: int | None
    baseline_days: int
    statuses: dict[str, int]
    p_value_tests: int
    drifted: pd.DataFrame = field(repr=False)

    @property
    def drifted_tests(self) -> int:
        return len(self.drifted)

    @property
    def baseline_description(self) -> str:
        """The baseline used, in words (also why there is none)."""
        if self.baseline_from is None:
            return f"none: the day lies inside the bins' fitting window ({self.bins_note})"
        if not self.bins_ready:
            return f"none: {self.bins_note}"
        if self.baseline_days == 0:
            return f"none: no day of {self.baseline_from}..{self.baseline_to} has predictions"
        return (
            f"{self.baseline_from}..{self.baseline_to}: "
            f"{self.baseline_days} of {self.window_days} days found"
        )


def model_lock(engine: Engine, model_name: str) -> AbstractContextManager[None]:
    """Hold a session advisory lock for ``model_name`` (released at exit, or by the server
    when the session dies)."""
    return drift_store.model_lock(engine, LOCK_NAMESPACE, model_name)


def build_drift(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    day: date,
    audit: Audit,
    *,
    settings: DriftSettings | None = None,
) -> DriftResult:
    """Fit or reuse bins, store the day's histograms and drift rows; see the module doc."""
    settings = settings or drift_settings(config, model_name)
    kinds = watched_features(config, model_name)
    attributes = list(config.models[model_name].cohorts.attributes)
    with model_lock(engine, model_name):
        state = ensure_bins(engine, config, model_name, settings, audit)
        window = baseline_window(day, config.partitions_start, **_windows(config, model_name))
        window_days = None if window is None else (window[1] - window[0]).days + 1
        current = compute_day_histograms(engine, model_name, day, state.bins, attributes)
        backfilled: list[date] = []
        baseline_days = {f: 0 for f in state.bins}
        baseline = current.iloc[0:0]
        if window is not None and state.bins:
            backfilled = fill_baseline_days(
                engine, model_name, window, state.bins, attributes, audit
            )
            baseline, baseline_days = baseline_histograms(engine, model_name, window, state.bins)

        discrete = [f for f, b in state.bins.items() if b.discrete]
        drift = evaluate_day(current, baseline, settings, discrete_features=discrete)
        found = drift["feature"].map(baseline_days).fillna(0).astype(np.int64)
        drift["baseline_days"] = found
        drift["status"] = [drift_status(int(n), window_days) for n in found]
        drift["baseline_from"] = None if window is None else window[0]
        drift["baseline_to"] = None if window is None else window[1]
        # Without a baseline nothing is judged (evaluate_drift already finds the tests
        # insufficient with an empty reference; this states the rule).
        drift.loc[drift["status"] == "no_baseline", "drifted"] = pd.NA
        waiting = {f: kinds[f] for f in state.waiting}
        if waiting:
            extra = no_bins_rows(waiting, settings).assign(
                baseline_from=None, baseline_to=None, baseline_days=0, status="no_baseline"
            )
            drift = pd.concat([drift, extra], ignore_index=True) if len(drift) else extra
        # An attribution's missingness is a logging choice (a version served without an
        # explainer), not a change in how the model uses its inputs: its values are tested,
        # its presence is counted in feature_attributions.n instead of flagged here.
        unexplained = drift["feature"].isin(config.models[model_name].attribution_columns) & (
            drift["method"] == "null_rate_change"
        )
        drift = drift[~unexplained].reset_index(drop=True)
        drift = drift.assign(model_version=ALL_VERSIONS)[DRIFT_COLUMNS]
        drift = drift.astype({"n_reference": "Int64", "n_current": "Int64", "drifted": "boolean"})

        key = {"partition_date": day, "model_name": model_name}
        histograms = histogram_rows(current, state.bins) if state.bins else current.iloc[0:0]
        written = replace_partitions(
            engine,
            model_name=model_name,
            partition_date=day,
            rows=[
                TableRows("feature_histograms", histograms.assign(**key)),
                TableRows("drift", drift.assign(**key)),
            ],
            audit=audit,
        )

    flagged = drift[drift["drifted"].fillna(False).astype(bool)]
    return DriftResult(
        rows=written["drift"],
        histogram_rows=written["feature_histograms"],
        backfilled_days=backfilled,
        bins_fitted=state.fitted_now,
        bins_note=state.reason,
        bins_ready=bool(state.bins),
        baseline_from=None if window is None else window[0],
        baseline_to=None if window is None else window[1],
        window_days=window_days,
        baseline_days=min(baseline_days.values(), default=0) if window is not None else 0,
        statuses=drift["status"].value_counts().to_dict(),
        p_value_tests=int(drift["p_value_adjusted"].notna().sum()),
        drifted=flagged,
    )
