"""The alert tables (``monitoring.alerts``, ``monitoring.alert_deliveries``) and the reads
the alert sensor needs (error budgets, health checks). SQLAlchemy Core with bound parameters; no Dagster.

The alerts table is the durable alert state: a notification is inserted when it is
decided (``ON CONFLICT DO NOTHING`` on its dedupe key and kind, so deciding twice records
it once), and the state of any subject is rebuilt from its rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Engine

from monitoring_pipeline.alerting.decisions import AlertRecord, Notification
from monitoring_pipeline.alerting.webhook import Attempt

SCHEMA = "monitoring"
_metadata = sa.MetaData(schema=SCHEMA)

ALERTS = sa.Table(
    "alerts",
    _metadata,
    sa.Column("dedupe_key", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("source", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("episode_start", sa.Date),
    sa.Column("as_of", sa.Date),
    sa.Column("reason", sa.Text),
    sa.Column("retraining_requested", sa.Boolean),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("delivery_status", sa.Text),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("summary", sa.Text),
    sa.Column("evidence", pg.JSONB),
    sa.Column("affected_partitions", pg.ARRAY(sa.Date)),
    sa.Column("worst_cohorts", pg.JSONB),
    sa.Column("report_url", sa.Text),
    sa.Column("dagster_url", sa.Text),
    sa.Column("runbook_url", sa.Text),
    sa.Column("owners", pg.ARRAY(sa.Text)),
    sa.Column("run_id", sa.Text),
    sa.Column("produced_at", sa.DateTime(timezone=True)),
)

DELIVERIES = sa.Table(
    "alert_deliveries",
    _metadata,
    sa.Column("dedupe_key", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("attempted_at", sa.DateTime(timezone=True)),
    sa.Column("outcome", sa.Text),
    sa.Column("http_status", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("elapsed_ms", sa.Float),
    sa.Column("run_id", sa.Text),
    sa.Column("produced_at", sa.DateTime(timezone=True)),
)

BUDGETS = sa.table(
    "error_budgets",
    sa.column("partition_date", sa.Date),
    sa.column("model_name", sa.Text),
    sa.column("slo_name", sa.Text),
    sa.column("status", sa.Text),
    sa.column("evidence_through", sa.Date),
    sa.column("retrain_on_page", sa.Boolean),
    sa.column("produced_at", sa.DateTime(timezone=True)),
    schema=SCHEMA,
)

HEALTH = sa.table(
    "health_checks",
    sa.column("partition_date", sa.Date),
    sa.column("model_name", sa.Text),
    sa.column("check_name", sa.Text),
    sa.column("status", sa.Text),
    sa.column("severity", sa.Text),
    sa.column("produced_at", sa.DateTime(timezone=True)),
    schema=SCHEMA,
)


@dataclass(frozen=True)
class SubjectChanges:
    """(model, subject) pairs with rows produced after a time, and the newest time."""

    subjects: frozenset[tuple[str, str]]
    newest_produced_at: datetime | None


BudgetChanges = SubjectChanges  # (model, SLO) pairs of error_budgets


def budget_changes_since(engine: Engine, since: datetime | None) -> BudgetChanges:
    """Which (model, SLO) pairs got error_budgets rows with ``produced_at > since``."""
    return _changes_since(engine, BUDGETS, BUDGETS.c.slo_name, since)


def health_changes_since(engine: Engine, since: datetime | None) -> SubjectChanges:
    """Which (model, check) pairs got health_checks rows with ``produced_at > since``."""
    return _changes_since(engine, HEALTH, HEALTH.c.check_name, since)


def _changes_since(
    engine: Engine, table: sa.Table, subject: sa.Column, since: datetime | None
) -> SubjectChanges:
    query = sa.select(table.c.model_name, subject, sa.func.max(table.c.produced_at)).group_by(
        table.c.model_name, subject
    )
    if since is not None:
        query = query.where(table.c.produced_at > since)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    newest = max((row[2] for row in rows), default=None)
    return SubjectChanges(frozenset((row[0], row[1]) for row in rows), newest)


def current_health_checks(engine: Engine, subjects: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The newest partition's health_checks row of each (model, check): what is current.

    Like budgets, a re-run of an older day (late labels) never changes what is current.
    """
    columns = ["model_name", "check_name", "partition_date", "status", "severity"]
    return _current_rows(engine, HEALTH, columns, subjects)


def newest_health_days(engine: Engine, models: Iterable[str]) -> dict[str, date | None]:
    """The newest health_checks partition_date of each model (None: no rows at all).

    One index lookup per model (the primary key starts with model_name), cheap enough for
    every sensor tick.
    """
    models = sorted(set(models))
    if not models:
        return {}
    model = sa.func.unnest(sa.bindparam("models", models, type_=pg.ARRAY(sa.Text))).column_valued(
        "model"
    )
    newest = (
        sa.select(sa.func.max(HEALTH.c.partition_date))
        .where(HEALTH.c.model_name == model)
        .scalar_subquery()
    )
    with engine.connect() as conn:
        return {name: day for name, day in conn.execute(sa.select(model, newest))}


def current_budgets(engine: Engine, subjects: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The newest partition's error_budgets row of each (model, SLO): what is current.

    A re-run of an older day rewrites that day only, so it never changes what is current.
    """
    columns = ["model_name", "slo_name", "partition_date", "status", "evidence_through"]
    return _current_rows(engine, BUDGETS, [*columns, "retrain_on_page"], subjects)


def _current_rows(
    engine: Engine, table: sa.Table, columns: list[str], subjects: Iterable[tuple[str, str]]
) -> pd.DataFrame:
    """``columns`` of the newest partition_date row of each (model, subject) in ``subjects``;
    ``columns`` starts with model_name and the subject column."""
    subjects = sorted(set(subjects))
    if not subjects:
        return pd.DataFrame(columns=columns)
    model, subject = table.c[columns[0]], table.c[columns[1]]
    query = (
        sa.select(*(table.c[c] for c in columns))
        .where(sa.tuple_(model, subject).in_(subjects))
        .distinct(model, subject)
        .order_by(model, subject, table.c.partition_date.desc())
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=columns)


def alert_records(
    engine: Engine, source: str, subjects: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[AlertRecord]]:
    """Every recorded notification of each (model, subject) of ``source``."""
    subjects = sorted(set(subjects))
    out: dict[tuple[str, str], list[AlertRecord]] = defaultdict(list)
    if not subjects:
        return out
    query = sa.select(
        ALERTS.c.model_name,
        ALERTS.c.subject,
        ALERTS.c.kind,
        ALERTS.c.severity,
        ALERTS.c.episode_start,
        ALERTS.c.as_of,
    ).where(
        ALERTS.c.source == source,
        sa.tuple_(ALERTS.c.model_name, ALERTS.c.subject).in_(subjects),
    )
    with engine.connect() as conn:
        for model, subject, kind, severity, start, as_of in conn.execute(query):
            out[(model, subject)].append(AlertRecord(kind, severity, start, as_of))
    return out


def record_decisions(
    engine: Engine, notifications: Sequence[Notification], decided_at: datetime
) -> list[tuple[str, str]]:
    """Insert decided notifications as pending alerts; returns the (key, kind) newly inserted.

    A notification already recorded (same dedupe key and kind) is left as it is.
    """
    if not notifications:
        return []
    rows = [
        {
            "dedupe_key": n.dedupe_key,
            "kind": n.kind,
            "source": n.source,
            "model_name": n.model_name,
            "subject": n.subject,
            "severity": n.severity,
            "episode_start": n.episode_start,
            "as_of": n.as_of,
            "reason": n.reason,
            "retraining_requested": n.request_retraining,
            "decided_at": decided_at,
            "delivery_status": "pending",
        }
        for n in notifications
    ]
    statement = (
        pg.insert(ALERTS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key", "kind"])
        .returning(ALERTS.c.dedupe_key, ALERTS.c.kind)
    )
    with engine.begin() as conn:
        return [tuple(row) for row in conn.execute(statement)]


def episode_severities(
    engine: Engine, source: str, model_name: str, subject: str, episode_start: date
) -> set[str]:
    """The severities an episode fired at (``ticket``, ``page`` or both after an escalation)."""
    query = (
        sa.select(ALERTS.c.severity)
        .distinct()
        .where(
            ALERTS.c.source == source,
            ALERTS.c.model_name == model_name,
            ALERTS.c.subject == subject,
            ALERTS.c.episode_start == episode_start,
            ALERTS.c.kind == "firing",
        )
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def pending_alerts(engine: Engine, decided_since: datetime) -> list[Mapping[str, Any]]:
    """Alerts still waiting for alert_job, decided at or after ``decided_since``, oldest first."""
    query = (
        sa.select(ALERTS)
        .where(ALERTS.c.delivery_status == "pending", ALERTS.c.decided_at >= decided_since)
        .order_by(ALERTS.c.decided_at, ALERTS.c.dedupe_key, ALERTS.c.kind)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def get_alert(engine: Engine, dedupe_key: str, kind: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(ALERTS).where(ALERTS.c.dedupe_key == dedupe_key, ALERTS.c.kind == kind)
        ).first()
    return dict(row._mapping) if row is not None else None


def save_alert(engine: Engine, values: Mapping[str, Any]) -> None:
    """Insert the alert, or complete the recorded one with the evidence and the run.

    The decision fields of a recorded alert (decided_at, reason, retraining_requested) stay.
    """
    statement = pg.insert(ALERTS).values(**values)
    keep = {
        "dedupe_key",
        "kind",
        "decided_at",
        "reason",
        "retraining_requested",
        "delivery_status",
        "delivered_at",
    }
    statement = statement.on_conflict_do_update(
        index_elements=["dedupe_key", "kind"],
        set_={c: statement.excluded[c] for c in values if c not in keep},
    )
    with engine.begin() as conn:
        conn.execute(statement)


def delivery_state(engine: Engine, dedupe_key: str, kind: str) -> dict[str, tuple[int, bool]]:
    """Per destination already tried: (last attempt number, whether it was delivered)."""
    query = (
        sa.select(
            DELIVERIES.c.destination,
            sa.func.max(DELIVERIES.c.attempt),
            sa.func.bool_or(DELIVERIES.c.outcome == "delivered"),
        )
        .where(DELIVERIES.c.dedupe_key == dedupe_key, DELIVERIES.c.kind == kind)
        .group_by(DELIVERIES.c.destination)
    )
    with engine.connect() as conn:
        return {row[0]: (int(row[1]), bool(row[2])) for row in conn.execute(query)}


def record_attempt(
    engine: Engine,
    dedupe_key: str,
    kind: str,
    destination: str,
    attempt: Attempt,
    *,
    run_id: str,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(DELIVERIES).values(
                dedupe_key=dedupe_key,
                kind=kind,
                destination=destination,
                attempt=attempt.attempt,
                attempted_at=attempt.attempted_at,
                outcome=attempt.outcome,
                http_status=attempt.http_status,
                error=attempt.error,
                elapsed_ms=attempt.elapsed_ms,
                run_id=run_id,
                produced_at=datetime.now(attempt.attempted_at.tzinfo),
            )
        )


def set_delivery_status(
    engine: Engine, dedupe_key: str, kind: str, status: str, delivered_at: datetime | None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(ALERTS)
            .where(ALERTS.c.dedupe_key == dedupe_key, ALERTS.c.kind == kind)
            .values(delivery_status=status, delivered_at=delivered_at)
        )


def as_dates(values: Iterable[Any]) -> list[date]:
    return [v if isinstance(v, date) else date.fromisoformat(str(v)) for v in values]


def decided_alerts(engine: Engine) -> pd.DataFrame:
    """Every recorded notification, in the order decided: what a replay reports."""
    query = sa.select(
        ALERTS.c.dedupe_key,
        ALERTS.c.source,
        ALERTS.c.model_name,
        ALERTS.c.subject,
        ALERTS.c.kind,
        ALERTS.c.severity,
        ALERTS.c.episode_start,
        ALERTS.c.as_of,
        ALERTS.c.decided_at,
        ALERTS.c.reason,
    ).order_by(ALERTS.c.decided_at, ALERTS.c.model_name, ALERTS.c.subject, ALERTS.c.kind)
    with engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
        )
