"""The one ranking of worst cohorts (core.worst_cohorts), on hand-checked frames."""

from __future__ import annotations

import math

import pandas as pd

from monitoring_pipeline.core.worst_cohorts import rank_worst_cohorts, sli_cohort_figures

NAN = math.nan


def test_evidence_beyond_the_objective_outranks_a_larger_point_value():
    rows = pd.DataFrame(
        {
            "cohort": ["wide", "clear", "small", "undefined"],
            "value": [0.50, 0.30, 0.90, NAN],
            "lower": [0.05, 0.25, 0.80, NAN],
            "upper": [0.95, 0.35, 0.99, NAN],
            "sufficient": [True, True, False, True],
        }
    )
    ranked = rank_worst_cohorts(rows, "<=", 0.2)
    # clear: lower 0.25 > 0.2; wide: lower 0.05; undefined after every defined figure;
    # the insufficient one last whatever its figure.
    assert ranked.cohort.tolist() == ["clear", "wide", "undefined", "small"]
    assert ranked.beyond_objective.tolist() == [True, False, False, False]


def test_a_lower_objective_judges_the_upper_bound_and_ties_go_to_the_worse_point():
    rows = pd.DataFrame(
        {
            "cohort": ["b", "a", "c"],
            "value": [0.66, 0.80, 0.60],
            "lower": [0.50, 0.78, 0.40],
            "upper": [0.82, 0.82, 0.82],
            "sufficient": True,
        }
    )
    ranked = rank_worst_cohorts(rows, ">=", 0.7, limit=2)
    assert ranked.cohort.tolist() == ["c", "b"]  # equal upper bounds: 0.60 < 0.66 < 0.80


def test_signed_gaps_are_judged_by_size_and_shown_with_their_sign():
    stored = pd.DataFrame(
        {
            "cohort_attribute": "region",
            "cohort_value": ["west", "east", "north"],
            "reference_value": "north",
            "value": [-0.30, 0.12, 0.0],
            "lower": [-0.39, 0.02, 0.0],
            "upper": [-0.21, 0.22, 0.0],
            "sufficient": [True, True, None],
        }
    )
    figures = sli_cohort_figures(stored, source="fairness_disparities", signed=True)
    # The reference against itself is no finding; a missing sufficiency is insufficient.
    assert figures.cohort.tolist() == ["region=west vs north", "region=east vs north"]
    assert figures.judged_lower.tolist() == [0.21, 0.02]
    ranked = rank_worst_cohorts(figures, "<=", 0.1)
    assert ranked.cohort.iloc[0] == "region=west vs north"
    assert ranked.value.iloc[0] == -0.30 and ranked.lower.iloc[0] == -0.39


def test_a_named_group_is_the_only_fairness_candidate():
    stored = pd.DataFrame(
        {
            "cohort_attribute": "region",
            "cohort_value": ["west", "east"],
            "reference_value": "north",
            "value": [-0.3, 0.1],
            "lower": [-0.4, 0.0],
            "upper": [-0.2, 0.2],
            "sufficient": True,
        }
    )
    figures = sli_cohort_figures(stored, source="fairness_disparities", group="east")
    assert figures.cohort.tolist() == ["region=east vs north"]
