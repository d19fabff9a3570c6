"""Print what the pipeline found, straight from the published tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.storage import summary_queries as queries


def print_summary(
    engine: Engine, config: MonitoringConfig, runs: Sequence, *, start: date, end: date
) -> None:
    print("\nWhat the pipeline found (monitoring.* tables):")
    ingestion = queries.ingestion_totals(engine, start, end)
    coverage = queries.label_coverage(engine, start, end)
    reasons = queries.quarantine_reasons(engine, start, end)
    failures = queries.quality_failures(engine, start, end)
    gaps = queries.persistent_rate_gaps(engine, start, end)
    budgets = queries.budgets_at_end(engine, start, end)
    health = queries.health_on(engine, end)
    total_days = (end - start).days + 1
    for model in config.models:
        print(f"\n  {model}")
        if model not in ingestion.index:
            print("    no partition written")
            continue
        row = ingestion.loc[model]
        print(
            f"    {int(row.days)}/{total_days} days written: {int(row.read):,} predictions read, "
            f"{int(row.written):,} kept, {int(row.quarantined):,} quarantined "
            f"(+{int(row.labels_quarantined):,} label rows)"
        )
        if row.without_time == row.without_time and row.without_time > 0:
            print(
                f"      + {int(row.without_time)} source table row(s) without scored_at: no day can claim them"
            )
        for r in reasons[reasons.model_name == model].head(6).itertuples():
            print(f"      quarantined {r.source}: {r.reason} x{r.n}")
        mine = coverage[coverage.model_name == model]
        if not mine.empty:
            weekly = mine.assign(week=[(d - start).days // 7 for d in mine.partition_date]).groupby(
                "week"
            )
            figures = " | ".join(f"week {w + 1}: {g.coverage.mean():.0%}" for w, g in weekly)
            print(f"    label coverage: {figures} | last day: {mine.coverage.iloc[-1]:.0%}")
        failed = failures[failures.model_name == model]
        if failed.empty:
            print("    data quality: every expectation held")
        for f in failed.itertuples():
            where = f.column_name or "table"
            share = (
                f" (worst {f.worst_share:.1%} unexpected)" if f.worst_share == f.worst_share else ""
            )
            print(
                f"    check {f.check_name} failed on {f.days} day(s) {f.first_day}..{f.last_day}: "
                f"{f.expectation}({where}){share}"
            )
        mine_gaps = gaps[gaps.model_name == model].head(5)
        if mine_gaps.empty:
            print("    fairness: no TPR/FPR gap clearly beyond zero on 3+ days")
        for g in mine_gaps.itertuples():
            print(
                f"    fairness: {g.metric} of {g.cohort_attribute}={g.cohort_value} vs {g.reference_value} "
                f"clearly {'below' if g.mean_value < 0 else 'above'} 0 on {g.days} day(s) "
                f"{g.first_day}..{g.last_day} (mean {g.mean_value:+.2f}; 95% intervals exclude 0)"
            )
        for b in budgets[budgets.model_name == model].itertuples():
            paged = f"; first paged {b.first_page}" if pd.notna(b.first_page) else ""
            print(
                f"    SLO {b.slo_name}: {b.status} on {end} ({b.bad_days} bad of {b.known_days} known days, "
                f"{b.remaining_days:+.1f} budget days left, 7-day burn {b.burn_rate_long:.1f}x{paged})"
            )
        mine_health = health[health.model_name == model]
        problems = mine_health[mine_health.status != "ok"]
        if not mine_health.empty and problems.empty:
            print(f"    pipeline health on {end}: all {len(mine_health)} checks ok")
        for h in problems.itertuples():
            raises = f", raises a {h.severity}" if h.status == "fail" else ""
            print(f"    pipeline health {h.check_name}: {h.status}{raises}: {h.message}")
    blocked = [run for run in runs if run.not_run]
    if blocked:
        print("\n  Days whose downstream assets a blocking check stopped:")
        for run in blocked:
            print(
                f"    {run.partition_key}: not run {', '.join(run.not_run)} ({', '.join(run.failed_checks)})"
            )


def alert_lines(engine: Engine, *, start: date, end: date) -> list[str]:
    """One line per alert about ``start..end``: severity, kind, subject, delivery status
    (with the last failed attempt's error) and the worst cohort with its interval."""
    alerts = queries.alerts_between(engine, start, end)
    if alerts.empty:
        return ["  no alerts"]
    errors = queries.last_delivery_attempts(engine)
    lines = []
    for a in alerts.itertuples(index=False):
        label = a.severity.upper() if a.kind == "firing" else f"RESOLVED {a.severity}"
        delivery = a.delivery_status
        if a.delivery_status == "failed":
            failed = errors[
                (errors.dedupe_key == a.dedupe_key)
                & (errors.kind == a.kind)
                & (errors.outcome != "delivered")
            ]
            delivery += "".join(
                f" ({f.destination}: {f.attempt} attempt(s), last: {f.error})"
                for f in failed.itertuples(index=False)
            )
        worst = (a.worst_cohorts or [None])[0] if isinstance(a.worst_cohorts, list) else None
        cohort = (
            f"; worst {worst['cohort']} {_fmt(worst.get('value'), '.3f')} "
            f"[{_fmt(worst.get('lower'), '.3f')}, {_fmt(worst.get('upper'), '.3f')}]"
            if worst
            else ""
        )
        retrain = "; retraining requested" if a.retraining_requested else ""
        lines.append(
            f"  [{label}] {a.model_name}/{a.subject} as of {a.as_of}: {delivery}{cohort}{retrain}"
        )
    return lines


def print_alert_summary(engine: Engine, *, start: date, end: date) -> None:
    print("\nAlerts (monitoring.alerts; sent by alert_job runs of error_budget_sensor):")
    for line in alert_lines(engine, start=start, end=end):
        print(line)


def print_retraining_summary(
    engine: Engine, config: MonitoringConfig, outcomes: Sequence, *, end: date
) -> None:
    """The retraining requests, the fitted versions and the canary comparison."""
    from monitoring_pipeline.demo.retraining import canary_window_comparison

    requests = queries.retraining_requests_with_versions(engine)
    if requests.empty and not outcomes:
        return
    print("\nRetraining (monitoring.retraining_requests, model_versions, version_comparison):")
    for r in requests.itertuples():
        evidence = r.evidence or {}
        budget = evidence.get("budget") or {}
        worst = (evidence.get("worst_cohorts") or [{}])[0]
        print(
            f"\n  request {r.request_id}: {r.model_name}/{r.slo_name} as of {r.as_of} -> {r.status}"
            + (f", new version {r.result_version}" if r.result_version else "")
            + (f" ({r.status_reason})" if r.status != "completed" and r.status_reason else "")
        )
        print(f"    for alert {r.alert_dedupe_key}")
        if budget:
            print(
                f"    evidence: budget {budget.get('status')}, {budget.get('bad_days')} bad of "
                f"{budget.get('known_days')} known days, 7-day burn "
                f"{_fmt(budget.get('burn_rate_long'), '.1f')}x; worst on "
                f"{evidence.get('worst_cohorts_on')}: {worst.get('cohort_attribute')}="
                f"{worst.get('cohort_value')} {worst.get('metric')} {_fmt(worst.get('value'))} "
                f"[{_fmt(worst.get('lower'), '.3f')}, {_fmt(worst.get('upper'), '.3f')}]"
            )
        if pd.notna(r.training_rows):
            print(
                f"    fitted on {int(r.training_rows):,} labelled rows of {r.training_start}..{r.training_end}"
                + (f", groups of {r.reweighted_by} weighted equally" if r.reweighted_by else "")
                + f"; holdout log loss {r.holdout_log_loss:.4f} vs {r.incumbent_version} "
                f"{r.incumbent_holdout_log_loss:.4f}"
            )
    for outcome in outcomes:
        if outcome.rollout is None:
            continue
        rollout = outcome.rollout
        canary = [
            rollout.canary_from + pd.Timedelta(days=i).to_pytimedelta()
            for i in range(((rollout.full_from or end) - rollout.canary_from).days)
        ]
        canary = [d for d in canary if d <= end]
        served = queries.versions_served_after(engine, outcome.model_name, outcome.as_of)
        print(f"\n  {outcome.model_name} after the request:")
        for s in served.itertuples():
            print(f"    {s.model_version} served {s.first_day}..{s.last_day}")
        if not canary:
            continue
        days = queries.version_comparison_size(engine, outcome.model_name)
        print(
            f"    version_comparison: {int(days.days)} canary day(s), {int(days.rows)} rows; "
            f"pooled over {canary[0]}..{canary[-1]} ({rollout.canary_share:.0%} canary), "
            f"{rollout.version} - incumbent:"
        )
        pooled = canary_window_comparison(engine, config, outcome.model_name, canary)
        attribute = outcome.rollout and _slo_attribute(config, outcome.model_name, outcome.slo_name)
        shown = pooled[
            pooled.metric.isin(["tpr", "fpr", "accuracy"])
            & (
                (pooled.cohort_attribute == "all")
                | (pooled.cohort_attribute == (attribute or "all"))
            )
        ]
        for c in shown.itertuples():
            figure = (
                f"{c.difference:+.3f} [{c.lower:+.3f}, {c.upper:+.3f}]"
                if pd.notna(c.difference)
                else "undefined"
            )
            cohort = f"{c.cohort_attribute}={c.cohort_value}"
            print(
                f"      {cohort:<13} {c.metric:<8} "
                f"{c.incumbent_value:.3f} -> {c.candidate_value:.3f}  {figure}  {c.verdict}"
            )


def _slo_attribute(config: MonitoringConfig, model_name: str, slo_name: str) -> str | None:
    from monitoring_pipeline.demo.retrainer import slo_attribute

    return slo_attribute(config, model_name, slo_name)


def _fmt(value, spec: str = "+.3f") -> str:
    return "n/a" if value is None else format(value, spec)
