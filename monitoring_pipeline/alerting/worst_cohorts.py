"""An SLO's worst cohorts: the stored rows of its SLI's figure on one day, ranked by the
one rule of :mod:`monitoring_pipeline.core.worst_cohorts`. Alerts, asset checks,
retraining requests and the report all call :func:`worst_cohorts`, so they name the same
cohorts in the same order (they differ only in how many they show)."""

from __future__ import annotations

import pandas as pd

from monitoring_pipeline.config.models import (
    ANY,
    CanarySLI,
    CohortChangeSLI,
    ComplaintSLI,
    DriftSLI,
    FairnessSLI,
    OperationalSLI,
    SLOConfig,
)
from monitoring_pipeline.core.disparities import RATIO_METRICS
from monitoring_pipeline.core.worst_cohorts import (
    SLISource,
    rank_worst_cohorts,
    sli_cohort_figures,
)

__all__ = ["sli_figures", "sli_source", "worst_cohorts"]


def sli_source(slo: SLOConfig) -> SLISource:
    """The table the SLO's figure is read from."""
    # Realised/estimated gaps, canary harm, operational figures, complaint rates.
    if isinstance(slo.sli, FairnessSLI | CanarySLI | OperationalSLI | ComplaintSLI):
        return slo.sli.source
    if isinstance(slo.sli, DriftSLI):
        return "drift"
    if isinstance(slo.sli, CohortChangeSLI):
        return "cohort_changes"
    return "cohort_metrics"


def sli_figures(rows: pd.DataFrame, slo: SLOConfig) -> pd.DataFrame:
    """The cohorts that compete for the SLO's worst, from ``rows``: the stored rows of its
    SLI's figure on one day (``value`` the figure: a drift row's ``statistic``, a change's
    ``difference``), with ``cohort`` and, for a signed fairness difference or a change
    from baseline, the ``judged_*`` size the SLO judges."""
    sli = slo.sli
    fairness = isinstance(sli, FairnessSLI)
    return sli_cohort_figures(
        rows,
        source=sli_source(slo),
        signed=(fairness and sli.metric not in RATIO_METRICS) or isinstance(sli, CohortChangeSLI),
        group=sli.group if fairness else None,
        name_features=isinstance(sli, DriftSLI) and sli.feature == ANY,
    )


def worst_cohorts(rows: pd.DataFrame, slo: SLOConfig, limit: int | None = None) -> pd.DataFrame:
    """The SLO's cohorts from ``rows`` (see :func:`sli_figures`) worst first, at most
    ``limit``, with ``beyond_objective``."""
    return rank_worst_cohorts(sli_figures(rows, slo), slo.objective.op, slo.objective.value, limit)
