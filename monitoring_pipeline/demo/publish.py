"""Put simulated traffic where a real deployment's logs would be, and write its config.

``loan_approval`` goes to Postgres tables (schema ``demo_source``), ``job_screening`` to one
Parquet file per day, so the demo exercises both kinds of source.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.receiver import DEFAULT_PORT as RECEIVER_PORT
from monitoring_pipeline.demo.generator import LATENCY_COLUMN, MODEL_SCHEMAS, DemoTraffic
from monitoring_pipeline.storage.sources import copy_into_source_table

DEMO_SCHEMA = "demo_source"
POSTGRES_MODEL = "loan_approval"
FILES_MODEL = "job_screening"

# The loan demo shows quarantine without blocking: its malformed day (2% of rows) stays
# under this tolerance, while the feature-null burst fails the (non-blocking) null check.
DEMO_MAX_MALFORMED_SHARE = 0.03


def demo_webhook_url(port: int = RECEIVER_PORT) -> str:
    """The demo config's webhook: the local receiver on ``port`` (`demo --webhook-port`)."""
    return f"http://127.0.0.1:{port}/demo-alerts"


# Where the demo delivers alerts by default: `monitoring-pipeline webhook-receiver` listens here.
DEMO_WEBHOOK_URL = demo_webhook_url()
# Alerts link each SLO's runbook; the demo's stand for a team's runbook site.
DEMO_RUNBOOKS_URL = "https://runbooks.example.com/ml"


def demo_runbook(slo_name: str) -> str:
    return f"{DEMO_RUNBOOKS_URL}/{slo_name}"


def write_postgres_table(engine: Engine, table: str, frame: pd.DataFrame) -> None:
    """Replace ``demo_source.<table>`` with ``frame`` (created from its dtypes, then COPY)."""
    copy_into_source_table(engine, DEMO_SCHEMA, table, frame, create=True)


def write_daily_files(frame: pd.DataFrame, time_column: str, directory: Path) -> int:
    """One Parquet file per UTC day of ``time_column``; returns the number of files."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.parquet"):
        stale.unlink()
    # A row whose time is missing (a malformed row) is filed with its neighbours: the
    # generator emits rows day by day, and a real logger would have written it to that file.
    days = frame[time_column].dt.tz_convert("UTC").dt.date.ffill().bfill()
    for day, rows in frame.groupby(days):
        rows.reset_index(drop=True).to_parquet(
            directory / f"{day.isoformat()}.parquet", index=False
        )
    return days.nunique()


def publish_demo_sources(
    engine: Engine, traffic: dict[str, DemoTraffic], data_dir: Path
) -> dict[str, str]:
    """Write each model's traffic to its source; returns model -> where it went."""
    loan, job = traffic[POSTGRES_MODEL], traffic[FILES_MODEL]
    # A file day is the scoring day; rows with no scoring time cannot be filed by day.
    write_postgres_table(engine, "loan_predictions", loan.predictions)
    write_postgres_table(engine, "loan_labels", loan.labels)
    write_postgres_table(engine, "loan_complaints", loan.complaints)
    job_dir = data_dir / FILES_MODEL
    write_daily_files(job.predictions, "scored_at", job_dir / "predictions")
    write_daily_files(job.labels, "labelled_at", job_dir / "labels")
    write_daily_files(job.complaints, "complained_at", job_dir / "complaints")
    return {
        POSTGRES_MODEL: f"tables {DEMO_SCHEMA}.loan_predictions / loan_labels / loan_complaints",
        FILES_MODEL: f"Parquet files under {job_dir}",
    }


def demo_config(
    partitions_start: date, data_dir: Path, *, webhook_port: int = RECEIVER_PORT
) -> dict:
    """The monitored-models file for the demo, as a plain mapping (dumped to YAML); its
    alerts go to the local receiver on ``webhook_port``."""
    loan, job = MODEL_SCHEMAS[POSTGRES_MODEL], MODEL_SCHEMAS[FILES_MODEL]
    job_dir = data_dir / FILES_MODEL
    return {
        "partitions_start": partitions_start.isoformat(),
        "defaults": {"min_cohort_size": 50},
        "alerting": {
            "check_every_seconds": 30,
            "cooldown_days": {"ticket": 7, "page": 3},
            "webhooks": [
                {
                    # Run `monitoring-pipeline webhook-receiver` to watch alerts arrive.
                    "name": "local_receiver",
                    "url": demo_webhook_url(webhook_port),
                    "timeout_seconds": 5,
                    "max_attempts": 3,
                    "backoff_seconds": 1,
                    # A ticket-only or page-only channel lists one; this one takes both.
                    "severities": ["ticket", "page"],
                }
            ],
        },
        "models": {
            POSTGRES_MODEL: {
                "description": f"Loan approval: label 1 = {loan.label_meaning}, decision 1 = {loan.decision_meaning}.",
                "owners": ["team:credit-risk", "ml-steward@example.com"],
                "predictions": {
                    "kind": "postgres_table",
                    "table": f"{DEMO_SCHEMA}.loan_predictions",
                },
                "labels": {"kind": "postgres_table", "table": f"{DEMO_SCHEMA}.loan_labels"},
                "cohorts": {
                    "attributes": {k: list(v) for k, v in loan.cohorts.items()},
                    "intersections": [["sex", "age_band"], ["sex", "region"]],
                    "reference_groups": {"sex": "male"},
                    "min_size": 50,
                },
                "features": {
                    "numeric": list(loan.numeric_features),
                    "categorical": list(loan.categorical_features),
                },
                # The serving model logs each numeric feature's exact attribution.
                "attributions": dict(loan.attributions),
                # ... and how long each prediction took (operational SLIs).
                "columns": {"latency_ms": LATENCY_COLUMN},
                # Applicants' complaints and appeals, counted for 14 days after scoring.
                "complaints": {
                    "source": {
                        "kind": "postgres_table",
                        "table": f"{DEMO_SCHEMA}.loan_complaints",
                    },
                    "window_days": 14,
                },
                "baseline": {"preceding_days": 14, "bins": 10},
                "quality": {
                    "max_malformed_share": DEMO_MAX_MALFORMED_SHARE,
                    "max_feature_null_share": 0.05,
                    "row_count": {
                        "lookback_days": 28,
                        "seasonality": "weekly",
                        "min_ratio": 0.5,
                        "max_ratio": 2.0,
                    },
                },
                "expected_label_lag_days": 30,
                "slos": [
                    {
                        "name": "tpr_gap_region",
                        "runbook_url": demo_runbook("tpr_gap_region"),
                        "description": "Qualified applicants are approved at similar rates in every region.",
                        "sli": {
                            "source": "fairness_disparities",
                            "metric": "tpr_difference",
                            "attribute": "region",
                        },
                        "objective": {"op": "<=", "value": 0.1},
                        "compliance_period_days": 28,
                        "target": 0.9,
                        "retrain_on_page": True,
                    },
                    {
                        "name": "accuracy_all",
                        "runbook_url": demo_runbook("accuracy_all"),
                        "sli": {"source": "cohort_metrics", "metric": "accuracy", "cohort": "all"},
                        "objective": {"op": ">=", "value": 0.7},
                    },
                    {
                        "name": "income_psi",
                        "runbook_url": demo_runbook("income_psi"),
                        "sli": {"source": "drift", "method": "psi", "feature": "income"},
                        "objective": {"op": "<", "value": 0.25},
                    },
                    {
                        "name": "approval_rate_shift",
                        "runbook_url": demo_runbook("approval_rate_shift"),
                        # Each group against its own last 14 days, with no labels needed: a
                        # group whose features degrade or turn into a proxy moves its own
                        # approval rate on the day itself, weeks before its labels show
                        # the harm. A cause to look at, not harm proven: a ticket.
                        "description": "No group's approval rate moves far from its own baseline.",
                        "sli": {
                            "source": "cohort_changes",
                            "metric": "selection_rate",
                            "cohort": "*",
                        },
                        "objective": {"op": "<=", "value": 0.1},
                        "max_severity": "ticket",
                    },
                    {
                        "name": "feature_drift_within_groups",
                        "runbook_url": demo_runbook("feature_drift_within_groups"),
                        # Every numeric feature within every group, by the KS distance: a
                        # feature that turns into a proxy moves apart within groups while
                        # the whole population barely changes. Daily noise of a 100-row
                        # group stays near 0.14; a drift SLO is a ticket at most.
                        "description": "No numeric feature's distribution moves within any group.",
                        "sli": {"source": "drift", "method": "ks", "feature": "*", "cohort": "*"},
                        "objective": {"op": "<=", "value": 0.3},
                    },
                    {
                        "name": "estimated_tpr_gap_region",
                        "runbook_url": demo_runbook("estimated_tpr_gap_region"),
                        # The same gap estimated from the scores (performance_estimates):
                        # answers on the day while the realised gap waits weeks for labels.
                        # An estimate raises a ticket; the realised gap pages.
                        "description": "Qualified applicants look approved at similar rates in every region, judged from the scores before the labels arrive.",
                        "sli": {
                            "source": "estimated_disparities",
                            "metric": "tpr_difference",
                            "attribute": "region",
                        },
                        "objective": {"op": "<=", "value": 0.1},
                        "max_severity": "ticket",
                    },
                    {
                        "name": "latency_p95_region",
                        "runbook_url": demo_runbook("latency_p95_region"),
                        # Every region's 95th percentile serving latency (healthy: ~85 ms):
                        # slow answers for one region are an outage for its applicants.
                        "description": "Every region gets 95% of its answers within 200 ms.",
                        "sli": {
                            "source": "operational_metrics",
                            "metric": "latency_p95",
                            "cohort": "region=*",
                        },
                        "objective": {"op": "<=", "value": 200},
                    },
                    {
                        "name": "complaint_rate_region",
                        "runbook_url": demo_runbook("complaint_rate_region"),
                        # Every region's share of applicants who complain or appeal (healthy:
                        # ~2.3%, and no day's interval above 3.1%). Complaints lag scoring
                        # by days: an open window can already show a breach, never health.
                        "description": "No region's applicants complain or appeal more than 4% of the time.",
                        "sli": {
                            "source": "complaint_metrics",
                            "metric": "complaint_rate",
                            "cohort": "region=*",
                        },
                        "objective": {"op": "<=", "value": 0.04},
                        "max_severity": "ticket",
                    },
                ],
                # The reference retrainer (monitoring_pipeline.demo.retrainer) stands in for
                # a team's training pipeline; the same interpreter runs it.
                "retraining": {
                    "action": {
                        "kind": "command",
                        "command": [
                            sys.executable,
                            "-m",
                            "monitoring_pipeline.cli",
                            "demo-retrain",
                            "--request-id",
                            "{request_id}",
                        ],  # fmt: skip
                        "timeout_seconds": 300,
                    },
                    "training_window_days": 14,
                    "cooldown_days": 7,
                },
            },
            FILES_MODEL: {
                "description": f"Job screening: label 1 = {job.label_meaning}, decision 1 = {job.decision_meaning}.",
                "owners": ["team:talent-ml"],
                "predictions": {
                    "kind": "files",
                    "path": str(job_dir / "predictions" / "{date}.parquet"),
                },
                "labels": {"kind": "files", "path": str(job_dir / "labels" / "{date}.parquet")},
                "complaints": {
                    "source": {
                        "kind": "files",
                        "path": str(job_dir / "complaints" / "{date}.parquet"),
                    },
                },
                "cohorts": {
                    "attributes": {k: list(v) for k, v in job.cohorts.items()},
                    "intersections": [["gender", "age_band"]],
                    "min_size": 30,
                },
                "features": {
                    "numeric": list(job.numeric_features),
                    "categorical": list(job.categorical_features),
                },
                "attributions": dict(job.attributions),
                "columns": {"latency_ms": LATENCY_COLUMN},
                "baseline": {"preceding_days": 14},
                "slos": [
                    {
                        "name": "fpr_gap_gender",
                        "runbook_url": demo_runbook("fpr_gap_gender"),
                        # One named group: the demo's story follows women against men.
                        # (Without `group` it would be a set SLO over every gender, judging
                        # nonbinary, ~4% of traffic and rarely min_size a day, on its interval.)
                        "description": "Women and men are wrongly shortlisted at similar rates.",
                        "sli": {
                            "source": "fairness_disparities",
                            "metric": "fpr_difference",
                            "attribute": "gender",
                            "group": "woman",
                        },
                        "objective": {"op": "<=", "value": 0.1},
                    },
                    {
                        "name": "selection_rate_shift",
                        "runbook_url": demo_runbook("selection_rate_shift"),
                        # Each group against its own last 14 days: it sees a change of the
                        # reference group (men) that every gap against men hides, and needs
                        # no labels, so it answers on the day itself. A cause, not harm
                        # proven: a ticket.
                        "description": "No group's shortlisting rate moves far from its own baseline.",
                        "sli": {
                            "source": "cohort_changes",
                            "metric": "selection_rate",
                            "cohort": "*",
                        },
                        "objective": {"op": "<=", "value": 0.1},
                        "max_severity": "ticket",
                    },
                ],
            },
        },
    }


def write_demo_config(
    path: Path, partitions_start: date, data_dir: Path, *, webhook_port: int = RECEIVER_PORT
) -> None:
    """The demo's config file: :func:`demo_config` with the daily schedule off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `monitoring-pipeline demo`; see README, Configuration reference.\n"
    raw = demo_config(partitions_start, data_dir, webhook_port=webhook_port)
    # The demo's days are fixed in simulated time (demo/scenario.py): a daily schedule would
    # run today's (empty) days on its sources and judge its health rows missing by the wall
    # clock, so the story would change with the date. Days are materialized by the demo.
    raw["schedule"] = {"enabled": False}
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False))
