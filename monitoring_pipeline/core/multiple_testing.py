"""False discovery rate control of the tests a model's day runs.

Every day the monitor tests hundreds of hypotheses per model (each feature and cohort
against its baseline, each group's fairness gaps): at a 5% level, a healthy day would
raise a dozen flags by chance alone. Flags are therefore decided on Benjamini-Hochberg
adjusted p-values (``scipy.stats.false_discovery_control``, method ``bh``) within a
*family*: among the flags of a family, the expected share of false ones is at most the
level.

The families (see the README, "Multiple testing"): per model and day, one for drift (every
sufficient p-value test of every feature, the score and every cohort: KS, chi-square, and
the PSI and Jensen-Shannon flags) and one for fairness (every sufficient gap of every
group, metric and model version, against the reference and against the rest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import false_discovery_control

__all__ = ["FDR_LEVEL", "benjamini_hochberg", "benjamini_hochberg_within"]

# The families' false discovery rate: a flag that rests on a p-value needs its adjusted
# p-value below it (drift's KS and chi-square keep their configured alpha).
FDR_LEVEL = 0.05


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``).

    NaNs are passed through and do not count in the family's size.

    Example:
        >>> benjamini_hochberg([0.01, 0.04, 0.03, np.nan]).round(3).tolist()
        [0.03, 0.04, 0.04, nan]
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    if present.any():
        adjusted[present] = false_discovery_control(p[present], method="bh")
    return adjusted


def benjamini_hochberg_within(p_values: pd.Series, families: pd.DataFrame | None) -> pd.Series:
    """Adjusted p-values of ``p_values`` within each family (the rows of ``families``
    that agree on every column); one family when ``families`` is None or has no columns.

    Example:
        >>> p = pd.Series([0.01, 0.04, 0.03, 0.02])
        >>> family = pd.DataFrame({"model": ["a", "a", "b", "b"]})
        >>> benjamini_hochberg_within(p, family).round(3).tolist()
        [0.02, 0.04, 0.03, 0.03]
    """
    if families is None or families.shape[1] == 0:
        return pd.Series(benjamini_hochberg(p_values.to_numpy(dtype=np.float64)), p_values.index)
    return (
        p_values.astype(np.float64)
        .groupby([families[c] for c in families.columns], dropna=False, sort=False)
        .transform(lambda p: benjamini_hochberg(p.to_numpy()))
    )
