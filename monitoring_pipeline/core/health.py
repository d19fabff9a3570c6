"""Meta-monitoring: is the monitoring itself trustworthy for a (model, day)?

Pure rules, no Dagster and no SQL: each takes plain figures read elsewhere and returns a
:class:`HealthFinding` with ``status`` ``ok`` / ``warn`` / ``fail``, the figure it judged
(``observed``), the limit it was judged against (``threshold``) and a one-line message an
on-call engineer can act on.

Every rule judges the partition day ``day`` from what is known about days up to it, so a
re-run or a backfill of history gives the same verdict for the same stored figures.

Label timing. Day ``X``'s youngest prediction is ``(day - X).days`` whole days old at the
end of ``day``: ``X`` is *mature* when that age reaches the model's expected label lag.
Coverage is only judged on mature days (young days are always low: their labels cannot
have arrived yet), so a healthy model with slow labels makes no noise. Label-lag quantiles
of a young day are right-censored (labels still to come are missing from them), and the
censored quantile can only be *below* the final one, so a high p90 is evidence on any day.

Checks (``check_name``):

- ``stale_baseline``: the drift baseline of ``day`` is missing, ends too long before it
  (fixed baselines), has too few days or rows, or misses days of its window.
- ``overdue_partitions``: earlier days of the lookback with no materialization, stopped by
  a failed blocking quality check, or with part of their chain missing.
- ``label_lag``: the p90 label lag of a recent day exceeds the expected label lag.
- ``label_coverage``: a mature day's labels cover too few of its predictions.
- ``label_coverage_trend``: mature days' coverage has dropped against the days before.
- ``label_arrival``: the youngest days have far fewer labels than days before them had at
  the same age (a label feed that stopped, seen within a day or two instead of after the
  expected label lag).
- ``data_quality``: the day itself lost more rows to quarantine than the malformed-row
  tolerance, or failed a non-blocking quality check (e.g. a feature's null share).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal

from scipy import stats

from monitoring_pipeline.core.drift_baseline import baseline_window, fitting_window

__all__ = [
    "CHECK_NAMES",
    "BaselineObservation",
    "DayLabels",
    "DayQuality",
    "YoungDayLabels",
    "HealthFinding",
    "PartitionPresence",
    "check_data_quality",
    "check_label_arrival",
    "check_label_coverage",
    "check_label_coverage_trend",
    "check_label_lag",
    "check_overdue_partitions",
    "check_stale_baseline",
    "mature_days",
    "with_severity",
]

HealthStatus = Literal["ok", "warn", "fail"]
Severity = Literal["ticket", "page"]

STALE_BASELINE = "stale_baseline"
OVERDUE_PARTITIONS = "overdue_partitions"
LABEL_LAG = "label_lag"
LABEL_COVERAGE = "label_coverage"
LABEL_COVERAGE_TREND = "label_coverage_trend"
LABEL_ARRIVAL = "label_arrival"
DATA_QUALITY = "data_quality"
CHECK_NAMES: tuple[str, ...] = (
    STALE_BASELINE,
    OVERDUE_PARTITIONS,
    LABEL_LAG,
    LABEL_COVERAGE,
    LABEL_COVERAGE_TREND,
    LABEL_ARRIVAL,
    DATA_QUALITY,
)
# How many days a message names before it says "and N more".
DAYS_NAMED = 5


@dataclass(frozen=True)
class HealthFinding:
    """The verdict of one check for one (model, day).

    ``severity`` is what a ``fail`` should raise (``ticket`` or ``page``); the rules leave
    the default and :func:`with_severity` applies the configured one.
    """

    check_name: str
    status: HealthStatus
    observed: float | None
    threshold: float | None
    message: str
    details: dict = field(default_factory=dict)
    severity: Severity = "ticket"


def with_severity(finding: HealthFinding, severity: Severity) -> HealthFinding:
    """``finding`` with the configured severity."""
    return replace(finding, severity=severity)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _named(days: Sequence[date], describe=lambda d: d.isoformat()) -> str:
    shown = ", ".join(describe(d) for d in days[:DAYS_NAMED])
    more = len(days) - DAYS_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------------------
# Stale baseline
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineObservation:
    """What the day's drift run used as baseline (its score row for cohort ``all``).

    ``status`` is the drift table's (``ok``, ``partial_baseline``, ``no_baseline``);
    ``rows`` the baseline observations (``n_reference``), None when not binned.
    """

    status: str
    baseline_from: date | None
    baseline_to: date | None
    baseline_days: int
    rows: int | None


def check_stale_baseline(
    day: date,
    observation: BaselineObservation | None,
    *,
    partitions_start: date,
    preceding_days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    max_age_days: int = 180,
    min_days: int = 7,
    min_rows: int = 1000,
    max_missing_days: int = 3,
) -> HealthFinding:
    """Whether the drift baseline of ``day`` can be trusted.

    Fails when the day should have a baseline but drift found none; when a fixed baseline
    ends more than ``max_age_days`` before ``day``; when fewer than ``min_days`` days or
    ``min_rows`` rows went into it; or when more than ``max_missing_days`` days of its
    window were missing. Warns when 1..``max_missing_days`` days were missing. Days inside
    the bins' fitting window need no baseline (ok). ``observation`` is None when the day
    has no drift rows.

    ``observed``/``threshold``: the failing figure and its limit; when all is well the age
    and ``max_age_days`` (fixed) or the missing days and ``max_missing_days`` (rolling).

    Example:
        >>> obs = BaselineObservation("ok", date(2026, 1, 1), date(2026, 1, 14), 14, 5000)
        >>> check_stale_baseline(date(2026, 9, 1), obs, partitions_start=date(2026, 1, 1),
        ...     start=date(2026, 1, 1), end=date(2026, 1, 14)).status
        'fail'
    """
    window = baseline_window(
        day, partitions_start, preceding_days=preceding_days, start=start, end=end
    )
    fixed = preceding_days is None
    kind = "fixed" if fixed else f"rolling {preceding_days}-day"
    if window is None:
        fit_from, fit_to = fitting_window(
            partitions_start, preceding_days=preceding_days, start=start, end=end
        )
        return HealthFinding(
            STALE_BASELINE,
            "ok",
            None,
            None,
            f"{day} lies in the bins' fitting window {fit_from}..{fit_to}: no baseline expected",
            {"kind": kind, "fitting_from": str(fit_from), "fitting_to": str(fit_to)},
        )
    window_days = (window[1] - window[0]).days + 1
    details: dict = {
        "kind": kind,
        "window_from": str(window[0]),
        "window_to": str(window[1]),
        "window_days": window_days,
    }
    if observation is None or observation.status == "no_baseline" or not observation.baseline_days:
        return HealthFinding(
            STALE_BASELINE,
            "fail",
            0.0,
            float(min_days),
            f"no drift baseline for {day}: none of {window[0]}..{window[1]} could be used "
            "(materialize those days, or the fitting window, first)",
            details | {"baseline_days": 0},
        )
    used = observation.baseline_days
    missing = max(window_days - used, 0)
    details |= {"baseline_days": used, "missing_days": missing, "rows": observation.rows}
    # (status, observed, threshold, message) of each problem, worst first.
    problems: list[tuple[HealthStatus, float, float, str]] = []
    if fixed:
        age = (day - window[1]).days
        details["age_days"] = age
        if age > max_age_days:
            problems.append(
                (
                    "fail",
                    age,
                    max_age_days,
                    f"fixed baseline {window[0]}..{window[1]} ended {age} days before {day} "
                    f"(max {max_age_days}): refit it on recent data (baseline.start/end)",
                )
            )
    if used < min_days:
        problems.append(
            ("fail", used, min_days, f"baseline has {used} day(s) of data (min {min_days})")
        )
    if observation.rows is not None and observation.rows < min_rows:
        problems.append(
            (
                "fail",
                observation.rows,
                min_rows,
                f"baseline has {observation.rows} rows (min {min_rows})",
            )
        )
    if missing > max_missing_days:
        problems.append(
            (
                "fail",
                missing,
                max_missing_days,
                f"{missing} of {window_days} baseline days missing (max {max_missing_days}): "
                "materialize them",
            )
        )
    elif missing:
        problems.append(
            (
                "warn",
                missing,
                max_missing_days,
                f"{missing} of {window_days} baseline days missing (tolerated up to "
                f"{max_missing_days}): materialize them",
            )
        )
    if problems:
        problems.sort(key=lambda p: p[0] != "fail")
        status, observed, threshold, _ = problems[0]
        return HealthFinding(
            STALE_BASELINE,
            status,
            float(observed),
            float(threshold),
            f"baseline of {day}: " + "; ".join(p[3] for p in problems),
            details,
        )
    if fixed:
        observed, threshold = details["age_days"], max_age_days
    else:
        observed, threshold = missing, max_missing_days
    return HealthFinding(
        STALE_BASELINE,
        "ok",
        float(observed),
        float(threshold),
        f"{kind} baseline {window[0]}..{window[1]}: {used} days, {observation.rows} rows",
        details,
    )


# --------------------------------------------------------------------------------------
# Overdue partitions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionPresence:
    """Which days have which published tables, and which were stopped by a blocking check.

    ``error_budgets`` is None when the model has no SLOs (nothing is expected there).
    ``blocked`` maps a day to the names of its failed blocking checks.
    """

    ingested: frozenset[date]
    label_status: frozenset[date]
    drift: frozenset[date]
    error_budgets: frozenset[date] | None
    blocked: Mapping[date, Sequence[str]] = field(default_factory=dict)


def check_overdue_partitions(
    day: date,
    presence: PartitionPresence,
    *,
    partitions_start: date,
    lookback_days: int = 14,
    max_overdue_days: int = 0,
) -> HealthFinding:
    """Earlier days of the lookback whose monitoring is missing.

    Looks at the ``lookback_days`` days before ``day`` (never before ``partitions_start``;
    ``day`` itself is being materialized). A day is *missing* without an
    ``ingestion_stats`` row (never materialized, or its source failed), *blocked* when its
    last run failed a blocking quality check (its metrics were not computed), *incomplete*
    when it was ingested but ``label_status``, ``drift`` or (with SLOs) ``error_budgets``
    is missing. Fails when missing + blocked days exceed ``max_overdue_days``; warns on any
    other overdue day. ``observed``: missing + blocked days.

    Example:
        >>> p = PartitionPresence(frozenset(), frozenset(), frozenset(), None)
        >>> check_overdue_partitions(date(2026, 1, 3), p, partitions_start=date(2026, 1, 1)).status
        'fail'
    """
    first = max(partitions_start, day - timedelta(days=lookback_days))
    judged = _days(first, day - timedelta(days=1)) if first < day else []
    missing, blocked, incomplete = [], [], {}
    for x in judged:
        if x not in presence.ingested:
            missing.append(x)
        elif x in presence.blocked:
            blocked.append(x)
        else:
            absent = [
                name
                for name, days in (
                    ("label_status", presence.label_status),
                    ("drift", presence.drift),
                    ("error_budgets", presence.error_budgets),
                )
                if days is not None and x not in days
            ]
            if absent:
                incomplete[x] = absent
    details = {
        "judged_from": str(first) if judged else None,
        "judged_to": str(judged[-1]) if judged else None,
        "missing": [str(d) for d in missing],
        "blocked": {str(d): list(presence.blocked[d]) for d in blocked},
        "incomplete": {str(d): v for d, v in incomplete.items()},
    }
    hard = len(missing) + len(blocked)
    if not judged:
        return HealthFinding(
            OVERDUE_PARTITIONS,
            "ok",
            0.0,
            float(max_overdue_days),
            f"no earlier day to check before {day}",
            details,
        )
    parts = []
    if missing:
        parts.append(f"not materialized: {_named(missing)}")
    if blocked:
        parts.append(
            "stopped by a blocking check: "
            + _named(blocked, lambda d: f"{d} ({', '.join(presence.blocked[d])})")
        )
    if incomplete:
        parts.append(
            "chain incomplete: "
            + _named(list(incomplete), lambda d: f"{d} (no {', '.join(incomplete[d])})")
        )
    span = f"the {len(judged)} day(s) {judged[0]}..{judged[-1]}"
    if not parts:
        return HealthFinding(
            OVERDUE_PARTITIONS,
            "ok",
            0.0,
            float(max_overdue_days),
            f"every day of {span} is materialized",
            details,
        )
    status: HealthStatus = "fail" if hard > max_overdue_days else "warn"
    return HealthFinding(
        OVERDUE_PARTITIONS,
        status,
        float(hard),
        float(max_overdue_days),
        f"{hard + len(incomplete)} overdue day(s) in {span}: "
        + "; ".join(parts)
        + " (re-run monitor_models_job for them)",
        details,
    )


# --------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayLabels:
    """One day's ``label_status`` row, as last computed (``computed_on``: its run's date)."""

    day: date
    predictions: int
    labelled: int
    label_lag_p90_hours: float | None
    computed_on: date | None = None

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.predictions if self.predictions else None


def mature_days(day: date, expected_label_lag_days: float) -> date:
    """The newest day old enough to judge its labels: its youngest prediction is at least
    ``expected_label_lag_days`` old at the end of ``day``.

    Example:
        >>> mature_days(date(2026, 2, 1), 30), mature_days(date(2026, 2, 1), 2.5)
        (datetime.date(2026, 1, 2), datetime.date(2026, 1, 29))
    """
    return day - timedelta(days=math.ceil(expected_label_lag_days))


def _judged_mature(
    day: date, labels: Iterable[DayLabels], lag_days: float, window_days: int, min_predictions: int
) -> tuple[date, date, list[DayLabels]]:
    newest = mature_days(day, lag_days)
    oldest = newest - timedelta(days=window_days - 1)
    rows = sorted(
        (
            r
            for r in labels
            if oldest <= r.day <= newest and r.predictions >= max(min_predictions, 1)
        ),
        key=lambda r: r.day,
    )
    return oldest, newest, rows


def check_label_coverage(
    day: date,
    labels: Iterable[DayLabels],
    *,
    expected_label_lag_days: float,
    min_coverage: float = 0.8,
    window_days: int = 7,
    min_predictions: int = 50,
) -> HealthFinding:
    """Coverage of the ``window_days`` newest mature days (see :func:`mature_days`).

    Days with fewer than ``min_predictions`` predictions are not judged (their coverage is
    noise). Fails when any judged day's coverage is below ``min_coverage`` (exactly at it
    is ok). ``observed``: the lowest coverage. Nothing mature yet: ok, nothing judged.

    Example:
        >>> rows = [DayLabels(date(2026, 1, 1), 100, 40, 100.0)]
        >>> check_label_coverage(date(2026, 2, 1), rows, expected_label_lag_days=30).status
        'fail'
    """
    oldest, newest, rows = _judged_mature(
        day, labels, expected_label_lag_days, window_days, min_predictions
    )
    details = {
        "judged_from": str(oldest),
        "judged_to": str(newest),
        "expected_label_lag_days": expected_label_lag_days,
        "coverage_by_day": {str(r.day): round(r.coverage, 4) for r in rows},
    }
    if not rows:
        return HealthFinding(
            LABEL_COVERAGE,
            "ok",
            None,
            min_coverage,
            f"no day in {oldest}..{newest} (>= {expected_label_lag_days:g} days old) with "
            f">= {min_predictions} predictions to judge yet",
            details,
        )
    lowest = min(r.coverage for r in rows)
    low = [r for r in rows if r.coverage < min_coverage]
    if not low:
        return HealthFinding(
            LABEL_COVERAGE,
            "ok",
            lowest,
            min_coverage,
            f"labels cover >= {lowest:.1%} of predictions on {len(rows)} day(s) "
            f"{rows[0].day}..{rows[-1].day} (min {min_coverage:.0%})",
            details,
        )
    computed = {r.computed_on for r in low if r.computed_on is not None}
    as_of = f" (as computed on {max(computed)})" if computed else ""
    return HealthFinding(
        LABEL_COVERAGE,
        "fail",
        lowest,
        min_coverage,
        f"labels cover under {min_coverage:.0%} of predictions on {len(low)} day(s) at least "
        f"{expected_label_lag_days:g} days old: "
        + _named([r.day for r in low], lambda d: f"{d} {_coverage_of(low, d):.1%}")
        + f"{as_of}: check the label feed, or re-run those days if labels arrived since",
        details | {"low_days": [str(r.day) for r in low]},
    )


def _coverage_of(rows: Sequence[DayLabels], day: date) -> float:
    return next(r.coverage for r in rows if r.day == day)


def check_label_coverage_trend(
    day: date,
    labels: Iterable[DayLabels],
    *,
    expected_label_lag_days: float,
    days: int = 7,
    max_drop: float = 0.1,
    min_predictions: int = 50,
) -> HealthFinding:
    """Pooled coverage of the ``days`` newest mature days against the ``days`` before them.

    Both windows are mature, so the comparison is at like ages and young days cannot fake
    a drop. Warns when coverage fell by more than ``max_drop`` (absolute); fails when it
    fell by more than twice that. ``observed``: the drop (previous - recent). Either window
    without a judged day: ok, nothing judged.

    Example:
        >>> rows = [DayLabels(date(2026, 1, d), 100, 90 if d < 8 else 60, None) for d in range(1, 15)]
        >>> check_label_coverage_trend(date(2026, 2, 13), rows, expected_label_lag_days=30).status
        'fail'
    """
    oldest, newest, rows = _judged_mature(
        day, labels, expected_label_lag_days, 2 * days, min_predictions
    )
    split = newest - timedelta(days=days - 1)
    recent = [r for r in rows if r.day >= split]
    previous = [r for r in rows if r.day < split]
    details = {
        "recent_from": str(split),
        "recent_to": str(newest),
        "previous_from": str(oldest),
        "previous_to": str(split - timedelta(days=1)),
        "recent_days": len(recent),
        "previous_days": len(previous),
    }
    if not recent or not previous:
        return HealthFinding(
            LABEL_COVERAGE_TREND,
            "ok",
            None,
            max_drop,
            f"not enough mature days to compare ({oldest}..{newest}, {len(rows)} judged)",
            details,
        )
    recent_coverage = sum(r.labelled for r in recent) / sum(r.predictions for r in recent)
    previous_coverage = sum(r.labelled for r in previous) / sum(r.predictions for r in previous)
    drop = previous_coverage - recent_coverage
    details |= {"recent_coverage": recent_coverage, "previous_coverage": previous_coverage}
    change = (
        f"label coverage of mature days {split}..{newest} is {recent_coverage:.1%}, "
        f"{previous_coverage:.1%} the {days} days before"
    )
    if drop > 2 * max_drop:
        status: HealthStatus = "fail"
    elif drop > max_drop:
        status = "warn"
    else:
        return HealthFinding(
            LABEL_COVERAGE_TREND,
            "ok",
            drop,
            max_drop,
            f"{change} (max drop {max_drop:.0%})",
            details,
        )
    return HealthFinding(
        LABEL_COVERAGE_TREND,
        status,
        drop,
        max_drop,
        f"{change}: a drop of {drop:.1%} (max {max_drop:.0%}); labels are going missing",
        details,
    )


def check_label_lag(
    day: date,
    labels: Iterable[DayLabels],
    *,
    expected_label_lag_days: float,
    max_ratio: float = 1.0,
    window_days: int = 7,
    min_labelled: int = 50,
) -> HealthFinding:
    """p90 label lag of recent days against ``max_ratio`` x the expected label lag.

    Judges the days from ``window_days`` before the newest mature day up to ``day``: a
    young day's p90 is censored and can only grow, so it is judged too. Days with fewer
    than ``min_labelled`` labels are not judged. Fails when any judged p90 exceeds the
    threshold; ``observed``: the highest p90, in days.

    Example:
        >>> rows = [DayLabels(date(2026, 1, 1), 100, 90, 40 * 24.0)]  # p90 of 40 days
        >>> check_label_lag(date(2026, 1, 31), rows, expected_label_lag_days=30).status
        'fail'
        >>> # Six weeks on, that day is older than the window: nothing left to judge.
        >>> check_label_lag(date(2026, 2, 15), rows, expected_label_lag_days=30).observed is None
        True
    """
    threshold = expected_label_lag_days * max_ratio
    oldest = mature_days(day, expected_label_lag_days) - timedelta(days=window_days - 1)
    rows = sorted(
        (
            r
            for r in labels
            if oldest <= r.day <= day
            and r.label_lag_p90_hours is not None
            and r.labelled >= max(min_labelled, 1)
        ),
        key=lambda r: r.day,
    )
    details = {
        "judged_from": str(oldest),
        "judged_to": str(day),
        "p90_days_by_day": {str(r.day): round(r.label_lag_p90_hours / 24, 3) for r in rows},
    }
    if not rows:
        return HealthFinding(
            LABEL_LAG,
            "ok",
            None,
            threshold,
            f"no day in {oldest}..{day} with >= {min_labelled} labels to judge yet",
            details,
        )
    p90 = {r.day: r.label_lag_p90_hours / 24 for r in rows}
    worst = max(p90.values())
    late = [d for d, v in p90.items() if v > threshold]
    if not late:
        return HealthFinding(
            LABEL_LAG,
            "ok",
            worst,
            threshold,
            f"p90 label lag <= {worst:.1f} days on {len(rows)} day(s) (max {threshold:g})",
            details,
        )
    return HealthFinding(
        LABEL_LAG,
        "fail",
        worst,
        threshold,
        f"p90 label lag above the expected {threshold:g} days on {len(late)} day(s): "
        + _named(late, lambda d: f"{d} {p90[d]:.1f} d")
        + ": labels arrive later than expected_label_lag_days (fix the feed or the setting)",
        details | {"late_days": [str(d) for d in late]},
    )


# --------------------------------------------------------------------------------------
# Label arrival (young days against earlier days at the same age)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YoungDayLabels:
    """A recent day's labels at the label cutoff, and what earlier days had at its age.

    ``labelled``: label rows known at the cutoff for the day's predictions;
    ``expected_share``: the share of predictions labelled at the same age (hours after
    their day ended) on the reference days, their median; None without a reference.
    """

    day: date
    predictions: int
    labelled: int
    expected_share: float | None
    age_hours: float

    @property
    def expected(self) -> float | None:
        return None if self.expected_share is None else self.predictions * self.expected_share


def check_label_arrival(
    day: date,
    young: Iterable[YoungDayLabels],
    *,
    max_drop: float = 0.5,
    alpha: float = 0.001,
    min_expected: float = 20.0,
) -> HealthFinding:
    """Do the youngest days get their labels as fast as the days before them did?

    ``label_coverage`` waits until a day is mature (the expected label lag, often weeks);
    a feed that stops is visible much sooner as young days falling behind the usual
    arrival curve. A young day is *behind* when its labelled share is below
    ``(1 - max_drop)`` x the share the reference days had at the same age AND the
    one-sided binomial test of its count against that share gives p < ``alpha`` (so a
    small day's noise is not a finding). Days expecting fewer than ``min_expected``
    labels are not judged (the first hours of a day, where nothing has arrived yet).
    Fails when any judged day is behind. ``observed``: the lowest labelled / expected.

    Example:
        >>> young = [YoungDayLabels(date(2026, 1, 9), 1000, 0, 0.1, 24.0)]
        >>> check_label_arrival(date(2026, 1, 10), young).status
        'fail'
        >>> young = [YoungDayLabels(date(2026, 1, 9), 1000, 90, 0.1, 24.0)]
        >>> check_label_arrival(date(2026, 1, 10), young).status
        'ok'
    """
    rows = sorted(young, key=lambda r: r.day)
    judged = [r for r in rows if r.expected is not None and r.expected >= min_expected]
    details = {
        "days": {
            str(r.day): {
                "predictions": r.predictions,
                "labelled": r.labelled,
                "expected_share": None if r.expected_share is None else round(r.expected_share, 4),
                "age_hours": round(r.age_hours, 1),
            }
            for r in rows
        },
        "min_expected": min_expected,
        "alpha": alpha,
    }
    threshold = 1 - max_drop
    if not judged:
        return HealthFinding(
            LABEL_ARRIVAL,
            "ok",
            None,
            threshold,
            f"no recent day expects >= {min_expected:g} labels yet at its age (or no "
            "reference days to compare with)",
            details,
        )
    ratios = {r.day: r.labelled / r.expected for r in judged}  # type: ignore[operator]
    behind = [
        r
        for r in judged
        if ratios[r.day] < threshold
        and stats.binom.cdf(r.labelled, r.predictions, r.expected_share) < alpha
    ]
    lowest = min(ratios.values())
    if not behind:
        return HealthFinding(
            LABEL_ARRIVAL,
            "ok",
            lowest,
            threshold,
            f"labels of {len(judged)} recent day(s) arrive at >= {lowest:.0%} of the usual "
            f"pace for their age (min {threshold:.0%})",
            details,
        )

    def describe(d: date) -> str:
        r = next(r for r in behind if r.day == d)
        return f"{d} {r.labelled} of {r.expected:.0f} expected at {r.age_hours / 24:.1f} days"

    return HealthFinding(
        LABEL_ARRIVAL,
        "fail",
        lowest,
        threshold,
        f"labels are not arriving: {len(behind)} recent day(s) far behind earlier days at "
        f"the same age: " + _named([r.day for r in behind], describe) + ": check the label feed",
        details | {"behind_days": [str(r.day) for r in behind]},
    )


# --------------------------------------------------------------------------------------
# Data quality of the day itself
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayQuality:
    """The day's row accounting and its failed non-blocking quality checks, one line each
    (a failed blocking check stops the day's metrics and shows in ``overdue_partitions``)."""

    rows_read: int
    rows_quarantined: int
    failed_checks: tuple[str, ...] = ()

    @property
    def quarantined_share(self) -> float | None:
        return self.rows_quarantined / self.rows_read if self.rows_read else None


def check_data_quality(
    day: date, quality: DayQuality | None, *, max_quarantined_share: float
) -> HealthFinding:
    """The day's quarantined share and non-blocking checks.

    Each quality expectation has its own tolerance, so a day whose malformed rows are
    spread over several defects can quarantine far more than ``max_quarantined_share`` (the
    config's ``quality.max_malformed_share``) while every expectation passes: the day's
    metrics go on, on fewer rows, and someone should look. Fails when the quarantined
    share exceeds it, or when a non-blocking check failed. ``observed``: the share.

    Example:
        >>> check_data_quality(date(2026, 1, 1), DayQuality(1000, 100), max_quarantined_share=0.03).status
        'fail'
        >>> check_data_quality(date(2026, 1, 1), DayQuality(1000, 10), max_quarantined_share=0.03).status
        'ok'
    """
    if quality is None:
        return HealthFinding(
            DATA_QUALITY, "ok", None, max_quarantined_share, f"no rows accounted for {day}"
        )
    share = quality.quarantined_share
    details = {
        "rows_read": quality.rows_read,
        "rows_quarantined": quality.rows_quarantined,
        "failed_checks": list(quality.failed_checks),
    }
    problems = []
    if share is not None and share > max_quarantined_share:
        problems.append(
            f"{quality.rows_quarantined} of {quality.rows_read} rows ({share:.1%}) quarantined "
            f"(max {max_quarantined_share:.1%})"
        )
    problems.extend(quality.failed_checks)
    if not problems:
        shown = "no rows read" if share is None else f"{share:.1%} of rows quarantined"
        return HealthFinding(
            DATA_QUALITY,
            "ok",
            share,
            max_quarantined_share,
            f"{shown} (max {max_quarantined_share:.1%}), every non-blocking check passed",
            details,
        )
    return HealthFinding(
        DATA_QUALITY,
        "fail",
        share,
        max_quarantined_share,
        f"{day}: " + "; ".join(problems) + ": see monitoring.quarantined_rows and quality_results",
        details,
    )
