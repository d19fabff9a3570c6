"""A fitted version taking over scoring in the simulation: canary share, then all rows;
labels and the population never depend on it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.demo.generator import LOAN_APPROVAL, VersionRollout, generate_traffic

START, END = date(2026, 10, 1), date(2026, 10, 4)
NOW = datetime(2026, 11, 30, tzinfo=UTC)
SEEN: list[pd.DataFrame] = []


def constant_scorer(frame: pd.DataFrame) -> np.ndarray:
    SEEN.append(frame)
    return np.where(frame["region"] == "west", 0.9, 0.2)


def test_rollout_scores_a_canary_share_then_every_row():
    SEEN.clear()
    rollout = VersionRollout(
        "v1.4.0-rt1", constant_scorer, canary_from=date(2026, 10, 2),
        full_from=date(2026, 10, 4), canary_share=0.3, threshold=0.5,
    )  # fmt: skip
    base = generate_traffic("loan_approval", START, END, now=NOW, seed=3, daily_volume=800)
    rolled = generate_traffic(
        "loan_approval", START, END, now=NOW, seed=3, daily_volume=800, rollout=rollout
    )
    day = rolled.predictions.scored_at.dt.date
    new = rolled.predictions.model_version == "v1.4.0-rt1"
    assert not new[day == START].any()
    for canary_day in (date(2026, 10, 2), date(2026, 10, 3)):
        assert new[day == canary_day].mean() == pytest.approx(0.3, abs=0.06)
    assert new[day == END].all()
    # New rows carry the fitted version's scores and decisions at its threshold.
    scored = rolled.predictions[new]
    expected = np.where(scored.region == "west", 0.9, 0.2)
    np.testing.assert_allclose(scored.score, expected)
    assert (scored.decision == (expected >= 0.5)).all()
    # The population, ids and labels are those of the run without a rollout.
    pd.testing.assert_frame_equal(rolled.labels, base.labels)
    columns = ["prediction_id", "scored_at", *LOAN_APPROVAL.cohort_attributes, "income"]
    pd.testing.assert_frame_equal(rolled.predictions[columns], base.predictions[columns])
    old = ~new
    np.testing.assert_allclose(rolled.predictions.score[old], base.predictions.score[old])
    # The scorer saw what the log holds: features as logged and the cohort columns.
    assert {"income", "employment_type", "region"} <= set(SEEN[0].columns)


def test_rollout_rejects_a_bad_share():
    with pytest.raises(ValueError, match="canary_share"):
        VersionRollout("v2", constant_scorer, canary_from=START, canary_share=1.5)
