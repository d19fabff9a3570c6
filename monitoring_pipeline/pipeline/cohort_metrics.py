"""Per-cohort sufficient statistics and metrics of one (model, day); fairness disparities.

``cohort_metrics`` publishes the day's additive statistics (``cohort_stats``, and the
score sums of label-free estimation, ``estimation_stats``, read by ``pipeline.estimation``)
and derives every metric from them. ``labeled_predictions`` counts them while it writes the
day's rows (:class:`DayStatistics`, kept in ``ingested_cohort_stats`` and
``ingested_estimation_stats`` with the :func:`statistics_checksum` they were counted by);
when that checksum is not the current config's (a cohort setting changed since, or a day
written before migration 036), the day's rows are streamed once and counted again. ``fairness_disparities`` reads
only those statistics, never the raw rows, and writes each group's gaps against its
reference group (``fairness_disparities``) and against the rest of its attribute
(``fairness_disparities_vs_rest``) in one transaction.

Reference groups are fixed, not chosen per day: the configured ``reference_groups``
(attributes and intersections), else the largest group (most predictions, all versions)
over the model's baseline fitting window (the drift baseline's first window: a fixed
``start..end``, or the first ``preceding_days`` days from ``partitions_start``), the
same window for every day. The window's ``cohort_stats`` are summed, so every day that
has been run by then counts; until none has, a day falls back to its own largest group.

``cohort_metrics`` also writes ``cohort_changes``: each cohort's rates and calibration on
the day against the same cohort over the day's drift baseline window (the window's
``cohort_stats`` summed: additive, no raw rows). A baseline day re-run later (late
labels) changes the window; the day's changes follow when the day itself is re-run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.cohort_changes import compute_cohort_changes
from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics, to_long_format
from monitoring_pipeline.core.disparities import (
    choose_reference_groups,
    compute_disparities,
    compute_disparities_against_rest,
    fairness_family,
    worst_disparities,
)
from monitoring_pipeline.core.drift_baseline import baseline_window, fitting_window
from monitoring_pipeline.core.estimation import ESTIMATION_SCORE_BINS
from monitoring_pipeline.core.sufficient_stats import (
    ALL_VERSIONS,
    CONFUSION_COUNT_COLUMNS,
    CohortSpec,
    compute_confusion_stats,
    compute_estimation_stats,
    merge_stats,
    score_bin_columns,
)
from monitoring_pipeline.storage.cohort_windows import cohort_stats_between, group_sizes_between
from monitoring_pipeline.storage.cohorts import day_cohort_stats, ingested_day_statistics
from monitoring_pipeline.storage.estimation import (
    ESTIMATION_STATS_TABLE,
    estimation_stats_to_rows,
    rows_to_estimation_stats,
)
from monitoring_pipeline.storage.reads import iter_labeled_predictions
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

SCORE_BINS = 10
STATS_KEYS = ["model_version", "cohort_attribute", "cohort_value"]
COUNT_COLUMNS = list(CONFUSION_COUNT_COLUMNS)
SUM_COLUMNS = ["brier_sum", "brier_sq_sum"]
BIN_KINDS = ("n", "score_sum", "label_sum")
VS_REST_TABLE = "fairness_disparities_vs_rest"
CHANGES_TABLE = "cohort_changes"


@dataclass(frozen=True)
class CohortMetricsResult:
    rows: int
    cohorts: int
    overall: dict[str, float | None]


@dataclass(frozen=True)
class DisparitiesResult:
    rows: int
    worst: pd.DataFrame
    # The day's Benjamini-Hochberg family over both fairness tables: gaps tested, and
    # those whose adjusted p-value is below the false discovery rate.
    gaps_tested: int = 0
    gaps_significant: int = 0


def cohort_spec(config: MonitoringConfig, model_name: str) -> CohortSpec:
    cohorts = config.models[model_name].cohorts
    return CohortSpec(tuple(cohorts.attributes), tuple(tuple(i) for i in cohorts.intersections))


# Bumped when what the statistics of a day hold changes: those counted before are stale.
STATISTICS_FORMAT = 1
# Chunk statistics held before they are summed into one.
MERGE_EVERY = 8


def statistics_checksum(config: MonitoringConfig, model_name: str) -> str:
    """What a day's statistics are counted by: the cohort attributes and intersections and
    the score bins. Statistics counted by another checksum are not the current config's."""
    spec = cohort_spec(config, model_name)
    described = {
        "attributes": spec.attributes,
        "intersections": spec.intersections,
        "score_bins": SCORE_BINS,
        "estimation_score_bins": ESTIMATION_SCORE_BINS,
        "format": STATISTICS_FORMAT,
    }
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


class DayStatistics:
    """A day's additive statistics counted chunk by chunk: the confusion and calibration
    counts (``cohort_stats``) and the score sums of label-free estimation
    (``estimation_stats``), per model version and over all versions.

    A chunk holds ``model_version, score, decision, label`` (label 0/1, null while
    unlabelled) and the cohort attribute columns; ``labeled_predictions`` adds each chunk
    it writes, ``day_statistics`` each chunk it reads back.
    """

    def __init__(self, config: MonitoringConfig, model_name: str) -> None:
        self._spec = cohort_spec(config, model_name)
        self.checksum = statistics_checksum(config, model_name)
        self._confusion: list[pd.DataFrame] = []
        self._estimation: list[pd.DataFrame] = []

    @property
    def columns(self) -> tuple[str, ...]:
        """The cohort attribute columns a chunk needs."""
        return self._spec.columns

    def add(self, chunk: pd.DataFrame) -> None:
        if chunk.empty:
            return
        spec = self._spec
        self._confusion.append(compute_confusion_stats(chunk, spec, score_bins=SCORE_BINS))
        self._estimation.append(
            compute_estimation_stats(chunk, spec, score_bins=ESTIMATION_SCORE_BINS)
        )
        if len(self._confusion) >= MERGE_EVERY:  # bounds a large day's memory
            self._confusion = [merge_stats(self._confusion)]
            self._estimation = [merge_stats(self._estimation)]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(cohort statistics, estimation statistics); two empty frames for a day without
        rows."""
        if not self._confusion:
            return pd.DataFrame(), pd.DataFrame()
        return _with_all_versions(self._confusion), _with_all_versions(self._estimation)

    def rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`frames` as ``cohort_stats`` and ``estimation_stats`` store them, with the
        checksum (``spec_checksum``): the ``ingested_*`` tables' rows."""
        confusion, estimation = self.frames()
        if confusion.empty:
            return pd.DataFrame(), pd.DataFrame()
        return (
            stats_to_rows(confusion).assign(spec_checksum=self.checksum),
            estimation_stats_to_rows(estimation).assign(spec_checksum=self.checksum),
        )


def day_statistics(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Additive statistics of the day (see :class:`DayStatistics`): as labeled_predictions
    counted them when they were counted by the current config's checksum, else from one
    pass over the day's rows."""
    counted = DayStatistics(config, model_name)
    confusion_rows, estimation_rows = ingested_day_statistics(
        engine, model_name, day, counted.checksum
    )
    if not confusion_rows.empty:
        return (
            merge_stats([rows_to_stats(confusion_rows)]),
            merge_stats([rows_to_estimation_stats(estimation_rows.drop(columns="partition_date"))]),
        )
    for chunk in iter_labeled_predictions(
        engine, model_name, day, cohort_attributes=counted.columns
    ):
        counted.add(chunk)
    return counted.frames()


def _with_all_versions(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    per_version = merge_stats(chunks)
    if (
        per_version["model_version"].nunique() == 1
        and per_version["model_version"].iloc[0] == ALL_VERSIONS
    ):
        return per_version
    return merge_stats([per_version, per_version.assign(model_version=ALL_VERSIONS)])


def _pg_array(frame: pd.DataFrame, columns: list[str], fmt: str) -> list[str]:
    values = frame[columns].to_numpy()
    return ["{" + ",".join(format(v, fmt) for v in row) + "}" for row in values]


def stats_to_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """Statistics as ``cohort_stats`` stores them: score bins as Postgres arrays."""
    out = stats[[*STATS_KEYS, *COUNT_COLUMNS, *SUM_COLUMNS]].copy()
    for kind in BIN_KINDS:
        columns = [c for c in score_bin_columns(SCORE_BINS) if c.startswith(f"bin_{kind}_")]
        out[f"bin_{kind}"] = _pg_array(stats, columns, ".17g" if kind == "score_sum" else "d")
    return out


def rows_to_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Inverse of :func:`stats_to_rows` (arrays back to one column per bin). A row without
    ``brier_sq_sum`` (NULL: written before migration 026; or a frame without the column)
    reads as NaN, so its Brier score has no interval."""
    out = rows[[*STATS_KEYS, *COUNT_COLUMNS, "brier_sum"]].copy()
    squares = rows["brier_sq_sum"] if "brier_sq_sum" in rows.columns else np.nan
    out["brier_sq_sum"] = pd.to_numeric(pd.Series(squares, index=rows.index), errors="coerce")
    for kind in BIN_KINDS:
        matrix = np.array(
            rows[f"bin_{kind}"].tolist(), dtype=np.float64 if kind == "score_sum" else np.int64
        )
        for b in range(SCORE_BINS):
            out[f"bin_{kind}_{b}"] = matrix[:, b] if len(rows) else np.array([], dtype=matrix.dtype)
    return out


def build_cohort_metrics(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> CohortMetricsResult:
    stats, estimation = day_statistics(engine, config, model_name, day)
    key = {"partition_date": day, "model_name": model_name}
    if stats.empty:
        replace_partitions(
            engine,
            model_name=model_name,
            partition_date=day,
            rows=[
                TableRows("cohort_stats", pd.DataFrame()),
                TableRows("cohort_metrics", pd.DataFrame()),
                TableRows(CHANGES_TABLE, pd.DataFrame()),
                TableRows(ESTIMATION_STATS_TABLE, pd.DataFrame()),
            ],
            audit=audit,
        )
        return CohortMetricsResult(0, 0, {})
    wide = derive_cohort_metrics(stats, min_cohort_size=config.min_cohort_size(model_name))
    long = to_long_format(wide).merge(wide[[*STATS_KEYS, "n", "n_labelled"]], on=STATS_KEYS)
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[
            TableRows("cohort_stats", stats_to_rows(stats).assign(**key)),
            TableRows("cohort_metrics", long.assign(**key)),
            TableRows(CHANGES_TABLE, changes_from_baseline(engine, config, model_name, day, wide)),
            TableRows(ESTIMATION_STATS_TABLE, estimation_stats_to_rows(estimation).assign(**key)),
        ],
        audit=audit,
    )
    overall_row = wide[
        (wide.model_version == ALL_VERSIONS) & (wide.cohort_attribute == "all")
    ].iloc[0]
    overall = {
        m: _number(overall_row[m]) for m in ("accuracy", "tpr", "fpr", "selection_rate", "ece")
    }
    return CohortMetricsResult(rows=len(long), cohorts=len(wide), overall=overall)


def changes_from_baseline(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, wide: pd.DataFrame
) -> pd.DataFrame:
    """``cohort_changes`` rows of the day: each cohort's figures against the same cohort
    over the drift baseline window of the day (its ``cohort_stats`` summed); no rows when
    the day has no window (inside the fitting window) or the window no statistics."""
    baseline = config.models[model_name].baseline
    window = baseline_window(
        day,
        config.partitions_start,
        preceding_days=baseline.preceding_days,
        start=baseline.start,
        end=baseline.end,
    )
    rows = cohort_stats_between(engine, model_name, *window) if window else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame()
    summed = merge_stats([rows_to_stats(rows)])
    reference = derive_cohort_metrics(summed, min_cohort_size=config.min_cohort_size(model_name))
    changes = compute_cohort_changes(wide, reference)
    return changes.assign(
        baseline_from=window[0],
        baseline_to=window[1],
        baseline_days=rows["partition_date"].nunique(),
        partition_date=day,
        model_name=model_name,
    )


def reference_groups(engine: Engine, config: MonitoringConfig, model_name: str) -> dict[str, str]:
    """Attribute -> reference group: configured, else the largest over the baseline
    fitting window (see the module docstring)."""
    baseline = config.models[model_name].baseline
    start, end = fitting_window(
        config.partitions_start,
        preceding_days=baseline.preceding_days,
        start=baseline.start,
        end=baseline.end,
    )
    sizes = group_sizes_between(engine, model_name, start, end)
    return choose_reference_groups(sizes, config.models[model_name].cohorts.reference_groups)


def build_fairness_disparities(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> DisparitiesResult:
    rows = day_cohort_stats(engine, model_name, day)
    key = {"partition_date": day, "model_name": model_name}
    if rows.empty:
        replace_partitions(
            engine, model_name=model_name, partition_date=day,
            rows=[TableRows("fairness_disparities", pd.DataFrame()),
                  TableRows(VS_REST_TABLE, pd.DataFrame())], audit=audit,
        )  # fmt: skip
        return DisparitiesResult(0, pd.DataFrame())
    wide = derive_cohort_metrics(
        rows_to_stats(rows), min_cohort_size=config.min_cohort_size(model_name)
    )
    disparities = compute_disparities(wide, reference=reference_groups(engine, config, model_name))
    worst = _mark_worst(disparities)
    against_rest = compute_disparities_against_rest(
        wide, min_cohort_size=config.min_cohort_size(model_name)
    )
    _mark_worst(against_rest)
    # One Benjamini-Hochberg family: every gap of the model's day, both tables.
    disparities, against_rest = fairness_family(disparities, against_rest)
    against_rest = against_rest.merge(_rest_sizes(wide), on=STATS_KEYS, how="left")
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[
            TableRows("fairness_disparities", disparities.assign(**key)),
            TableRows(VS_REST_TABLE, against_rest.assign(**key)),
        ],
        audit=audit,
    )
    judged = pd.concat([disparities["significant"], against_rest["significant"]])
    return DisparitiesResult(
        rows=len(disparities),
        worst=worst[worst.model_version == ALL_VERSIONS],
        gaps_tested=int(judged.notna().sum()),
        gaps_significant=int(judged.fillna(False).astype(bool).sum()),
    )


def _mark_worst(disparities: pd.DataFrame) -> pd.DataFrame:
    """Set ``is_worst`` (and a nullable ``passes_four_fifths``) in place; return the worst."""
    worst = worst_disparities(disparities)
    key = ["model_version", "cohort_attribute", "cohort_value", "metric"]
    worst_keys = set(map(tuple, worst[key].to_numpy()))
    disparities["is_worst"] = [tuple(k) in worst_keys for k in disparities[key].to_numpy()]
    disparities["passes_four_fifths"] = disparities["passes_four_fifths"].astype("boolean")
    return worst


def _rest_sizes(wide: pd.DataFrame) -> pd.DataFrame:
    """``rest_n`` per group: predictions of the other groups of its attribute."""
    groups = wide.loc[wide.cohort_attribute != "all", STATS_KEYS + ["n"]]
    totals = groups.groupby(["model_version", "cohort_attribute"])["n"].transform("sum")
    return groups.assign(rest_n=(totals - groups["n"]).astype("int64")).drop(columns="n")


def _number(value) -> float | None:
    return None if pd.isna(value) else float(value)
