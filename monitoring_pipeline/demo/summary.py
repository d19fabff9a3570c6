"""Print what the pipeline found, straight from the published tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.storage.writes import read_frame


def print_summary(
    engine: Engine, config: MonitoringConfig, runs: Sequence, *, start: date, end: date
) -> None:
    params = {"start": start, "end": end}
    print("\nWhat the pipeline found (monitoring.* tables):")
    ingestion = read_frame(
        engine,
        "SELECT model_name, count(*) AS days, sum(rows_read) AS read, sum(rows_written) AS written, "
        "sum(rows_quarantined) AS quarantined, sum(labels_quarantined) AS labels_quarantined, "
        "max(source_rows_without_time) AS without_time "
        "FROM monitoring.ingestion_stats WHERE partition_date BETWEEN :start AND :end GROUP BY 1 ORDER BY 1",
        params,
    ).set_index("model_name")
    coverage = read_frame(
        engine,
        "SELECT model_name, partition_date, coverage, label_lag_p50_hours FROM monitoring.label_status "
        "WHERE partition_date BETWEEN :start AND :end ORDER BY 1, 2",
        params,
    )
    reasons = read_frame(
        engine,
        "SELECT model_name, source, reason, count(*) AS n FROM monitoring.quarantined_rows "
        "WHERE partition_date BETWEEN :start AND :end GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC",
        params,
    )
    failures = read_frame(
        engine,
        "SELECT model_name, check_name, column_name, expectation, min(partition_date) AS first_day, "
        "max(partition_date) AS last_day, count(*) AS days, max(unexpected_share) AS worst_share "
        "FROM monitoring.quality_results WHERE NOT success AND partition_date BETWEEN :start AND :end "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 5",
        params,
    )
    gaps = read_frame(
        engine,
        "SELECT model_name, cohort_attribute, cohort_value, reference_value, metric, count(*) AS days, "
        "min(partition_date) AS first_day, max(partition_date) AS last_day, avg(value) AS mean_value "
        "FROM monitoring.fairness_disparities WHERE model_version = 'all' AND sufficient "
        "AND metric IN ('tpr_difference', 'fpr_difference') AND (lower > 0 OR upper < 0) "
        "AND position('&' in cohort_attribute) = 0 AND partition_date BETWEEN :start AND :end "
        "GROUP BY 1, 2, 3, 4, 5 HAVING count(*) >= 3 ORDER BY 1, 6 DESC",
        params,
    )
    budgets = read_frame(
        engine,
        "SELECT b.model_name, b.slo_name, b.status, b.bad_days, b.known_days, b.remaining_days, "
        "b.burn_rate_long, (SELECT min(partition_date) FROM monitoring.error_budgets p "
        "  WHERE p.model_name = b.model_name AND p.slo_name = b.slo_name AND p.status = 'page' "
        "  AND p.partition_date BETWEEN :start AND :end) AS first_page "
        "FROM monitoring.error_budgets b WHERE b.partition_date = :end ORDER BY 1, 2",
        params,
    )
    health = read_frame(
        engine,
        "SELECT model_name, check_name, status, severity, message FROM monitoring.health_checks "
        "WHERE partition_date = :end ORDER BY 1, 2",
        params,
    )
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
