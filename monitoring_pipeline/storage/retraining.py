"""Retraining requests and fitted model versions in Postgres (SQLAlchemy Core, bound values).

A request moves requested -> triggered -> completed | failed (or is recorded suppressed
during a cooldown). Every transition is one UPDATE guarded by the statuses it may leave,
so a retrainer that completes a request while its action still runs is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from monitoring_pipeline.storage.reads import read_frame

SCHEMA = "monitoring"
_metadata = sa.MetaData(schema=SCHEMA)

retraining_requests = sa.Table(
    "retraining_requests",
    _metadata,
    sa.Column("request_id", sa.BigInteger, primary_key=True),
    sa.Column("model_name", sa.Text),
    sa.Column("slo_name", sa.Text),
    sa.Column("as_of", sa.Date),
    sa.Column("alert_dedupe_key", sa.Text),
    sa.Column("evidence", JSONB),
    sa.Column("training_start", sa.Date),
    sa.Column("training_end", sa.Date),
    sa.Column("status", sa.Text),
    sa.Column("status_reason", sa.Text),
    sa.Column("action_kind", sa.Text),
    sa.Column("action_target", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("exit_code", sa.Integer),
    sa.Column("http_status", sa.Integer),
    sa.Column("output_tail", sa.Text),
    sa.Column("requested_at", sa.DateTime(timezone=True)),
    sa.Column("triggered_at", sa.DateTime(timezone=True)),
    sa.Column("action_finished_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("result_version", sa.Text),
    sa.Column("result_message", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Column("produced_at", sa.DateTime(timezone=True)),
)

model_versions = sa.Table(
    "model_versions",
    _metadata,
    sa.Column("model_name", sa.Text, primary_key=True),
    sa.Column("model_version", sa.Text, primary_key=True),
    sa.Column("request_id", sa.BigInteger),
    sa.Column("incumbent_version", sa.Text),
    sa.Column("algorithm", sa.Text),
    sa.Column("parameters", JSONB),
    sa.Column("training_start", sa.Date),
    sa.Column("training_end", sa.Date),
    sa.Column("training_rows", sa.BigInteger),
    sa.Column("training_positives", sa.BigInteger),
    sa.Column("reweighted_by", sa.Text),
    sa.Column("holdout_rows", sa.BigInteger),
    sa.Column("holdout_log_loss", sa.Float),
    sa.Column("incumbent_holdout_log_loss", sa.Float),
    sa.Column("fitted_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.Text),
    sa.Column("produced_at", sa.DateTime(timezone=True)),
)

# Statuses from which the action may (re)start: a request recorded by a run that died
# before acting, or one whose action failed (re-executing the run retries it).
ACTIONABLE = ("requested", "failed")
# Statuses a retrainer may complete from (a failed action can be recovered by hand).
COMPLETABLE = ("requested", "triggered", "failed")
# Requests that hold the cooldown: everything that was (or is being) acted on.
HOLDS_COOLDOWN = ("requested", "triggered", "completed")


class RequestNotFoundError(LookupError):
    """No retraining request with that id."""


@dataclass(frozen=True)
class RetrainingRequest:
    """One row of ``monitoring.retraining_requests``."""

    request_id: int
    model_name: str
    slo_name: str
    as_of: date
    alert_dedupe_key: str
    evidence: dict[str, Any]
    training_start: date
    training_end: date
    status: str
    status_reason: str | None
    attempts: int
    exit_code: int | None
    http_status: int | None
    result_version: str | None


def _request(row: sa.Row) -> RetrainingRequest:
    m = row._mapping
    return RetrainingRequest(
        **{name: m[name] for name in RetrainingRequest.__dataclass_fields__},
    )


def record_request(
    engine: Engine,
    *,
    model_name: str,
    slo_name: str,
    as_of: date,
    alert_dedupe_key: str,
    evidence: dict[str, Any],
    training_start: date,
    training_end: date,
    status: str,
    status_reason: str | None,
    run_id: str,
    now: datetime,
) -> tuple[RetrainingRequest, bool]:
    """Insert the request unless its ``alert_dedupe_key`` is recorded already.

    Returns ``(request, created)``; on a duplicate key the existing row is returned
    unchanged (concurrent runs with one key record one row: the UNIQUE constraint decides).
    """
    statement = (
        pg_insert(retraining_requests)
        .values(
            model_name=model_name,
            slo_name=slo_name,
            as_of=as_of,
            alert_dedupe_key=alert_dedupe_key,
            evidence=evidence,
            training_start=training_start,
            training_end=training_end,
            status=status,
            status_reason=status_reason,
            attempts=0,
            requested_at=now,
            run_id=run_id,
            produced_at=now,
        )
        .on_conflict_do_nothing(index_elements=["alert_dedupe_key"])
        .returning(*retraining_requests.c)
    )
    by_key = sa.select(retraining_requests).where(
        retraining_requests.c.alert_dedupe_key == alert_dedupe_key
    )
    with engine.begin() as conn:
        # Look first: a conflicting INSERT would still consume an id (gaps in request ids).
        existing = conn.execute(by_key).first()
        if existing is not None:
            return _request(existing), False
        row = conn.execute(statement).first()
        if row is not None:
            return _request(row), True
        existing = conn.execute(by_key).one()  # a concurrent run recorded it meanwhile
    return _request(existing), False


def get_request(engine: Engine, request_id: int) -> RetrainingRequest:
    """The request with ``request_id``; RequestNotFoundError when there is none."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(retraining_requests).where(retraining_requests.c.request_id == request_id)
        ).first()
    if row is None:
        raise RequestNotFoundError(f"no retraining request with id {request_id}")
    return _request(row)


def find_cooldown_holder(
    engine: Engine, *, model_name: str, as_of: date, cooldown_days: int
) -> RetrainingRequest | None:
    """The latest request for the model acted on within ``cooldown_days`` of ``as_of``
    (either side, so a backfill of an earlier day is held as well); None when free."""
    if cooldown_days <= 0:
        return None
    c = retraining_requests.c
    low = as_of - timedelta(days=cooldown_days - 1)
    high = as_of + timedelta(days=cooldown_days - 1)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(retraining_requests)
            .where(
                c.model_name == model_name,
                c.status.in_(HOLDS_COOLDOWN),
                c.as_of.between(low, high),
            )
            .order_by(c.as_of.desc(), c.request_id.desc())
            .limit(1)
        ).first()
    return None if row is None else _request(row)


def claim_action(
    engine: Engine,
    request_id: int,
    *,
    kind: str,
    target: str,
    run_id: str,
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Claim the right to run the action: count an attempt and stamp its start.

    One conditional UPDATE, so of two runs acting on one request at the same time only
    one claims it. A claim is possible when the request is actionable and no action is
    running: none started, the last one finished, or it started before ``stale_before``
    (its run died mid-action). The status moves only once the action is accepted.
    """
    c = retraining_requests.c
    with engine.begin() as conn:
        claimed = conn.execute(
            sa.update(retraining_requests)
            .where(
                c.request_id == request_id,
                c.status.in_(ACTIONABLE),
                sa.or_(
                    c.triggered_at.is_(None),
                    c.action_finished_at >= c.triggered_at,
                    c.triggered_at < stale_before,
                ),
            )
            .values(
                attempts=c.attempts + 1,
                action_kind=kind,
                action_target=target,
                triggered_at=now,
                run_id=run_id,
                produced_at=now,
            )
        ).rowcount
    return claimed == 1


def finish_action(
    engine: Engine,
    request_id: int,
    *,
    succeeded: bool,
    reason: str,
    exit_code: int | None,
    http_status: int | None,
    output_tail: str | None,
    attempts: int,
    now: datetime,
) -> RetrainingRequest:
    """Record the action's outcome: triggered on success, failed otherwise. A request the
    retrainer completed meanwhile keeps its status (the outcome is still recorded).
    ``attempts``: tries the action made (webhook retries); claim_action counted one."""
    c = retraining_requests.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(retraining_requests)
            .where(c.request_id == request_id)
            .values(
                attempts=c.attempts + max(0, attempts - 1),
                exit_code=exit_code,
                http_status=http_status,
                output_tail=output_tail,
                action_finished_at=now,
                produced_at=now,
                status=sa.case(
                    (c.status == "completed", c.status),
                    else_="triggered" if succeeded else "failed",
                ),
                status_reason=sa.case((c.status == "completed", c.status_reason), else_=reason),
            )
        )
    return get_request(engine, request_id)


def fail_request(engine: Engine, request_id: int, *, reason: str, now: datetime) -> None:
    """Mark a request failed before any action ran (e.g. no action configured)."""
    c = retraining_requests.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(retraining_requests)
            .where(c.request_id == request_id, c.status.in_(ACTIONABLE))
            .values(status="failed", status_reason=reason, produced_at=now)
        )


def complete_request(
    engine: Engine, request_id: int, *, model_version: str, message: str, now: datetime
) -> RetrainingRequest:
    """The retrainer's report: the request is completed with ``model_version``.

    Raises RequestNotFoundError, or ValueError when the request cannot be completed
    (suppressed, or completed already with another version).
    """
    request = get_request(engine, request_id)
    if request.status == "completed" and request.result_version == model_version:
        return request  # reporting twice is harmless
    if request.status not in COMPLETABLE:
        raise ValueError(
            f"retraining request {request_id} is {request.status}"
            + (f" with version {request.result_version}" if request.result_version else "")
            + ": it cannot be completed"
        )
    c = retraining_requests.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(retraining_requests)
            .where(c.request_id == request_id)
            .values(
                status="completed",
                status_reason="the retrainer reported a new model version",
                result_version=model_version,
                result_message=message,
                completed_at=now,
                produced_at=now,
            )
        )
    return get_request(engine, request_id)


def save_model_version(engine: Engine, row: dict[str, Any]) -> None:
    """Insert or replace one fitted version (re-fitting for the same request replaces it)."""
    statement = pg_insert(model_versions).values(**row)
    update = {k: statement.excluded[k] for k in row if k not in ("model_name", "model_version")}
    with engine.begin() as conn:
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["model_name", "model_version"], set_=update
            )
        )


def load_model_version(engine: Engine, model_name: str, model_version: str) -> dict[str, Any]:
    """The stored row of a fitted version; LookupError when it does not exist."""
    c = model_versions.c
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(model_versions).where(
                c.model_name == model_name, c.model_version == model_version
            )
        ).first()
    if row is None:
        raise LookupError(f"no fitted version {model_version!r} of {model_name}")
    return dict(row._mapping)


def requests_of_firing_alerts(engine: Engine, as_of: date) -> pd.DataFrame:
    """``request_id, model_name, slo_name, status, status_reason, result_version`` of the
    requests made as of ``as_of`` for a firing alert, in request order."""
    return read_frame(
        engine,
        "SELECT r.request_id, r.model_name, r.slo_name, r.status, r.status_reason, "
        "r.result_version FROM monitoring.retraining_requests r "
        "JOIN monitoring.alerts a ON a.dedupe_key = r.alert_dedupe_key AND a.kind = 'firing' "
        "WHERE r.as_of = :day ORDER BY r.request_id",
        {"day": as_of},
    )
