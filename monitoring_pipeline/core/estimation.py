"""Performance estimated from scores while labels lag (confidence-based, as CBPE).

Labels arrive days or weeks after a prediction, so the newest days' realised TPR, FPR or
accuracy rest on a handful of labels exactly when a regression must be caught. If the
model's scores are calibrated, a prediction with probability ``p`` of being positive
contributes ``p`` expected positives: the expected confusion counts of a day, and so its
expected TPR, FPR, precision and accuracy, follow from the scores alone (NannyML calls
this confidence-based performance estimation, CBPE). This module does it per cohort, from
additive sums only (``compute_estimation_stats``), with intervals, and checks itself.

Calibration (fitted per cohort on a labelled reference window)
--------------------------------------------------------------
Scores are binned (equal width, ``score_bins``). In bin ``b`` of a cohort the reference
window's labels give a ratio ``r_b = (labels + k * R_b) / (score sum + k)``: observed
positives per unit of score, shrunk towards the ratio ``R_b`` of the whole population
(cohort ``all`` of the same model version) by ``k = SHRINKAGE_SCORE_MASS`` units of score,
so a thin bin of a small cohort borrows from everyone; ``R_b`` itself is the population's
ratio (``1``, i.e. the score taken at its word, where the bin has no labelled score). A
row's probability is ``p = r_b * score``; a bin's expected positives are capped at its rows
(only a ratio above ``1 / score`` reaches the cap). A day inside the reference window is
estimated with the window *without that day* (leave-one-day-out), never in-sample.

Estimates and their intervals
-----------------------------
With ``P1``/``P0`` the expected positives among rows decided 1/0 and ``N1``/``N0`` their
rows: TP = P1, FN = P0, FP = N1 - P1, TN = N0 - P0, and

* ``tpr = P1 / (P1 + P0)``; ``fpr = (N1 - P1) / (N - P1 - P0)``; ``precision = P1 / N1``;
* ``accuracy = (P1 + N0 - P0) / N``; ``positive_rate = (P1 + P0) / N`` (prevalence).

Given the scores, each label is an independent Bernoulli(``p``), so the positives among
rows decided ``d`` have variance ``V_d = sum p (1 - p)``; the calibration ratio of bin
``b`` has variance ``Var(r_b) = (r_b S_b - r_b^2 Q_b) / (S_b + k)^2`` (the reference labels
are Bernoulli too; ``S``, ``Q``: labelled score and squared-score sums). The delta method
gives ``Var(m) = g1^2 V_1 + g0^2 V_0 + sum_b (g1 S1_b + g0 S0_b)^2 Var(r_b)`` with
``g_d = dm/dP_d`` and ``Sd_b`` the day's score sum of bin ``b`` among rows decided ``d``;
the interval is ``m +/- z se`` clipped to [0, 1]. An estimate is ``sufficient`` when its
expected denominator (expected positives for TPR, negatives for FPR, predicted positives
for precision, rows otherwise) is at least ``min_cohort_size``, as for realised figures.

Earning trust
-------------
Every estimate is stored beside the realised figure of its labelled rows. Once a cell's
label coverage reaches ``min_label_coverage`` and its realised denominator is sufficient,
its ``estimation_error`` (realised - estimated) and whether the realised figure lies in
the interval are stored too: the share inside is the estimator's measured coverage. On
the reference window each day is estimated leave-one-day-out and compared with its
labels: a cohort-metric whose misses are too many for its interval (one-sided binomial
test against ``1 - confidence``, p < ``UNCALIBRATED_P_VALUE`` = 0.001) is ``uncalibrated``: its
score does not carry the cohort's outcome rates and nothing is estimated. A cohort with no
labelled reference row is ``no_reference``.

Example (a cohort of 4 rows scored 0.8, 0.8, 0.2, 0.2, decided 1, 1, 0, 0, with a
reference whose labels matched its scores, so every ratio is 1):

    >>> import pandas as pd
    >>> from monitoring_pipeline.core.sufficient_stats import CohortSpec, compute_estimation_stats
    >>> day = pd.DataFrame({"model_version": "v1", "score": [0.8, 0.8, 0.2, 0.2],
    ...                     "decision": [1, 1, 0, 0], "label": None})
    >>> ref = pd.DataFrame({"model_version": "v1", "score": [0.5] * 4, "decision": 1,
    ...                     "label": [1, 0, 1, 0]})
    >>> spec = CohortSpec()
    >>> sums = ScoreSums.from_stats(compute_estimation_stats(day, spec, score_bins=2), 2)
    >>> reference = ScoreSums.from_stats(compute_estimation_stats(ref, spec, score_bins=2),
    ...                                  2, cells=sums.cells)
    >>> est = estimate(sums, fit_calibration(reference), min_cohort_size=1)
    >>> est.set_index("metric").loc[["tpr", "accuracy"], "value"].round(3).tolist()
    [0.8, 0.8]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from monitoring_pipeline.core.intervals import normal_quantile
from monitoring_pipeline.core.sufficient_stats import ALL_COHORT, ESTIMATION_KINDS

__all__ = [
    "CELL_KEYS",
    "ESTIMATED_METRICS",
    "ESTIMATION_SCORE_BINS",
    "ESTIMATED_DIFFERENCES",
    "SHRINKAGE_SCORE_MASS",
    "UNCALIBRATED_P_VALUE",
    "Calibration",
    "ScoreSums",
    "estimate",
    "estimate_with_reference",
    "estimated_disparities",
    "reference_check",
    "fit_calibration",
]

# Finer than cohort_stats' 10 calibration bins: the ratio correction is per bin.
ESTIMATION_SCORE_BINS = 20
CELL_KEYS = ["model_version", "cohort_attribute", "cohort_value"]
ESTIMATED_METRICS = ("tpr", "fpr", "precision", "accuracy", "positive_rate")
# Differences against the reference group that fairness SLOs can read from estimates.
ESTIMATED_DIFFERENCES = {
    "tpr": "tpr_difference",
    "fpr": "fpr_difference",
    "precision": "precision_difference",
    "accuracy": "accuracy_difference",
}
SHRINKAGE_SCORE_MASS = 5.0
# Strict: a model has hundreds of cohort-metrics, so a lax level flags healthy ones.
UNCALIBRATED_P_VALUE = 0.001
STATUS_ESTIMATED = "estimated"
STATUS_UNCALIBRATED = "uncalibrated"
STATUS_NO_REFERENCE = "no_reference"


@dataclass(frozen=True)
class ScoreSums:
    """Additive sums per cell (``cells``: model version and cohort), decision and score bin.

    Every array has shape ``(len(cells), 2, score_bins)``; axis 1 is the decision (0, 1).
    """

    cells: pd.DataFrame
    arrays: Mapping[str, np.ndarray]

    @classmethod
    def from_stats(
        cls, stats: pd.DataFrame, score_bins: int, *, cells: pd.DataFrame | None = None
    ) -> ScoreSums:
        """Sums of ``compute_estimation_stats`` rows (merged: one row per cell and
        decision), on ``cells`` if given (cells absent from ``stats`` are zeros), else on
        the cells of ``stats`` in their order."""
        if cells is None:
            cells = stats[CELL_KEYS].drop_duplicates().reset_index(drop=True)
        cells = cells[CELL_KEYS].reset_index(drop=True)
        arrays = {k: np.zeros((len(cells), 2, score_bins)) for k in ESTIMATION_KINDS}
        if not stats.empty and len(cells):
            index = pd.MultiIndex.from_frame(cells)
            position = index.get_indexer(pd.MultiIndex.from_frame(stats[CELL_KEYS]))
            present = position >= 0
            rows = position[present]
            decision = stats["decision"].to_numpy(dtype=np.int64)[present]
            for kind in ESTIMATION_KINDS:
                columns = [f"est_{kind}_{b}" for b in range(score_bins)]
                values = stats[columns].to_numpy(dtype=np.float64)[present]
                np.add.at(arrays[kind], (rows, decision), values)
        return cls(cells, arrays)

    @property
    def score_bins(self) -> int:
        return self.arrays["n"].shape[2]

    def __add__(self, other: ScoreSums) -> ScoreSums:
        return ScoreSums(self.cells, {k: self.arrays[k] + other.arrays[k] for k in self.arrays})

    def __sub__(self, other: ScoreSums) -> ScoreSums:
        # Float sums of a window minus one of its days can leave -1e-13: clip at zero.
        return ScoreSums(
            self.cells,
            {k: np.maximum(self.arrays[k] - other.arrays[k], 0.0) for k in self.arrays},
        )


@dataclass(frozen=True)
class Calibration:
    """Per cell and score bin: the ratio turning a score into a probability, its variance,
    and each cell's labelled reference rows."""

    ratio: np.ndarray
    ratio_variance: np.ndarray
    labelled: np.ndarray


def _population_rows(cells: pd.DataFrame) -> np.ndarray:
    """Per cell, the row of cohort ``all`` of its model version (-1 where absent)."""
    overall = cells[(cells.cohort_attribute == ALL_COHORT) & (cells.cohort_value == ALL_COHORT)]
    lookup = pd.Series(overall.index.to_numpy(), index=overall.model_version.to_numpy())
    return cells.model_version.map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def fit_calibration(
    reference: ScoreSums, *, shrinkage: float = SHRINKAGE_SCORE_MASS
) -> Calibration:
    """Bin ratios of labelled positives to labelled score mass, shrunk towards the
    population's (see the module docstring)."""
    labels = reference.arrays["label_sum"].sum(axis=1)
    score = reference.arrays["labelled_score_sum"].sum(axis=1)
    square = reference.arrays["labelled_score_sq_sum"].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        population = np.where(score > 0, labels / score, 1.0)
    rows = _population_rows(reference.cells)
    prior = np.where((rows >= 0)[:, None], population[np.maximum(rows, 0)], 1.0)
    ratio = (labels + shrinkage * prior) / (score + shrinkage)
    bernoulli = np.maximum(ratio * score - ratio**2 * square, 0.0)
    variance = bernoulli / (score + shrinkage) ** 2
    labelled = reference.arrays["labelled_n"].sum(axis=(1, 2))
    return Calibration(ratio, variance, labelled)


def _metric_parts(n1, n0, p1, p0):
    """Per metric: (value, d/dP1, d/dP0, denominator) from expected counts."""
    n = n1 + n0
    positives = p1 + p0
    negatives = n - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "tpr": (p1 / positives, p0 / positives**2, -p1 / positives**2, positives),
            "fpr": (
                (n1 - p1) / negatives,
                -(n0 - p0) / negatives**2,
                (n1 - p1) / negatives**2,
                negatives,
            ),
            "precision": (p1 / n1, 1.0 / n1, np.zeros_like(n1), n1),
            "accuracy": ((p1 + n0 - p0) / n, 1.0 / n, -1.0 / n, n),
            "positive_rate": (positives / n, 1.0 / n, 1.0 / n, n),
        }


def estimate(
    day: ScoreSums,
    calibration: Calibration,
    *,
    min_cohort_size: int,
    confidence: float = 0.95,
    min_label_coverage: float = 0.9,
) -> pd.DataFrame:
    """Estimated metrics of each cell of ``day`` (calibration on the same cells), with the
    realised figure of its labelled rows and, where labels are complete enough, the error.

    Returns one row per cell and metric (``ESTIMATED_METRICS`` order): the cell keys,
    ``metric``, ``value``, ``standard_error``, ``lower``, ``upper``,
    ``expected_denominator``, ``n``, ``sufficient``, ``status``, ``realised``,
    ``realised_denominator``, ``label_coverage``, ``estimation_error``, ``within_interval``.
    """
    figures = _estimated_figures(
        day,
        calibration,
        min_cohort_size=min_cohort_size,
        confidence=confidence,
        min_label_coverage=min_label_coverage,
    )
    frames = [
        day.cells.assign(
            metric=metric,
            # Every figure is a column, in its order, but the two within_interval is made of.
            **{name: values for name, values in f.items() if name not in ("judged", "within")},
            within_interval=pd.array(np.where(f["judged"], f["within"], False), dtype="boolean"),
        )
        for metric, f in figures.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    out.loc[out.estimation_error.isna(), "within_interval"] = pd.NA
    return out


def _estimated_figures(
    day: ScoreSums,
    calibration: Calibration,
    *,
    min_cohort_size: int,
    confidence: float,
    min_label_coverage: float,
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`estimate`'s figures as arrays (one element per cell), by metric: what
    :func:`reference_check` needs of each of a window's days without building its frame."""
    a = day.arrays
    ratio = calibration.ratio[:, None, :]
    expected = np.minimum(ratio * a["score_sum"], a["n"])
    variance = np.maximum(ratio * a["score_sum"] - ratio**2 * a["score_sq_sum"], 0.0)
    n_d = a["n"].sum(axis=2)
    p_d = expected.sum(axis=2)
    v_d = variance.sum(axis=2)
    s1, s0 = a["score_sum"][:, 1, :], a["score_sum"][:, 0, :]
    labels = a["label_sum"].sum(axis=2)
    labelled = a["labelled_n"].sum(axis=2)
    z = normal_quantile(confidence)
    n = n_d.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = labelled.sum(axis=1) / n
    status = np.where(calibration.labelled > 0, STATUS_ESTIMATED, STATUS_NO_REFERENCE)
    estimated = _metric_parts(n_d[:, 1], n_d[:, 0], p_d[:, 1], p_d[:, 0])
    realised = _metric_parts(labelled[:, 1], labelled[:, 0], labels[:, 1], labels[:, 0])
    figures = {}
    # Empty denominators give NaN figures (no estimate), not warnings.
    with np.errstate(divide="ignore", invalid="ignore"):
        for metric in ESTIMATED_METRICS:
            value, g1, g0, denominator = estimated[metric]
            sensitivity = g1[:, None] * s1 + g0[:, None] * s0
            var = (
                g1**2 * v_d[:, 1]
                + g0**2 * v_d[:, 0]
                + (sensitivity**2 * calibration.ratio_variance).sum(axis=1)
            )
            se = np.sqrt(var)
            ok = status == STATUS_ESTIMATED
            value = np.where(ok, value, np.nan)
            lower = np.where(ok, np.clip(value - z * se, 0.0, 1.0), np.nan)
            upper = np.where(ok, np.clip(value + z * se, 0.0, 1.0), np.nan)
            real_value, _, _, real_denominator = realised[metric]
            judged = (
                ok
                & (denominator >= min_cohort_size)
                & (coverage >= min_label_coverage)
                & (real_denominator >= min_cohort_size)
            )
            figures[metric] = {
                "value": value,
                "standard_error": np.where(ok, se, np.nan),
                "lower": lower,
                "upper": upper,
                "expected_denominator": denominator,
                "n": n.astype(np.int64),
                "sufficient": ok & (denominator >= min_cohort_size),
                "status": status,
                "realised": real_value,
                "realised_denominator": np.rint(real_denominator).astype(np.int64),
                "label_coverage": coverage,
                "estimation_error": np.where(judged, real_value - value, np.nan),
                "judged": judged,
                "within": (real_value >= lower) & (real_value <= upper),
            }
    return figures


def reference_check(
    reference_days: Sequence[ScoreSums],
    *,
    min_cohort_size: int,
    confidence: float = 0.95,
    min_label_coverage: float = 0.9,
) -> pd.DataFrame:
    """Each reference day estimated with the window without it, against its labels.

    Returns per cell and metric: ``reference_days`` (days judged: sufficient estimate,
    labels complete enough and sufficient), ``reference_misses`` (realised figure outside
    the interval) and ``calibrated`` (False when the misses are too many for the
    interval's confidence: binomial test, p < ``UNCALIBRATED_P_VALUE``).
    """
    total = reference_days[0]
    for other in reference_days[1:]:
        total = total + other
    judged = None
    misses = None
    for day in reference_days:
        figures = _estimated_figures(
            day,
            fit_calibration(total - day),
            min_cohort_size=min_cohort_size,
            confidence=confidence,
            min_label_coverage=min_label_coverage,
        ).values()
        # As estimate() has it: judged where the error is a number, missed where it is
        # and the realised figure lies outside the interval.
        day_judged = np.concatenate([~np.isnan(f["estimation_error"]) for f in figures])
        within = np.concatenate([f["within"] for f in figures])
        day_missed = day_judged & ~within
        judged = day_judged.astype(np.int64) if judged is None else judged + day_judged
        misses = day_missed.astype(np.int64) if misses is None else misses + day_missed
    keys = pd.concat(
        [day.cells[CELL_KEYS].assign(metric=metric) for metric in ESTIMATED_METRICS],
        ignore_index=True,
    )
    p_value = scipy_stats.binom.sf(misses - 1, judged, 1.0 - confidence)
    calibrated = ~((misses > 0) & (p_value < UNCALIBRATED_P_VALUE))
    return keys.assign(reference_days=judged, reference_misses=misses, calibrated=calibrated)


def estimate_with_reference(
    day: ScoreSums,
    reference_days: Mapping[object, ScoreSums],
    day_key: object,
    *,
    min_cohort_size: int,
    confidence: float = 0.95,
    min_label_coverage: float = 0.9,
) -> pd.DataFrame:
    """:func:`estimate` of ``day`` calibrated on the reference days other than ``day_key``,
    with :func:`reference_check`'s columns; an uncalibrated cohort-metric keeps its realised
    figure but no estimate (status ``uncalibrated``). ``reference_days`` must be on the
    cells of ``day``."""
    options = dict(
        min_cohort_size=min_cohort_size,
        confidence=confidence,
        min_label_coverage=min_label_coverage,
    )
    others = [sums for key, sums in reference_days.items() if key != day_key]
    if not others:
        empty = ScoreSums(day.cells, {k: np.zeros_like(v) for k, v in day.arrays.items()})
        rows = estimate(day, fit_calibration(empty), **options)
        return rows.assign(reference_days=0, reference_misses=0)
    total = others[0]
    for other in others[1:]:
        total = total + other
    rows = estimate(day, fit_calibration(total), **options)
    check = reference_check(list(reference_days.values()), **options)
    rows = rows.merge(check, on=[*CELL_KEYS, "metric"], how="left", validate="one_to_one")
    uncalibrated = (rows.status == STATUS_ESTIMATED) & (rows.calibrated == False)  # noqa: E712
    rows.loc[uncalibrated, "status"] = STATUS_UNCALIBRATED
    for column in ("value", "standard_error", "lower", "upper", "estimation_error"):
        rows.loc[uncalibrated, column] = np.nan
    rows.loc[uncalibrated, "sufficient"] = False
    rows.loc[uncalibrated, "within_interval"] = pd.NA
    return rows.drop(columns="calibrated")


def estimated_disparities(
    estimates: pd.DataFrame,
    reference_groups: Mapping[str, str],
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each group's estimate minus its attribute's reference group's, with an interval
    from the two standard errors (the groups are disjoint rows, so independent given the
    calibration). Returns ``model_version, cohort_attribute, cohort_value,
    reference_value, metric`` (``ESTIMATED_DIFFERENCES`` names), ``value, lower, upper,
    sufficient`` (both estimates sufficient), ``realised_value`` (the realised difference
    where both realised figures exist)."""
    columns = [*CELL_KEYS, "reference_value", "metric", "value", "lower", "upper",
               "sufficient", "realised_value"]  # fmt: skip
    rows = estimates[estimates.metric.isin(list(ESTIMATED_DIFFERENCES))]
    rows = rows[rows.cohort_attribute.isin(list(reference_groups))]
    rows = rows.assign(reference_value=rows.cohort_attribute.map(reference_groups))
    reference = rows[rows.cohort_value == rows.reference_value]
    groups = rows[rows.cohort_value != rows.reference_value]
    keep = ["model_version", "cohort_attribute", "metric", "value", "standard_error",
            "sufficient", "realised"]  # fmt: skip
    paired = groups.merge(
        reference[keep], on=["model_version", "cohort_attribute", "metric"], suffixes=("", "_ref")
    )
    if paired.empty:
        return pd.DataFrame(columns=columns)
    z = normal_quantile(confidence)
    value = paired.value - paired.value_ref
    half = z * np.sqrt(paired.standard_error**2 + paired.standard_error_ref**2)
    return pd.DataFrame(
        {
            **{k: paired[k].to_numpy() for k in CELL_KEYS},
            "reference_value": paired.reference_value.to_numpy(),
            "metric": paired.metric.map(ESTIMATED_DIFFERENCES).to_numpy(),
            "value": value.to_numpy(dtype=float),
            "lower": (value - half).to_numpy(dtype=float),
            "upper": (value + half).to_numpy(dtype=float),
            "sufficient": (paired.sufficient & paired.sufficient_ref).to_numpy(dtype=bool),
            "realised_value": (paired.realised - paired.realised_ref).to_numpy(dtype=float),
        },
        columns=columns,
    )
