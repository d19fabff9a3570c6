"""Slow, obvious reference computations of the intervals the package publishes, written
from their documented definitions with scipy's distributions and root finders (never the
package's own kernels): tests compare the package's vectorised figures with these."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats


def noncentrality_bounds(statistic: float, df: float, confidence: float = 0.95):
    """Steiger-Lind bounds of a noncentral chi-square's noncentrality: ``scipy.stats.ncx2``
    and ``brentq`` (0 where even a central chi-square cannot reach the probability)."""
    alpha = 1.0 - confidence

    def solve(probability: float) -> float:
        if stats.chi2.cdf(statistic, df) <= probability:
            return 0.0
        high = statistic + 20.0 * math.sqrt(2.0 * (df + 2.0 * statistic)) + 50.0
        return optimize.brentq(
            lambda nc: stats.ncx2.cdf(statistic, df, nc) - probability, 1e-12, high, xtol=1e-10
        )

    return solve(1.0 - alpha / 2.0), solve(alpha / 2.0)


def psi_js_bounds(reference, current, *, epsilon: float = 1e-4, confidence: float = 0.95):
    """PSI and Jensen-Shannon distance of two histograms with their documented intervals:
    ``PSI / s`` and ``8 JS^2 / s`` (``s = 1/n + 1/m``) read as noncentral chi-square with
    (bins holding any count - 1) degrees of freedom."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    p, q = ref / ref.sum(), cur / cur.sum()
    pe, qe = np.where(p > 0, p, epsilon), np.where(q > 0, q, epsilon)
    pe, qe = pe / pe.sum(), qe / qe.sum()
    psi = float(np.sum((qe - pe) * np.log(qe / pe)))
    js = float(stats.entropy(p, (p + q) / 2) + stats.entropy(q, (p + q) / 2)) / 2
    js = math.sqrt(max(js, 0.0))
    df = int(((ref + cur) > 0).sum()) - 1
    s = 1.0 / ref.sum() + 1.0 / cur.sum()
    psi_low, psi_high = noncentrality_bounds(psi / s, df, confidence)
    js_low, js_high = noncentrality_bounds(8.0 * js**2 / s, df, confidence)
    return {
        "psi": (psi, psi_low * s, psi_high * s),
        "js": (
            js,
            math.sqrt(js_low * s / 8.0),
            min(math.sqrt(js_high * s / 8.0), math.sqrt(math.log(2.0))),
        ),
    }


def ece_bounds(bin_n, bin_score_sum, bin_label_sum, confidence: float = 0.95):
    """The documented ECE interval, one cohort, the slow way: ``scipy.stats.foldnorm`` for
    the folded-normal moments and ``brentq`` for each crossing (no grid).

    Candidates: rates ``clip(mean score - t * u, 0, 1)`` with ``u`` the observed gaps over
    the observed ECE; the plug-in ECE has mean ``M(t) = sum w E|d|`` and variance ``V(t) =
    sum w^2 Var|d| + (sum w E|d|^2 - M^2) / N`` with ``d ~ N(gap, r (1 - r) / n_b)``, ``r``
    kept ``1 / (2 (n_b + 1))`` from 0 and 1. Lower: the ECE of the smallest ``t`` with
    ``ECE <= M + z sqrt(V)``; upper: that of the largest with ``ECE >= M - z sqrt(V)``.
    Assumes the observed ECE is > 0 and that each crossing is unique on ``[0, 1]``."""
    z = stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0)
    n_b = np.asarray(bin_n, dtype=float)
    keep = n_b > 0
    n_b = n_b[keep]
    score = np.asarray(bin_score_sum, dtype=float)[keep] / n_b
    gap = score - np.asarray(bin_label_sum, dtype=float)[keep] / n_b
    total = n_b.sum()
    w = n_b / total
    ece = float(np.sum(w * np.abs(gap)))
    u = gap / ece

    def figures(t: float) -> tuple[float, float, float]:
        rate = np.clip(score - t * u, 0.0, 1.0)
        g = score - rate
        floor = 0.5 / (n_b + 1.0)
        r = np.clip(rate, floor, 1.0 - floor)
        sd = np.sqrt(r * (1.0 - r) / n_b)
        folded = stats.foldnorm(np.abs(g) / sd, scale=sd)
        m, v = folded.mean(), folded.var()
        mean = float(np.sum(w * m))
        variance = float(np.sum(w**2 * v) + (np.sum(w * m**2) - mean**2) / total)
        return float(np.sum(w * np.abs(g))), mean, variance

    def lower_margin(t: float) -> float:
        _, mean, variance = figures(t)
        return mean + z * math.sqrt(variance) - ece

    def upper_margin(t: float) -> float:
        _, mean, variance = figures(t)
        return ece - mean + z * math.sqrt(variance)

    lower = 0.0
    if lower_margin(0.0) < 0:
        lower = figures(optimize.brentq(lower_margin, 0.0, ece, xtol=1e-12))[0]
    upper = figures(optimize.brentq(upper_margin, 0.0, 1.0, xtol=1e-12))[0]
    return ece, lower, upper
