"""A small, demo-like world of published rows for the analyst views and the Grafana panels.

Written straight through the storage functions (no pipeline run): two models over two weeks,
with the shapes the views must handle. The newest days have few labels, so most of their
comparisons are insufficient (the largest group's last longest); an SLO whose budget is overspent reads ok because its burn
stopped; one alert episode is resolved, others are open (one escalated, one pending, one
from a health check); the two models' newest drift days differ.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from monitoring_pipeline.alerting.decisions import Notification
from monitoring_pipeline.alerting.webhook import Attempt
from monitoring_pipeline.storage import alerts as alert_store
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions
from monitoring_pipeline_tests.helpers.databases import create_database_from_template

LOAN, JOBS = "loan_approval", "job_screening"
START = date(2026, 11, 1)  # a Sunday: ISO week 2026-W44 has one day here
DAYS = [START + timedelta(days=i) for i in range(14)]  # through 2026-11-14 (W46)
NEWEST = DAYS[-1]
JOBS_NEWEST_DRIFT = DAYS[9]
MIN_SIZE = 30
# Label coverage by day: most days settled, the last three still waiting for labels.
COVERAGE = [0.9] * 11 + [0.5, 0.1, 0.01]
AUDIT = Audit("world-run", datetime(2026, 11, 15, 6, tzinfo=UTC))


@contextmanager
def reader(engine: sa.Engine):
    """A connection acting as monitoring_reader (inside one transaction, rolled back)."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.text("SET ROLE monitoring_reader"))
        yield conn
        transaction.rollback()


def read_as_reader(engine: sa.Engine, query: str) -> pd.DataFrame:
    with reader(engine) as conn:
        return pd.read_sql_query(sa.text(query), conn)


def build_world(engine: sa.Engine) -> None:
    for model in (LOAN, JOBS):
        for index, day in enumerate(DAYS):
            rows = [
                TableRows("label_status", _label_status(model, index, day)),
                TableRows("cohort_stats", _cohort_stats(model, index, day)),
                TableRows("fairness_disparities", _disparities(model, index, day)),
            ]
            if model == LOAN or day <= JOBS_NEWEST_DRIFT:
                rows.append(TableRows("drift", _drift(model, index, day)))
            replace_partitions(engine, model_name=model, partition_date=day, rows=rows, audit=AUDIT)
    _write_slos(engine)
    _write_alerts(engine)


# ---- labels and cohorts ---------------------------------------------------------------------

PREDICTIONS = 1000
# (attribute, value, share of the day's predictions); north is the reference of region.
# With 10% labels (day 12) only north and west reach MIN_SIZE; east never does.
GROUPS = [
    ("all", "all", 1.0),
    ("region", "north", 0.3),
    ("region", "west", 0.35),
    ("region", "south", 0.2),
    ("region", "central", 0.12),
    ("region", "east", 0.03),
]


def _label_status(model: str, index: int, day: date) -> pd.DataFrame:
    predictions = PREDICTIONS + 10 * index + (0 if model == LOAN else 7)
    labelled = round(predictions * COVERAGE[index])
    return pd.DataFrame(
        {
            "partition_date": [day],
            "model_name": model,
            "predictions": predictions,
            "labelled": labelled,
            "coverage": labelled / predictions,
            "corrected": index % 3,
            "positives": labelled // 3,
            "label_lag_p50_hours": 30.0 + index,
            "label_lag_p90_hours": 70.0 + 2 * index,
            "label_lag_p99_hours": 90.0 + 2 * index,
            "label_lag_max_hours": 100.0 + 3 * index,
        }
    )


def _cohort_stats(model: str, index: int, day: date) -> pd.DataFrame:
    rows = []
    for attribute, value, share in GROUPS:
        n = round(PREDICTIONS * share)
        n_labelled = round(n * COVERAGE[index])
        positives = n_labelled // 2
        rows.append(
            {
                "partition_date": day,
                "model_name": model,
                "model_version": "all",
                "cohort_attribute": attribute,
                "cohort_value": value,
                "n": n,
                "n_labelled": n_labelled,
                "label_pos": positives,
                "pred_pos": n // 2,
                "pred_pos_labelled": n_labelled // 2,
                "tp": positives // 2,
                "fp": n_labelled // 4,
                "tn": n_labelled - positives - n_labelled // 4,
                "fn": positives - positives // 2,
                "brier_sum": 0.2 * n_labelled,
                "bin_n": "{" + ",".join(["0"] * 10) + "}",
                "bin_score_sum": "{" + ",".join(["0"] * 10) + "}",
                "bin_label_sum": "{" + ",".join(["0"] * 10) + "}",
            }
        )
    return pd.DataFrame(rows)


def group_sizes(index: int) -> dict[str, int]:
    """Labelled predictions per region on day ``index`` (as _cohort_stats writes them)."""
    return {
        value: round(round(PREDICTIONS * share) * COVERAGE[index])
        for attribute, value, share in GROUPS
        if attribute == "region"
    }


# Gaps chosen so that ranking by the interval differs from ranking by the point value:
# south has the second largest point gap but an interval straddling 0.
TPR_GAPS = {  # group: (gap, lower, upper)
    "west": (-0.35, -0.50, -0.20),
    "south": (0.25, -0.05, 0.55),
    "central": (0.12, 0.05, 0.19),
    "east": (0.40, 0.10, 0.70),  # east is small: insufficient, never shown as a value
}
RATIOS = {
    "west": (0.62, 0.50, 0.75),
    "south": (1.30, 1.10, 1.50),
    "central": (0.95, 0.80, 1.10),
    "east": (0.50, 0.20, 1.20),
}


def _disparities(model: str, index: int, day: date) -> pd.DataFrame:
    sizes = group_sizes(index)
    rows = []
    # Each model's SLO metric (loan: TPR gap, jobs: FPR gap) and the selection-rate ratio.
    gap_metric = "tpr_difference" if model == LOAN else "fpr_difference"
    for metric, table in ((gap_metric, TPR_GAPS), ("disparate_impact_ratio", RATIOS)):
        for group, (value, lower, upper) in table.items():
            sufficient = sizes[group] >= MIN_SIZE and sizes["north"] >= MIN_SIZE
            if metric == gap_metric and index == 11:
                # Too few actual positives for a TPR on day 11: south's and central's newest
                # sufficient gap is day 10, their selection-rate ratio's day 11.
                sufficient = False
            drift = 0.002 * index  # the figures move a little from day to day
            rows.append(
                {
                    "partition_date": day,
                    "model_name": model,
                    "model_version": "all",
                    "cohort_attribute": "region",
                    "cohort_value": group,
                    "reference_value": "north",
                    "metric": metric,
                    "value": value + drift,
                    "lower": lower + drift,
                    "upper": upper + drift,
                    "sufficient": sufficient,
                    "passes_four_fifths": (value + drift >= 0.8)
                    if metric == "disparate_impact_ratio"
                    else None,
                    "is_worst": group == "west" and sufficient,
                }
            )
    frame = pd.DataFrame(rows)
    frame["passes_four_fifths"] = frame["passes_four_fifths"].astype("boolean")
    return frame


# ---- drift ----------------------------------------------------------------------------------


def _drift(model: str, index: int, day: date) -> pd.DataFrame:
    rows = []
    for feature in ("income", "debt_to_income"):
        for attribute, value, share in GROUPS[:3]:
            for method, threshold, direction, decided_on in (
                ("psi", 0.25, "higher_is_drift", "statistic"),
                ("ks", 0.05, "lower_is_drift", "p_value_adjusted"),
            ):
                n_current = round(PREDICTIONS * share)
                sufficient = n_current >= (500 if method == "psi" else 100)
                # income drifts overall from day 10 on; one test lacks a baseline on day 0.
                shifted = feature == "income" and attribute == "all" and index >= 10
                statistic = (0.4 if shifted else 0.05) if method == "psi" else 0.2
                p_adjusted = (0.001 if shifted else 0.4) if method == "ks" else None
                drifted = statistic >= threshold if method == "psi" else p_adjusted < threshold
                no_baseline = index == 0
                rows.append(
                    {
                        "partition_date": day,
                        "model_name": model,
                        "model_version": "all",
                        "cohort_attribute": attribute,
                        "cohort_value": value,
                        "feature": feature,
                        "feature_kind": "numeric",
                        "method": method,
                        "statistic": None if no_baseline else statistic,
                        "p_value": p_adjusted,
                        "p_value_adjusted": p_adjusted,
                        "threshold": threshold,
                        "direction": direction,
                        "decided_on": decided_on,
                        "drifted": drifted if sufficient and not no_baseline else None,
                        "sufficient": sufficient and not no_baseline,
                        "n_reference": 3 * n_current,
                        "n_current": n_current,
                        "baseline_from": None if no_baseline else day - timedelta(days=3),
                        "baseline_to": None if no_baseline else day - timedelta(days=1),
                        "baseline_days": 0 if no_baseline else 3,
                        "status": "no_baseline" if no_baseline else "ok",
                    }
                )
    frame = pd.DataFrame(rows)
    frame["drifted"] = frame["drifted"].astype("boolean")
    return frame


# ---- SLO evaluations and error budgets ------------------------------------------------------

# (model, slo, source, metric, op, objective, target)
SLOS = [
    (LOAN, "tpr_gap_region", "fairness_disparities", "tpr_difference", "<=", 0.1, 0.9),
    (LOAN, "accuracy_all", "cohort_metrics", "accuracy", ">=", 0.7, 0.9),
    (LOAN, "income_psi", "drift", "psi", "<=", 0.25, 0.9),
    (JOBS, "fpr_gap_gender", "fairness_disparities", "fpr_difference", "<=", 0.1, 0.9),
]


def _budget(status: str, remaining: float, evidence_through: date | None, **figures) -> dict:
    known = figures.get("known_days", 10)
    budget = 0.1 * known
    return {
        "target": 0.9,
        "period_days": 28,
        "known_days": known,
        "good_days": known - figures.get("bad_days", 0),
        "bad_days": figures.get("bad_days", 0),
        "unknown_days": 28 - known,
        "budget_days": budget,
        "consumed_days": figures.get("bad_days", 0),
        "remaining_days": remaining,
        "remaining_fraction": remaining / budget if budget else None,
        "burn_rate_short": figures.get("short"),
        "burn_rate_long": figures.get("long"),
        "short_window_days": 2,
        "long_window_days": 7,
        "status": status,
        "evidence_through": evidence_through,
    }


# The stories of each SLO's error_budgets rows: (day, budget row).
BUDGET_HISTORY = {
    # Overspent by six bad days, but the last two days with evidence were good: the burn
    # stopped, so the multi-window verdict (and the sensor) say ok.
    (LOAN, "tpr_gap_region"): [
        (DAYS[9], _budget("page", -4.0, DAYS[9], bad_days=5, short=10.0, long=7.1)),
        (DAYS[12], _budget("ok", -4.8, DAYS[11], bad_days=6, known_days=12, short=0.0, long=5.7)),
        (NEWEST, _budget("ok", -4.8, DAYS[11], bad_days=6, known_days=12, short=0.0, long=5.7)),
    ],
    (LOAN, "accuracy_all"): [
        (NEWEST, _budget("ok", 1.2, DAYS[11], known_days=12, short=0.0, long=0.0)),
    ],
    # No day of the period has a verdict: budget 0, burn rates NULL.
    (LOAN, "income_psi"): [
        (NEWEST, _budget("ok", 0.0, None, known_days=0)),
    ],
    (JOBS, "fpr_gap_gender"): [
        (DAYS[11], _budget("ticket", 0.1, DAYS[11], bad_days=1, short=5.0, long=1.4)),
        (NEWEST, _budget("page", -0.8, DAYS[12], bad_days=2, short=10.0, long=2.9)),
    ],
}

# The SLI reading of the evidence days: (model, slo, day) -> (subject, value, lower, upper,
# sufficient, status).
EVALUATIONS = {
    (LOAN, "tpr_gap_region", DAYS[9]): ("region=west vs north", 0.44, 0.29, 0.59, True, "bad"),
    (LOAN, "tpr_gap_region", DAYS[11]): ("region=west vs north", 0.24, 0.06, 0.41, True, "good"),
    (LOAN, "accuracy_all", DAYS[11]): ("all", 0.81, 0.78, 0.84, True, "good"),
    (JOBS, "fpr_gap_gender", DAYS[11]): ("region=south vs north", 0.3, 0.12, 0.48, True, "bad"),
    (JOBS, "fpr_gap_gender", DAYS[12]): ("region=south vs north", 0.36, 0.10, 0.56, True, "bad"),
}


def _write_slos(engine: sa.Engine) -> None:
    for model in (LOAN, JOBS):
        slos = [s for s in SLOS if s[0] == model]
        for day in DAYS:
            evaluations, budgets = [], []
            for _, slo, source, metric, op, objective, _target in slos:
                reading = EVALUATIONS.get(
                    (model, slo, day), ("-", None, None, None, False, "unknown")
                )
                subject, value, lower, upper, sufficient, status = reading
                evaluations.append(
                    {
                        "slo_name": slo,
                        "sli_source": source,
                        "sli_metric": metric,
                        "sli_subject": subject,
                        "value": value,
                        "lower": lower,
                        "upper": upper,
                        "objective_op": op,
                        "objective_value": objective,
                        "sufficient": sufficient,
                        "status": status,
                        "reason": "figure published" if sufficient else "too few labels",
                    }
                )
                for budget_day, budget in BUDGET_HISTORY[(model, slo)]:
                    if budget_day == day:
                        budgets.append(budget | {"slo_name": slo, "retrain_on_page": True})
            key = {"partition_date": day, "model_name": model}
            rows = [TableRows("slo_evaluations", pd.DataFrame(evaluations).assign(**key))]
            if budgets:
                rows.append(TableRows("error_budgets", pd.DataFrame(budgets).assign(**key)))
            replace_partitions(engine, model_name=model, partition_date=day, rows=rows, audit=AUDIT)


# ---- alerts ---------------------------------------------------------------------------------


def _notice(kind, severity, source, model, subject, start, as_of, reason) -> Notification:
    return Notification(
        kind=kind,
        severity=severity,
        source=source,
        model_name=model,
        subject=subject,
        episode_start=start,
        as_of=as_of,
        reason=reason,
        request_retraining=False,
        evidence={},
    )


def _at(day: date, hour: int = 7) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _write_alerts(engine: sa.Engine) -> None:
    budget = "error_budget"
    story = [
        # loan/tpr_gap_region: ticket, escalated to page, resolved: nothing open.
        _notice("firing", "ticket", budget, LOAN, "tpr_gap_region", DAYS[8], DAYS[8], "new"),
        _notice("firing", "page", budget, LOAN, "tpr_gap_region", DAYS[8], DAYS[9], "escalated"),
        _notice("resolved", "page", budget, LOAN, "tpr_gap_region", DAYS[8], DAYS[12], "ok"),
        # loan/accuracy_all: an old resolved episode, then a new ticket still pending.
        _notice("firing", "ticket", budget, LOAN, "accuracy_all", DAYS[2], DAYS[2], "new"),
        _notice("resolved", "ticket", budget, LOAN, "accuracy_all", DAYS[2], DAYS[4], "ok"),
        _notice("firing", "ticket", budget, LOAN, "accuracy_all", DAYS[12], DAYS[12], "new"),
        # jobs/fpr_gap_gender: ticket then page, open; the page's webhook failed.
        _notice("firing", "ticket", budget, JOBS, "fpr_gap_gender", DAYS[11], DAYS[11], "new"),
        _notice("firing", "page", budget, JOBS, "fpr_gap_gender", DAYS[11], DAYS[13], "escalated"),
        # A pipeline-health page, open.
        _notice("firing", "page", "health_check", LOAN, "label_coverage", DAYS[13], DAYS[13], "new"),
    ]  # fmt: skip
    for notice in story:
        alert_store.record_decisions(engine, [notice], _at(notice.as_of))
    for notice in story:
        if notice.subject == "accuracy_all" and notice.episode_start == DAYS[12]:
            continue  # still pending: no attempt yet
        failing = notice.subject == "fpr_gap_gender" and notice.severity == "page"
        attempts = [("log", 1, "delivered", None)]
        if failing:
            attempts += [("ops_webhook", 1, "retry", "HTTP 503"), ("ops_webhook", 2, "failed", "HTTP 503")]  # fmt: skip
        for minute, (destination, number, outcome, error) in enumerate(attempts):
            attempt = Attempt(
                attempt=number,
                attempted_at=_at(notice.as_of).replace(minute=minute + 1),
                outcome=outcome,
                http_status=None if destination == "log" else 503,
                error=error,
                elapsed_ms=5.0,
            )
            alert_store.record_attempt(
                engine, notice.dedupe_key, notice.kind, destination, attempt, run_id="alert-run"
            )
        alert_store.set_delivery_status(
            engine,
            notice.dedupe_key,
            notice.kind,
            "failed" if failing else "delivered",
            None if failing else _at(notice.as_of).replace(minute=5),
        )


_databases = itertools.count()


@contextmanager
def world_engine(admin_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh migrated database holding the world (dropped with the session)."""
    name = f"views_{os.getpid()}_{next(_databases)}"
    create_database_from_template(admin_url, name)
    engine = create_engine(with_database(admin_url, name))
    try:
        build_world(engine)
        yield engine
    finally:
        engine.dispose()
