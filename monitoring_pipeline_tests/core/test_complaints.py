"""Complaint rates against independent computations: a pandas group-by count on the rows,
statsmodels' Wilson interval, a hand-worked window, and additivity over chunks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from monitoring_pipeline.core.complaints import (
    classify_complaints,
    complaint_counts,
    complaint_rates,
    merge_complaint_counts,
    window_closes_at,
)

DAY = date(2026, 11, 2)
AS_OF = pd.Timestamp("2026-12-01", tz="UTC")


def test_the_window_runs_from_the_scoring_day_to_window_days_after_its_end():
    times = pd.Series(
        [
            "2026-11-01T23:59:59Z",  # the day before: a complaint cannot precede its prediction
            "2026-11-02T00:00:00Z",  # the first instant counts
            "2026-11-16T23:59:59Z",  # 14 days after the day's end, less a second
            "2026-11-17T00:00:00Z",  # the window has closed
            "not a time",
            None,
            "2026-11-05T10:00:00+02:00",  # offsets are honoured
        ]
    )
    outcome = classify_complaints(times, DAY, 14, AS_OF)
    assert outcome.tolist() == [
        "before_scoring_day", "counted", "counted", "after_window", "undated", "undated",
        "counted",
    ]  # fmt: skip
    assert window_closes_at(DAY, 14) == pd.Timestamp("2026-11-17", tz="UTC")
    # Counted at 11-05 noon, the complaints recorded later are not known yet.
    early = classify_complaints(times, DAY, 14, pd.Timestamp("2026-11-05T12:00Z"))
    assert early.tolist()[:3] == ["before_scoring_day", "counted", "not_yet_known"]


def test_a_scoring_day_per_row_gives_each_complaint_its_own_window():
    times = pd.Series(["2026-11-03T00:00Z", "2026-11-03T00:00Z", "2026-11-18T23:00Z"])
    days = pd.Series([date(2026, 11, 2), date(2026, 11, 4), date(2026, 11, 4)])
    assert classify_complaints(times, days, 14, AS_OF).tolist() == [
        "counted", "before_scoring_day", "counted",
    ]  # fmt: skip


def test_counts_and_wilson_intervals_match_a_group_by_and_statsmodels():
    rng = np.random.default_rng(3)
    n = 5_000
    rows = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "west"], n, p=[0.6, 0.39, 0.01]),
            "sex": rng.choice(["female", "male", None], n, p=[0.5, 0.45, 0.05]),
        }
    )
    rows["complained"] = rng.random(n) < np.where(rows.region == "west", 0.3, 0.02)
    chunks = [complaint_counts(rows.iloc[i::7], ["region", "sex"]) for i in range(7)]
    rates = complaint_rates(merge_complaint_counts(chunks), min_count=100).set_index(
        ["cohort_attribute", "cohort_value"]
    )
    expected = {("all", "all"): rows}
    for attribute in ("region", "sex"):
        for value, part in rows.groupby(rows[attribute].astype("string"), dropna=False):
            expected[(attribute, "<NA>" if pd.isna(value) else value)] = part
    assert len(rates) == len(expected)
    for key, part in expected.items():
        got = rates.loc[key]
        k, total = int(part.complained.sum()), len(part)
        lower, upper = proportion_confint(k, total, alpha=0.05, method="wilson")
        assert (got.n, got.complaints) == (total, k)
        assert got.value == pytest.approx(k / total)
        assert (got.lower, got.upper) == (pytest.approx(lower, abs=1e-12), pytest.approx(upper))
        assert got.sufficient == (total >= 100)


def test_a_cohort_without_complaints_has_a_zero_rate_and_a_one_sided_interval():
    counts = pd.DataFrame(
        {
            "cohort_attribute": ["all"],
            "cohort_value": ["all"],
            "predictions": [40],
            "complaints": [0],
        }
    )
    row = complaint_rates(counts).iloc[0]
    assert (row.value, row.lower) == (0.0, 0.0)
    assert row.upper == pytest.approx(proportion_confint(0, 40, method="wilson")[1])
