import doctest

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core import slo
from monitoring_pipeline.core.slo import (
    DEFAULT_BURN_RATE_RULES,
    PAGE_RULE,
    TICKET_RULE,
    BurnRateRule,
    burn_rate,
    classify_day,
    classify_days,
    error_budget,
)


def sre_burn_rate(statuses, target, window):
    """The SRE workbook formula on a hand-built window: error share / error budget share."""
    window = [s for s in statuses[-window:] if s != "unknown"]
    return (window.count("bad") / len(window)) / (1 - target)


@pytest.mark.parametrize(
    ("value", "lower", "upper", "op", "threshold", "sufficient", "expected"),
    [
        (0.25, 0.21, 0.29, "<=", 0.2, True, "bad"),  # whole interval above the ceiling
        (0.25, 0.18, 0.32, "<=", 0.2, True, "good"),  # point above, evidence unclear
        (0.25, 0.20, 0.30, "<=", 0.2, True, "good"),  # touching is not beyond
        (0.10, 0.05, 0.15, "<=", 0.2, True, "good"),
        (0.70, 0.62, 0.78, ">=", 0.8, True, "bad"),  # whole interval below the floor
        (0.70, 0.60, 0.85, ">=", 0.8, True, "good"),
        (0.70, 0.60, 0.80, ">=", 0.8, True, "good"),
        (0.30, 0.25, 0.35, "<=", 0.2, False, "unknown"),  # insufficient cohort
        (np.nan, np.nan, np.nan, "<=", 0.2, True, "unknown"),  # undefined metric
        (0.30, np.nan, np.nan, "<=", 0.2, True, "bad"),  # no interval: point value
        (0.10, np.nan, np.nan, "<=", 0.2, True, "good"),
    ],
)
def test_classify_day(value, lower, upper, op, threshold, sufficient, expected):
    assert classify_day(value, lower, upper, op, threshold, sufficient) == expected


def test_classify_days_is_the_vectorised_classify_day():
    rng = np.random.default_rng(0)
    value = rng.random(200)
    value[::17] = np.nan
    half = rng.random(200) * 0.2
    sufficient = rng.random(200) > 0.1
    for op in ("<=", ">="):
        got = classify_days(value, value - half, value + half, op, 0.5, sufficient)
        expected = [
            classify_day(v, v - h, v + h, op, 0.5, s)
            for v, h, s in zip(value, half, sufficient, strict=True)
        ]
        assert got.tolist() == expected
        assert {"good", "bad", "unknown"} == set(expected)
    with pytest.raises(ValueError, match="objective_op"):
        classify_days([0.1], [0.0], [0.2], "<", 0.5, [True])


def test_burn_rate_matches_the_sre_workbook_formula():
    history = ["good"] * 21 + ["good", "bad", "good", "bad", "good", "good", "bad"]
    assert burn_rate(history, target=0.9, window_days=7) == pytest.approx((3 / 7) / 0.1)
    assert burn_rate(history, target=0.9, window_days=7) == pytest.approx(
        sre_burn_rate(history, 0.9, 7)
    )
    assert burn_rate(history, target=0.95, window_days=2) == pytest.approx((1 / 2) / 0.05)
    assert burn_rate(history, target=0.9, window_days=28) == pytest.approx((3 / 28) / 0.1)


def test_unknown_days_are_left_out_not_counted_as_bad():
    history = ["good"] * 23 + ["bad", "unknown", "bad", "unknown", "good"]
    # Last 7: good good bad unknown bad unknown good -> 2 bad of 5 known.
    assert burn_rate(history, target=0.9, window_days=7) == pytest.approx((2 / 5) / 0.1)
    assert np.isnan(burn_rate(["unknown", None], target=0.9, window_days=2))
    budget = error_budget(history, target=0.9, period_days=28)
    assert (budget.known_days, budget.bad_days, budget.unknown_days) == (26, 2, 2)
    assert budget.budget_days == pytest.approx(0.1 * 26)
    all_unknown = error_budget(["unknown"] * 10, target=0.9)
    assert all_unknown.bad_days == 0 and all_unknown.status == "ok"
    assert np.isnan(all_unknown.remaining_fraction) and np.isnan(all_unknown.burn_rate_long)


def test_error_budget_28_day_period():
    history = ["bad"] * 5 + ["good"] * 21 + ["bad"] + ["good"] * 6 + ["bad", "good", "bad"]
    # 36 days: the first 8 fall outside the 28-day period, so the 5 old bad days do not count.
    budget = error_budget(history, target=0.9, period_days=28)
    assert budget.period_days == 28 and budget.known_days == 28
    assert budget.bad_days == budget.consumed_days == 3
    assert budget.budget_days == pytest.approx(2.8)
    assert budget.remaining_days == pytest.approx(-0.2)
    assert budget.remaining_fraction == pytest.approx(-0.2 / 2.8)
    assert budget.burn_rate_long == pytest.approx(sre_burn_rate(history, 0.9, 7))
    assert budget.burn_rate_short == pytest.approx(sre_burn_rate(history, 0.9, 2))
    # Budget consumed over the period = period burn rate (B * W / P with W = P).
    assert budget.consumed_days / budget.budget_days == pytest.approx(
        burn_rate(history, target=0.9, window_days=28)
    )


def test_alert_status_from_multiwindow_rules():
    quiet = ["good"] * 28
    assert error_budget(quiet, target=0.9).status == "ok"
    # One bad day yesterday at target 0.9: 7-day burn 1.43 (>= 1, < 2), 2-day burn 5.
    one_bad = ["good"] * 26 + ["bad", "good"]
    assert error_budget(one_bad, target=0.9).status == "ticket"
    # Two bad days this week, one of them in the last two days: 7-day burn 2.86.
    two_bad = ["good"] * 22 + ["bad", "good", "good", "good", "good", "bad"]
    assert error_budget(two_bad, target=0.9).status == "page"
    # Same two bad days but the last two days are good: the short window resets the alert.
    recovered = ["good"] * 21 + ["bad", "good", "good", "bad", "good", "good", "good"]
    assert error_budget(recovered, target=0.9).status == "ok"
    # At target 0.95 a single bad day is 71% of the budget: it pages.
    assert error_budget(one_bad, target=0.95).status == "page"


def test_rules_are_parameters():
    assert DEFAULT_BURN_RATE_RULES == (PAGE_RULE, TICKET_RULE)
    assert (PAGE_RULE.long_window_days, PAGE_RULE.short_window_days, PAGE_RULE.threshold) == (
        7,
        2,
        2.0,
    )
    history = ["good"] * 26 + ["bad", "good"]
    relaxed = [BurnRateRule("page", long_window_days=14, short_window_days=3, threshold=5.0)]
    assert error_budget(history, target=0.9, rules=relaxed).status == "ok"
    strict = [BurnRateRule("page", long_window_days=28, short_window_days=1, threshold=0.0)]
    assert error_budget(history, target=0.9, rules=strict).status == "page"
    with pytest.raises(ValueError, match="windows"):
        BurnRateRule("ticket", long_window_days=2, short_window_days=7, threshold=1.0)


def test_series_with_missing_dates_become_unknown_days():
    dates = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-06"])
    series = pd.Series(["bad", "good", "bad", "good"], index=dates)
    budget = error_budget(series, target=0.9, period_days=28)
    assert (budget.known_days, budget.bad_days) == (4, 2)
    assert budget.unknown_days == 24  # 2 gap days + 22 days before the history
    assert budget.burn_rate_long == pytest.approx((2 / 4) / 0.1)
    assert burn_rate(series, target=0.9, window_days=3) == pytest.approx((1 / 2) / 0.1)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="target"):
        error_budget(["good"], target=1.0)
    with pytest.raises(ValueError, match="day statuses"):
        error_budget(["good", "meh"], target=0.9)


def test_docstring_examples_run():
    result = doctest.testmod(slo)
    assert result.attempted > 0 and result.failed == 0
