"""Which fairness gaps are clearly beyond their objective, and the order they are shown in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core.verdicts import GapObjective, absolute_intervals, judge_gaps

TPR_SLO = GapObjective("<=", 0.1, "SLO tpr_gap_region")


def _rows(*rows) -> pd.DataFrame:
    columns = [
        "cohort_attribute", "cohort_value", "reference_value", "metric", "value", "lower",
        "upper", "sufficient",
    ]  # fmt: skip
    return pd.DataFrame(list(rows), columns=columns)


def test_absolute_interval_of_a_gap_that_straddles_zero_starts_at_zero():
    values, lowers, uppers = absolute_intervals(
        np.array([-0.3, 0.05, 0.2]), np.array([-0.4, -0.1, np.nan]), np.array([-0.2, 0.2, np.nan])
    )
    assert values.tolist() == [0.3, 0.05, 0.2]
    assert lowers[:2].tolist() == [0.2, 0.0] and np.isnan(lowers[2])
    assert uppers[:2].tolist() == [0.4, 0.2] and np.isnan(uppers[2])


def test_a_gap_is_clearly_beyond_only_when_its_whole_interval_is():
    judged = judge_gaps(
        _rows(
            ("region", "west", "north", "tpr_difference", -0.3, -0.4, -0.2, True),
            ("region", "east", "north", "tpr_difference", 0.15, 0.05, 0.25, True),  # straddles
            ("region", "south", "north", "tpr_difference", 0.9, 0.5, 1.0, False),  # too small
            ("sex", "female", "male", "disparate_impact_ratio", 0.6, 0.5, 0.7, True),
            ("sex", "female", "male", "calibration_gap", 0.4, 0.3, 0.5, True),  # no objective
        ),
        {("region", "tpr_difference"): TPR_SLO},
    )
    assert "south" not in set(judged.cohort_value)  # insufficient: never judged nor shown
    by_group = judged.set_index(["cohort_value", "metric"])
    west = by_group.loc[("west", "tpr_difference")]
    assert west.clearly_beyond and west.judged_value == pytest.approx(0.3)
    assert west.beyond_by == pytest.approx(0.2 - 0.1)
    assert not by_group.loc[("east", "tpr_difference")].clearly_beyond
    ratio = by_group.loc[("female", "disparate_impact_ratio")]
    assert ratio.clearly_beyond and ratio.objective_source == "four-fifths rule"
    assert ratio.beyond_by == pytest.approx(0.8 - 0.7)
    calibration = by_group.loc[("female", "calibration_gap")]
    assert not calibration.clearly_beyond and pd.isna(calibration.objective_source)
    # Clearly beyond first (the SLO's own subject before a documented rule), then judged,
    # then unjudged.
    assert list(zip(judged.cohort_value, judged.metric, strict=True)) == [
        ("west", "tpr_difference"),
        ("female", "disparate_impact_ratio"),
        ("east", "tpr_difference"),
        ("female", "calibration_gap"),
    ]


def test_an_slo_objective_applies_to_its_metric_on_other_attributes_too():
    judged = judge_gaps(
        _rows(
            ("sex&age_band", "f&18-25", "m&26-40", "tpr_difference", 0.6, 0.4, 0.8, True),
            ("region", "west", "north", "tpr_difference", 0.3, 0.2, 0.4, True),
        ),
        {("region", "tpr_difference"): TPR_SLO, (None, "tpr_difference"): TPR_SLO},
    )
    assert judged.clearly_beyond.all()
    # The intersection lies further beyond, but the SLO is about region: region first.
    assert judged.cohort_attribute.tolist() == ["region", "sex&age_band"]
    assert judged.slo_subject.tolist() == [True, False]


def test_no_sufficient_gap_gives_an_empty_judgement():
    judged = judge_gaps(
        _rows(("region", "west", "north", "tpr_difference", 0.3, 0.2, 0.4, False)), {}
    )
    assert judged.empty and "clearly_beyond" in judged.columns
