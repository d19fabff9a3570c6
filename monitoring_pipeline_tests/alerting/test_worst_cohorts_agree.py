"""Alerts, retraining requests and the report name the same worst cohorts, in the same
order, from one day of stored figures (they used three rankings with different filters).

The day is built so the old rankings disagree with the documented one: a group whose point
gap is large but whose interval reaches back inside the objective must rank below one whose
whole interval lies beyond it, an insufficient group never leads, and the SLO's own cohort
(``all`` for ``accuracy_all``) and intersections take part.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from monitoring_pipeline.pipeline.alerts import AlertRequest, build_evidence
from monitoring_pipeline.pipeline.retraining import load_evidence
from monitoring_pipeline.report.render import _sli_cohorts
from monitoring_pipeline.storage.report_queries import load_report_frames
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions
from monitoring_pipeline_tests.alerting.helpers import (
    ACCURACY_SLO,
    GAP_SLO,
    MODEL,
    alert_config,
    write_budget_day,
)

DAY = date(2026, 11, 10)

# tpr_difference against north, objective |gap| <= 0.1.
GAPS = pd.DataFrame(
    {
        "cohort_attribute": ["region", "region", "region", "region", "sex"],
        "cohort_value": ["west", "east", "south", "central", "female"],
        "reference_value": ["north", "north", "north", "north", "male"],
        "value": [-0.30, 0.12, 0.25, -0.50, -0.40],
        "lower": [-0.39, 0.02, -0.05, -0.90, -0.50],
        "upper": [-0.21, 0.22, 0.55, -0.10, -0.30],
        "sufficient": [True, True, True, False, True],
    }
)
# Judged by |gap|'s interval: west's lies wholly beyond 0.1; east's reaches 0.02; south's
# straddles 0 (a bigger point gap than east's, weaker evidence); central is too small;
# sex is another attribute than the SLO's.
GAP_ORDER = [
    "region=west vs north",
    "region=east vs north",
    "region=south vs north",
    "region=central vs north",
]

# accuracy, objective >= 0.7.
ACCURACY = pd.DataFrame(
    {
        "cohort_attribute": ["all", "region", "region", "region", "sex&region"],
        "cohort_value": ["all", "west", "east", "south", "female&west"],
        "value": [0.80, 0.62, 0.66, 0.75, 0.50],
        "lower": [0.78, 0.55, 0.50, 0.70, 0.30],
        "upper": [0.82, 0.69, 0.82, 0.80, 0.70],
        "sufficient": [True, True, True, True, False],
    }
)
# Judged by the interval's upper bound: west's is below 0.7; south's reaches 0.8, east's
# 0.82 and everyone's 0.82 (east's point is the worse: 0.66 < 0.80); the intersection is
# too small.
ACCURACY_ORDER = ["region=west", "region=south", "region=east", "all", "sex&region=female&west"]


@pytest.fixture
def day_of_figures(engine, tmp_path):
    config = alert_config(tmp_path)
    write_budget_day(engine, DAY, {GAP_SLO: "page", ACCURACY_SLO: "ticket"})
    gaps = GAPS.assign(
        model_version="all", metric="tpr_difference", passes_four_fifths=None, is_worst=False
    )
    accuracy = ACCURACY.assign(
        model_version="all", metric="accuracy", denominator=500, n=500, n_labelled=500
    )
    replace_partitions(
        engine,
        model_name=MODEL,
        partition_date=DAY,
        rows=[
            TableRows("fairness_disparities", gaps.assign(partition_date=DAY, model_name=MODEL)),
            TableRows("cohort_metrics", accuracy.assign(partition_date=DAY, model_name=MODEL)),
        ],
        audit=Audit(run_id="figures", produced_at=datetime(2026, 11, 11, tzinfo=UTC)),
    )
    return config


@pytest.mark.parametrize(
    ("slo_name", "expected"), [(GAP_SLO, GAP_ORDER), (ACCURACY_SLO, ACCURACY_ORDER)]
)
def test_alert_retraining_and_report_rank_the_same_worst_cohorts(
    engine, day_of_figures, slo_name, expected
):
    config = day_of_figures
    slo = next(s for s in config.models[MODEL].slos if s.name == slo_name)
    request = AlertRequest(
        model_name=MODEL, slo_name=slo_name, severity="page", kind="firing", as_of=DAY,
        dedupe_key=f"{MODEL}:{slo_name}", episode_start=DAY, reason="test",
    )  # fmt: skip
    alert = [c["cohort"] for c in build_evidence(engine, config, request, slo)["worst_cohorts"]]
    retraining, _ = load_evidence(engine, config, MODEL, slo, DAY)
    requested = [c["cohort"] for c in retraining["worst_cohorts"]]
    frames = load_report_frames(engine, MODEL, DAY, DAY, metrics=["accuracy"])
    reported = _sli_cohorts(frames, slo, DAY)[0].cohort.tolist()

    # Each shows as many as it is configured to (alerts 3, retraining 5, the report 8).
    assert alert == expected[: len(alert)] and len(alert) == min(3, len(expected))
    assert requested == expected[: len(requested)] and len(requested) == min(5, len(expected))
    assert reported == expected
    # Only a cohort whose whole interval lies beyond the objective is flagged as such.
    flagged = [c["cohort"] for c in retraining["worst_cohorts"] if c["beyond_objective"]]
    assert flagged == expected[:1]
