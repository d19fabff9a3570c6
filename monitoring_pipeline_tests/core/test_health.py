"""The pure pipeline-health rules on hand-built figures: each verdict, its edges (no data,
exactly at the threshold, days too young to judge), and the defaults on demo traffic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from monitoring_pipeline.config.models import HealthConfig
from monitoring_pipeline.core.health import (
    BaselineObservation,
    DayLabels,
    DayQuality,
    PartitionPresence,
    YoungDayLabels,
    check_data_quality,
    check_label_arrival,
    check_label_coverage,
    check_label_coverage_trend,
    check_label_lag,
    check_overdue_partitions,
    check_stale_baseline,
    mature_days,
    with_severity,
)
from monitoring_pipeline.demo.generator import generate_traffic

START = date(2026, 1, 1)
DAY = date(2026, 3, 1)


def d(offset: int) -> date:
    """The day ``offset`` days before DAY."""
    return DAY - timedelta(days=offset)


# --------------------------------------------------------------------------------------
# stale_baseline
# --------------------------------------------------------------------------------------


def fixed(observation, *, end=date(2026, 1, 14), **kw):
    return check_stale_baseline(
        DAY, observation, partitions_start=START, start=START, end=end, **kw
    )


def rolling(observation, *, preceding_days=14, day=DAY, **kw):
    return check_stale_baseline(
        day, observation, partitions_start=START, preceding_days=preceding_days, **kw
    )


def full_window(days=14, rows=20_000) -> BaselineObservation:
    return BaselineObservation("ok", d(days), d(1), days, rows)


def test_fixed_baseline_age_fails_only_beyond_the_max():
    obs = BaselineObservation("ok", START, date(2026, 1, 14), 14, 20_000)
    age = (DAY - date(2026, 1, 14)).days  # 46
    at = fixed(obs, max_age_days=age)
    assert (at.status, at.observed, at.threshold) == ("ok", 46.0, 46.0)
    beyond = fixed(obs, max_age_days=age - 1)
    assert (beyond.status, beyond.observed, beyond.threshold) == ("fail", 46.0, 45.0)
    assert beyond.message == (
        "baseline of 2026-03-01: fixed baseline 2026-01-01..2026-01-14 ended 46 days before "
        "2026-03-01 (max 45): refit it on recent data (baseline.start/end)"
    )


def test_day_inside_the_fitting_window_needs_no_baseline():
    early = rolling(None, day=START + timedelta(days=13))
    assert early.status == "ok" and early.observed is None
    assert early.message == (
        "2026-01-14 lies in the bins' fitting window 2026-01-01..2026-01-14: no baseline expected"
    )


def test_missing_baseline_fails_and_says_which_days_to_materialize():
    for observation in (None, BaselineObservation("no_baseline", None, None, 0, None)):
        finding = rolling(observation)
        assert (finding.status, finding.observed) == ("fail", 0.0)
        assert finding.message.startswith(
            "no drift baseline for 2026-03-01: none of 2026-02-15..2026-02-28 could be used"
        )


def test_rolling_baseline_missing_days_warn_then_fail():
    assert rolling(full_window()).status == "ok"
    three = rolling(BaselineObservation("partial_baseline", d(14), d(1), 11, 15_000))
    assert (three.status, three.observed, three.threshold) == ("warn", 3.0, 3.0)
    assert "3 of 14 baseline days missing (tolerated up to 3)" in three.message
    four = rolling(BaselineObservation("partial_baseline", d(14), d(1), 10, 15_000))
    assert (four.status, four.observed, four.threshold) == ("fail", 4.0, 3.0)


def test_baseline_too_small_fails_on_days_or_rows_exactly_at_the_minimum_is_ok():
    assert rolling(full_window(days=7), preceding_days=7, min_days=7, min_rows=1000).status == "ok"
    few = rolling(full_window(days=6), preceding_days=6, min_days=7)
    assert (few.status, few.observed, few.threshold) == ("fail", 6.0, 7.0)
    at_rows = rolling(full_window(rows=1000), min_rows=1000)
    assert at_rows.status == "ok"
    thin = rolling(full_window(rows=999), min_rows=1000)
    assert (thin.status, thin.observed, thin.threshold) == ("fail", 999.0, 1000.0)
    assert thin.message.endswith("baseline has 999 rows (min 1000)")


def test_several_baseline_problems_are_all_named_and_the_fail_leads():
    obs = BaselineObservation("partial_baseline", d(14), d(1), 12, 500)
    finding = rolling(obs, min_rows=1000)
    assert finding.status == "fail" and finding.observed == 500.0
    assert "baseline has 500 rows (min 1000)" in finding.message
    assert "2 of 14 baseline days missing" in finding.message


# --------------------------------------------------------------------------------------
# overdue_partitions
# --------------------------------------------------------------------------------------


def presence(days, *, drop=(), blocked=None, no_drift=(), slos=True) -> PartitionPresence:
    everything = frozenset(days) - frozenset(drop)
    return PartitionPresence(
        ingested=everything,
        label_status=everything - frozenset(blocked or {}),
        drift=everything - frozenset(blocked or {}) - frozenset(no_drift),
        error_budgets=(everything - frozenset(blocked or {})) if slos else None,
        blocked=blocked or {},
    )


def test_every_day_present_is_ok_and_the_day_itself_is_not_judged():
    days = [d(i) for i in range(1, 15)]
    finding = check_overdue_partitions(
        DAY, presence(days), partitions_start=START, lookback_days=14
    )
    assert (finding.status, finding.observed, finding.threshold) == ("ok", 0.0, 0.0)
    assert finding.message == "every day of the 14 day(s) 2026-02-15..2026-02-28 is materialized"


def test_missing_and_blocked_days_fail_incomplete_ones_warn():
    days = [d(i) for i in range(1, 15)]
    finding = check_overdue_partitions(
        DAY,
        presence(days, drop=[d(3)], blocked={d(5): ["schema"]}),
        partitions_start=START,
    )
    assert (finding.status, finding.observed) == ("fail", 2.0)
    assert finding.message == (
        "2 overdue day(s) in the 14 day(s) 2026-02-15..2026-02-28: not materialized: "
        "2026-02-26; stopped by a blocking check: 2026-02-24 (schema) "
        "(re-run monitor_models_job for them)"
    )
    assert finding.details["blocked"] == {"2026-02-24": ["schema"]}
    partial = check_overdue_partitions(DAY, presence(days, no_drift=[d(2)]), partitions_start=START)
    assert (partial.status, partial.observed) == ("warn", 0.0)
    assert "chain incomplete: 2026-02-27 (no drift)" in partial.message


def test_error_budgets_are_expected_only_with_slos():
    days = [d(i) for i in range(1, 15)]
    without_budgets = presence(days, slos=True)
    without_budgets = PartitionPresence(
        ingested=without_budgets.ingested,
        label_status=without_budgets.label_status,
        drift=without_budgets.drift,
        error_budgets=frozenset(),
    )
    assert check_overdue_partitions(DAY, without_budgets, partitions_start=START).status == "warn"
    no_slos = presence(days, slos=False)
    assert check_overdue_partitions(DAY, no_slos, partitions_start=START).status == "ok"


def test_overdue_tolerance_and_the_first_partitions():
    days = [d(i) for i in range(1, 15)]
    tolerated = check_overdue_partitions(
        DAY, presence(days, drop=[d(1)]), partitions_start=START, max_overdue_days=1
    )
    assert (tolerated.status, tolerated.observed, tolerated.threshold) == ("warn", 1.0, 1.0)
    # Nothing before the first partition is expected.
    first = check_overdue_partitions(START, presence([]), partitions_start=START)
    assert first.status == "ok" and first.message == "no earlier day to check before 2026-01-01"
    second = check_overdue_partitions(
        START + timedelta(days=1), presence([]), partitions_start=START
    )
    assert second.status == "fail" and second.details["missing"] == ["2026-01-01"]


def test_a_long_list_of_days_is_shortened_in_the_message():
    finding = check_overdue_partitions(DAY, presence([]), partitions_start=START)
    assert finding.observed == 14.0
    assert "2026-02-19 and 9 more" in finding.message
    assert len(finding.details["missing"]) == 14


# --------------------------------------------------------------------------------------
# label checks
# --------------------------------------------------------------------------------------


def labels(coverages: dict[int, float], *, n=1000, p90_days=10.0) -> list[DayLabels]:
    return [
        DayLabels(d(offset), n, round(c * n), p90_days * 24 if c else None)
        for offset, c in coverages.items()
    ]


def test_mature_days_rounds_the_expected_lag_up():
    assert mature_days(DAY, 30) == d(30)
    assert mature_days(DAY, 29.5) == d(30)


def test_young_days_are_never_judged_on_coverage():
    # 29 days old with no labels at all: too young for a 30-day expected lag.
    finding = check_label_coverage(
        DAY, labels({i: 0.0 for i in range(0, 30)}), expected_label_lag_days=30
    )
    assert finding.status == "ok" and finding.observed is None
    assert finding.message == (
        "no day in 2026-01-24..2026-01-30 (>= 30 days old) with >= 50 predictions to judge yet"
    )


def test_coverage_at_the_minimum_is_ok_below_it_fails():
    at = check_label_coverage(DAY, labels({30: 0.8, 31: 0.9}), expected_label_lag_days=30)
    assert (at.status, at.observed, at.threshold) == ("ok", 0.8, 0.8)
    below = check_label_coverage(
        DAY, labels({30: 0.799, 31: 0.9, 32: 0.1}), expected_label_lag_days=30
    )
    assert (below.status, below.observed) == ("fail", 0.1)
    assert below.message == (
        "labels cover under 80% of predictions on 2 day(s) at least 30 days old: "
        "2026-01-28 10.0%, 2026-01-30 79.9%: check the label feed, or re-run those days if "
        "labels arrived since"
    )
    assert below.details["low_days"] == ["2026-01-28", "2026-01-30"]


def test_coverage_ignores_days_outside_the_window_and_tiny_days():
    rows = labels({30: 0.9, 37: 0.0})  # 37 days old: outside the 7-day window
    rows.append(DayLabels(d(31), 10, 0, None))  # 10 predictions: noise
    finding = check_label_coverage(DAY, rows, expected_label_lag_days=30)
    assert (finding.status, finding.observed) == ("ok", 0.9)
    assert finding.details["coverage_by_day"] == {"2026-01-30": 0.9}


def test_coverage_message_says_when_the_figures_were_computed():
    rows = [DayLabels(d(30), 100, 10, None, computed_on=d(29))]
    finding = check_label_coverage(DAY, rows, expected_label_lag_days=30)
    assert "(as computed on 2026-01-31)" in finding.message


def test_label_lag_fails_beyond_the_expected_lag_and_judges_censored_young_days():
    ok = check_label_lag(DAY, labels({3: 0.3}, p90_days=30), expected_label_lag_days=30)
    assert (ok.status, ok.observed, ok.threshold) == ("ok", 30.0, 30.0)
    # A young day whose labels so far already took longer: censoring only hides lag.
    late = check_label_lag(
        DAY, labels({3: 0.3, 40: 0.9}, p90_days=31.5), expected_label_lag_days=30
    )
    assert (late.status, late.observed) == ("fail", 31.5)
    assert late.message.startswith(
        "p90 label lag above the expected 30 days on 1 day(s): 2026-02-26 31.5 d"
    )
    assert check_label_lag(DAY, [], expected_label_lag_days=30).observed is None
    relaxed = check_label_lag(
        DAY, labels({3: 0.3}, p90_days=31.5), expected_label_lag_days=30, max_ratio=1.1
    )
    assert (relaxed.status, relaxed.threshold) == ("ok", pytest.approx(33.0))


def test_label_lag_needs_enough_labels():
    rows = [DayLabels(d(3), 1000, 10, 40 * 24.0)]
    assert check_label_lag(DAY, rows, expected_label_lag_days=30).observed is None


def test_coverage_trend_compares_mature_windows():
    steady = labels({i: 0.9 for i in range(30, 44)})
    finding = check_label_coverage_trend(DAY, steady, expected_label_lag_days=30)
    assert (finding.status, finding.observed) == ("ok", pytest.approx(0.0))
    drifting = labels({**{i: 0.9 for i in range(37, 44)}, **{i: 0.75 for i in range(30, 37)}})
    warn = check_label_coverage_trend(DAY, drifting, expected_label_lag_days=30)
    assert (warn.status, warn.observed, warn.threshold) == ("warn", pytest.approx(0.15), 0.1)
    assert warn.message == (
        "label coverage of mature days 2026-01-24..2026-01-30 is 75.0%, 90.0% the 7 days "
        "before: a drop of 15.0% (max 10%); labels are going missing"
    )
    falling = labels({**{i: 0.9 for i in range(37, 44)}, **{i: 0.6 for i in range(30, 37)}})
    assert check_label_coverage_trend(DAY, falling, expected_label_lag_days=30).status == "fail"
    # The young days' low coverage is not a trend.
    young = labels({**{i: 0.9 for i in range(30, 44)}, **{i: 0.05 for i in range(0, 30)}})
    assert check_label_coverage_trend(DAY, young, expected_label_lag_days=30).status == "ok"
    half = check_label_coverage_trend(DAY, labels({30: 0.5}), expected_label_lag_days=30)
    assert half.status == "ok" and half.observed is None


def test_severity_is_applied_from_the_config():
    finding = check_label_lag(DAY, [], expected_label_lag_days=30)
    assert finding.severity == "ticket"
    assert with_severity(finding, "page").severity == "page"
    assert HealthConfig().overdue_partitions.severity == "page"


def test_defaults_are_quiet_on_the_demos_healthy_label_feed():
    """Sixty days of the demo's loan traffic, labels as known the day after: the label
    checks with their default thresholds judge real days and find nothing."""
    start, end = date(2026, 1, 1), date(2026, 3, 1)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    traffic = generate_traffic("loan_approval", start, end, now=now, seed=3, daily_volume=300)
    predictions = traffic.predictions.dropna(subset=["scored_at", "prediction_id"])
    predictions = predictions.drop_duplicates("prediction_id")
    first_label = traffic.labels.groupby("prediction_id")["labelled_at"].min()
    frame = predictions.set_index("prediction_id").join(first_label)
    frame["day"] = frame.scored_at.dt.tz_convert("UTC").dt.date
    frame["lag_hours"] = (frame.labelled_at - frame.scored_at).dt.total_seconds() / 3600
    rows = [
        DayLabels(
            day,
            len(group),
            int(group.labelled_at.notna().sum()),
            float(np.quantile(group.lag_hours.dropna(), 0.9)),
        )
        for day, group in frame.groupby("day")
    ]
    health = HealthConfig()
    coverage = check_label_coverage(
        end, rows, expected_label_lag_days=30, min_coverage=health.label_coverage.min_coverage
    )
    assert coverage.status == "ok" and coverage.observed is not None
    assert coverage.observed > health.label_coverage.min_coverage + 0.05
    lag = check_label_lag(end, rows, expected_label_lag_days=30)
    assert lag.status == "ok" and 7 < lag.observed < 20  # lognormal p90 ~13 days
    trend = check_label_coverage_trend(end, rows, expected_label_lag_days=30)
    assert trend.status == "ok" and trend.observed is not None
    assert len({r.day for r in rows}) == 60


# --------------------------------------------------------------------------------------
# label_arrival
# --------------------------------------------------------------------------------------


def young(labelled: int, predictions: int = 1000, share: float | None = 0.1, age_days: int = 1):
    return YoungDayLabels(d(age_days), predictions, labelled, share, 24.0 * age_days)


def test_label_arrival_is_ok_on_pace_and_fails_when_a_young_day_gets_nothing():
    on_pace = check_label_arrival(DAY, [young(95), young(180, share=0.2, age_days=2)])
    assert on_pace.status == "ok" and on_pace.observed == pytest.approx(0.9)
    stopped = check_label_arrival(DAY, [young(0), young(180, share=0.2, age_days=2)])
    assert (stopped.status, stopped.observed, stopped.threshold) == ("fail", 0.0, 0.5)
    assert f"{d(1)} 0 of 100 expected at 1.0 days" in stopped.message
    assert stopped.details["behind_days"] == [str(d(1))]


def test_label_arrival_needs_both_a_large_drop_and_a_significant_one():
    # 0 of 200 at a 5% share: P(X = 0) = 0.95^200 = 3.5e-5 < alpha 0.001 (binomial tail by
    # hand, not by the code's scipy call); 0 of 100: 0.95^100 = 0.0059, not significant.
    assert 0.95**200 < 0.001 < 0.95**100
    big = check_label_arrival(DAY, [young(0, 200, 0.05)], min_expected=1)
    small = check_label_arrival(DAY, [young(0, 100, 0.05)], min_expected=1)
    assert (big.status, small.status) == ("fail", "ok")
    # Significant but within max_drop (60 of 100 expected): ok.
    assert check_label_arrival(DAY, [young(60, 1000, 0.1)]).status == "ok"
    # Exactly at the limit is not behind: 50 of 100 expected.
    assert check_label_arrival(DAY, [young(50, 1000, 0.1)]).status == "ok"


def test_label_arrival_judges_nothing_without_enough_expected_labels_or_a_reference():
    too_young = check_label_arrival(DAY, [young(0, 1000, 0.005)])  # 5 expected < 20
    no_reference = check_label_arrival(DAY, [young(0, 1000, None)])
    for finding in (too_young, no_reference):
        assert finding.status == "ok" and finding.observed is None
        assert finding.message.startswith("no recent day expects >= 20 labels")


# --------------------------------------------------------------------------------------
# data_quality
# --------------------------------------------------------------------------------------


def test_data_quality_fails_on_the_quarantined_share_above_the_malformed_tolerance():
    over = check_data_quality(DAY, DayQuality(1000, 100), max_quarantined_share=0.03)
    assert (over.status, over.observed, over.threshold) == ("fail", 0.1, 0.03)
    assert "100 of 1000 rows (10.0%) quarantined (max 3.0%)" in over.message
    at = check_data_quality(DAY, DayQuality(1000, 30), max_quarantined_share=0.03)
    assert at.status == "ok" and at.observed == 0.03


def test_data_quality_fails_on_a_failed_nonblocking_check_and_names_it():
    line = "feature_nulls income expect_column_values_to_not_be_null: 35.0% unexpected"
    finding = check_data_quality(DAY, DayQuality(1000, 0, (line,)), max_quarantined_share=0.03)
    assert finding.status == "fail" and line in finding.message
    assert finding.details["failed_checks"] == [line]
    nothing = check_data_quality(DAY, None, max_quarantined_share=0.03)
    assert nothing.status == "ok" and nothing.observed is None
    empty = check_data_quality(DAY, DayQuality(0, 0), max_quarantined_share=0.03)
    assert empty.status == "ok" and empty.observed is None
