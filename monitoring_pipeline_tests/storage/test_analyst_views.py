"""The analyst views (migration 015), read as monitoring_reader, against independent
computations from the base tables (pandas, and the alert state rebuilt by
alerting.decisions.history_from_records)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipeline.alerting.decisions import AlertRecord, history_from_records
from monitoring_pipeline_tests.storage.analyst_world import (
    DAYS,
    JOBS,
    JOBS_NEWEST_DRIFT,
    LOAN,
    NEWEST,
    read_as_reader,
    world_engine,
)

VIEWS = ["slo_status", "worst_cohorts", "drift_last_7_days", "label_coverage_weekly", "open_alerts"]


@pytest.fixture(scope="module")
def world(pg_admin_url):
    with world_engine(pg_admin_url) as engine:
        yield engine


def base(engine, table: str) -> pd.DataFrame:
    """A base table read as the owner: the independent side of each comparison."""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(f"SELECT * FROM monitoring.{table}"), conn)


def view(engine, name: str) -> pd.DataFrame:
    return read_as_reader(engine, f"SELECT * FROM monitoring.{name}")


def test_every_view_is_documented_and_granted_to_the_reader(world):
    with world.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, obj_description(c.oid, 'pg_class'),"
                " has_table_privilege('monitoring_reader', c.oid, 'SELECT'),"
                " (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0"
                "    AND col_description(c.oid, a.attnum) IS NULL)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'monitoring' AND c.relkind = 'v' AND c.relname = ANY(:views)"
            ),
            {"views": VIEWS},
        ).all()
    assert sorted(r[0] for r in rows) == sorted(VIEWS)
    for name, comment, granted, undocumented in rows:
        assert comment and len(comment) > 80, name
        assert granted, name
        assert undocumented == 0, name
    # Each view answers as the read-only role, whose sessions cannot write.
    for name in VIEWS:
        assert len(view(world, name)) > 0, name


def test_slo_status_is_the_newest_budget_with_its_evidence(world):
    status = view(world, "slo_status")
    budgets = base(world, "error_budgets")
    evaluations = base(world, "slo_evaluations")
    newest = budgets.sort_values("partition_date").groupby(["model_name", "slo_name"]).tail(1)
    expected = newest.merge(
        evaluations[["model_name", "slo_name", "partition_date", "value", "lower", "upper"]].rename(
            columns={"partition_date": "evidence_through"}
        ),
        on=["model_name", "slo_name", "evidence_through"],
        how="left",
    ).set_index(["model_name", "slo_name"])
    got = status.set_index(["model_name", "slo_name"])
    assert sorted(got.index) == sorted(expected.index)
    for key, row in got.iterrows():
        want = expected.loc[key]
        assert row.status == want.status, key  # the sensor's verdict, unchanged
        assert row.as_of == want.partition_date
        assert row.remaining_days == pytest.approx(want.remaining_days)
        assert row.budget_exhausted == (want.remaining_days < 0)
        assert _same(row.burn_rate_short, want.burn_rate_short)
        assert _same(row.burn_rate_long, want.burn_rate_long)
        assert _same(row.worst_value, want.value) and _same(row.worst_lower, want.lower)
        assert _same(row.worst_upper, want.upper)
    # Most severe first.
    order = {"page": 0, "ticket": 1, "ok": 2}
    assert list(status.status.map(order)) == sorted(status.status.map(order))


def test_a_negative_budget_never_reads_ok_without_saying_so(world):
    status = view(world, "slo_status").set_index(["model_name", "slo_name"])
    region = status.loc[(LOAN, "tpr_gap_region")]
    # The stored verdict (what the sensor pages on) is ok: the burn stopped two days ago.
    assert region.status == "ok" and region.remaining_days == pytest.approx(-4.8)
    assert region.budget_exhausted
    assert region.status_reason == (
        "ok although the budget is overspent (-4.8 of 1.2 days left over 28 days): the burn has "
        f"stopped (5.7x over 7 days, 0.0x over 2 days as of {DAYS[11]}), so no ticket or page; "
        "the 6 bad days weigh until they leave the period"
    )
    assert region.evidence_through == DAYS[11] and region.as_of == NEWEST
    assert region.worst_cohort == "region=west vs north"
    assert (region.worst_value, region.worst_lower, region.worst_upper) == (0.24, 0.06, 0.41)
    for _, row in status[status.remaining_days < 0].iterrows():
        assert row.budget_exhausted and "overspent" in row.status_reason
    page = status.loc[(JOBS, "fpr_gap_gender")]
    assert page.status_reason == (
        f"page: burn rate 2.9x over 7 days and 10.0x over 2 days as of {DAYS[12]}; "
        "budget overspent: -0.8 of 1.0 days left"
    )
    no_evidence = status.loc[(LOAN, "income_psi")]
    assert pd.isna(no_evidence.evidence_through) and pd.isna(no_evidence.worst_value)
    assert "no day of the 28-day period has a verdict" in no_evidence.status_reason
    healthy = status.loc[(LOAN, "accuracy_all")]
    assert not healthy.budget_exhausted and healthy.status_reason.startswith("ok: 1.2 of 1.2")


def _same(a, b) -> bool:
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    return a == pytest.approx(b)


def _gap_evidence(metric: str, value: float, lower: float, upper: float) -> float:
    centre = 1.0 if metric == "disparate_impact_ratio" else 0.0
    if lower <= centre <= upper:
        return 0.0
    return min(abs(lower - centre), abs(upper - centre))


def test_worst_cohorts_use_each_cells_latest_sufficient_day_and_rank_by_interval(world):
    worst = view(world, "worst_cohorts")
    disparities = base(world, "fairness_disparities")
    stats = base(world, "cohort_stats")
    cell = ["model_name", "metric", "cohort_attribute", "cohort_value"]
    usable = disparities[disparities.sufficient & disparities.value.notna()]
    latest = usable.groupby(cell).partition_date.max()
    newest = disparities.groupby(cell).partition_date.max()
    # The newest days (10% and 1% labels) are skipped where the cell is too small then.
    assert latest.loc[(LOAN, "tpr_difference", "region", "west")] == DAYS[12]
    assert latest.loc[(LOAN, "tpr_difference", "region", "south")] == DAYS[10]
    assert latest.loc[(LOAN, "disparate_impact_ratio", "region", "south")] == DAYS[11]
    assert (LOAN, "tpr_difference", "region", "east") not in latest.index
    expected_day = latest.combine_first(newest)
    got = worst.set_index(cell)
    assert sorted(got.index) == sorted(expected_day.index)
    assert (got.partition_date == expected_day.loc[got.index]).all()
    model_newest = disparities.groupby("model_name").partition_date.max()
    assert (
        got.days_behind
        == [
            (model_newest[m] - d).days
            for m, d in zip(got.index.get_level_values(0), got.partition_date, strict=True)
        ]
    ).all()
    for (model, metric), mine in worst.groupby(["model_name", "metric"]):
        source = disparities.merge(mine[[*cell, "partition_date"]], on=[*cell, "partition_date"])
        judged = source[source.sufficient].copy()
        judged["evidence"] = [
            _gap_evidence(metric, r.value, r.lower, r.upper) for r in judged.itertuples()
        ]
        judged = judged.sort_values("evidence", ascending=False)
        ranked = mine[mine["rank"].notna()].sort_values("rank")
        assert list(ranked.cohort_value) == list(judged.cohort_value), (model, metric)
        assert np.allclose(ranked.gap_evidence, judged.evidence)
        assert np.allclose(ranked.gap, judged.value)
        for row in mine.itertuples():
            sizes = (
                stats[(stats.model_name == model) & (stats.partition_date == row.partition_date)]
                .set_index("cohort_value")
                .n_labelled
            )
            assert row.n_labelled == sizes[row.cohort_value]
            assert row.reference_n_labelled == sizes[row.reference_value]
    tpr = worst[(worst.model_name == LOAN) & (worst.metric == "tpr_difference")]
    # Ranked by the interval, not the point: south's gap is second largest but straddles 0.
    assert list(tpr.sort_values("rank").cohort_value[:3]) == ["west", "central", "south"]
    east = tpr[tpr.cohort_value == "east"].iloc[0]
    # A small cell is listed, never shown as a value.
    assert not east.sufficient and east.n_labelled < 30 and east.partition_date == NEWEST
    assert pd.isna(east.gap) and pd.isna(east.lower) and pd.isna(east["rank"])
    assert (
        worst.loc[~worst.sufficient, ["gap", "lower", "upper", "gap_evidence"]].isna().all().all()
    )


def test_drift_last_7_days_per_model_flagged_first(world):
    recent = view(world, "drift_last_7_days")
    drift = base(world, "drift")
    newest = drift.groupby("model_name").partition_date.max()
    assert newest[LOAN] == NEWEST and newest[JOBS] == JOBS_NEWEST_DRIFT
    expected = drift[drift.partition_date > drift.model_name.map(newest) - timedelta(days=7)]
    key = ["partition_date", "model_name", "feature", "cohort_attribute", "cohort_value", "method"]
    assert sorted(map(tuple, recent[key].to_numpy())) == sorted(
        map(tuple, expected[key].to_numpy())
    )
    assert set(recent[recent.model_name == JOBS].partition_date) == set(DAYS[3:10])
    # Flagged first: every drifted row precedes every other row.
    flags = recent.drifted.map({True: 0, False: 1}).fillna(2)
    assert list(flags) == sorted(flags) and flags.iloc[0] == 0
    merged = recent.merge(expected, on=key, suffixes=("", "_table"))
    shown = merged[merged.sufficient]
    assert np.allclose(shown.statistic, shown.statistic_table)
    assert merged.loc[~merged.sufficient, "statistic"].isna().all()
    assert merged.loc[~merged.sufficient, "statistic_table"].notna().any()  # really suppressed
    flagged = expected[expected.drifted.fillna(False).astype(bool)]
    days_flagged = flagged.groupby(key[1:]).size()
    for row in recent[recent.drifted.fillna(False).astype(bool)].itertuples():
        assert row.days_flagged == days_flagged[tuple(getattr(row, k) for k in key[1:])]


def test_label_coverage_weekly_sums_days_by_iso_week(world):
    weekly = view(world, "label_coverage_weekly")
    status = base(world, "label_status")
    days = pd.to_datetime(status.partition_date)
    iso = days.dt.isocalendar()
    status = status.assign(iso_week=iso.year.astype(str) + "-W" + iso.week.astype(str).str.zfill(2))
    expected = (
        status.groupby(["model_name", "iso_week"])
        .agg(
            days=("partition_date", "size"),
            predictions=("predictions", "sum"),
            labelled=("labelled", "sum"),
            lowest=("coverage", "min"),
            p90=("label_lag_p90_hours", "max"),
        )
        .reset_index()
    )
    expected["coverage"] = expected.labelled / expected.predictions
    assert sorted(weekly.iso_week.unique()) == ["2026-W44", "2026-W45", "2026-W46"]
    got = weekly.merge(expected, on=["model_name", "iso_week"], suffixes=("", "_expected"))
    assert len(got) == len(weekly) == len(expected)
    for column in ("days", "predictions", "labelled"):
        assert (got[column] == got[f"{column}_expected"]).all(), column
    assert np.allclose(got.coverage, got.coverage_expected)
    assert np.allclose(got.lowest_day_coverage, got.lowest)
    assert np.allclose(got.worst_day_lag_p90_hours, got.p90)
    assert (pd.to_datetime(weekly.week_start).dt.dayofweek == 0).all()  # Mondays


def test_open_alerts_are_the_unresolved_newest_episodes(world):
    open_alerts = view(world, "open_alerts")
    alerts = base(world, "alerts")
    deliveries = base(world, "alert_deliveries")
    expected = {}
    for (source, model, subject), rows in alerts.groupby(["source", "model_name", "subject"]):
        history = history_from_records(
            AlertRecord(r.kind, r.severity, r.episode_start, r.as_of) for r in rows.itertuples()
        )
        if history.open_severity is not None:
            expected[(source, model, subject)] = (history.open_severity, history.open_since)
    got = {
        (r.source, r.model_name, r.subject): (r.severity, r.since) for r in open_alerts.itertuples()
    }
    assert got == expected
    assert ("error_budget", LOAN, "tpr_gap_region") not in got  # resolved
    assert got[("error_budget", JOBS, "fpr_gap_gender")] == ("page", DAYS[11])  # escalated
    assert got[("error_budget", LOAN, "accuracy_all")] == ("ticket", DAYS[12])  # a new episode
    assert list(open_alerts.severity) == sorted(open_alerts.severity)  # page < ticket: pages first
    by_subject = open_alerts.set_index("subject")
    failing = by_subject.loc["fpr_gap_gender"]
    mine = deliveries[deliveries.dedupe_key == failing.dedupe_key].sort_values("attempted_at")
    assert failing.delivery_status == "failed"
    assert failing.last_attempt_outcome == mine.outcome.iloc[-1] == "failed"
    assert failing.last_attempt_destination == "ops_webhook"
    assert failing.last_attempt_error == "HTTP 503"
    pending = by_subject.loc["accuracy_all"]
    assert pending.delivery_status == "pending" and pd.isna(pending.last_attempt_outcome)
