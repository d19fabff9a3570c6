"""Which notifications a signal calls for, given what was already notified.

A *signal* is one observation of one watched subject: "SLO ``tpr_gap_region`` of
``loan_approval`` is at ``page`` as of 2026-11-20". Error budgets (``error_budget``) and
pipeline-health findings (``health_check``, see ``alerting.health_signals``) are the
sources; each feeds the same record with its own ``source`` name and an evidence pointer,
and gets the same deduplication, escalation, recovery and cooldown rules.

Rules, per (source, model, subject):

* An *episode* starts when the subject leaves ``ok`` and ends when it returns to ``ok``.
  Its first notification fires at its level (``ticket`` or ``page``).
* Escalation (``ticket`` -> ``page``) inside an episode notifies again, at ``page``.
* De-escalation (``page`` -> ``ticket``) notifies nothing: the episode stays at the highest
  level notified until it recovers, so a subject flapping between ticket and page pages once.
* Recovery to ``ok`` sends one ``resolved`` notice for the episode's highest level.
* Cooldown: a firing at level L is held back while fewer than ``cooldown_days[L]`` days have
  passed since the last resolve of an episode at level L or higher, so a flapping subject
  does not re-page right after a resolve. A held-back firing is not recorded: the next
  observation (the next day) is judged again, and fires once the cooldown is over if the
  subject is still burning.
* Days are the days of the evidence (``as_of``), not the wall clock: the same history gives
  the same notifications whenever and however often it is replayed, and a backfill of a
  month in an hour is judged like the month itself.
* An observation older than the newest one already acted on is stale and changes nothing.

Dedupe keys are ``<source>:<model>:<subject>:<level>:<episode start day>``: the same for
every tick, restart or replay that sees the same episode, so they double as run keys.

Example::

    >>> history = AlertHistory.empty()
    >>> signal = Signal("error_budget", "loan", "tpr_gap", "page", date(2026, 11, 20))
    >>> [n.dedupe_key for n in decide(signal, history, Cooldown()).notifications]
    ['error_budget:loan:tpr_gap:page:2026-11-20']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "SEVERITIES",
    "AlertHistory",
    "AlertRecord",
    "Cooldown",
    "Decision",
    "Level",
    "Notification",
    "Severity",
    "Signal",
    "decide",
    "dedupe_key",
    "history_from_records",
]

Level = Literal["ok", "ticket", "page"]
Severity = Literal["ticket", "page"]
Kind = Literal["firing", "resolved"]

SEVERITIES: tuple[Severity, ...] = ("ticket", "page")
_RANK = {"ok": 0, "ticket": 1, "page": 2}

ERROR_LEVEL = "signal level must be 'ok', 'ticket' or 'page', got {level!r}"
ERROR_KEY_PART = "{name} must be non-empty and must not contain ':', got {value!r}"


@dataclass(frozen=True)
class Signal:
    """One observation of a watched subject.

    Args:
        source: what produced it: ``error_budget`` or ``health_check``.
        model_name: the monitored model.
        subject: what is watched within the source, e.g. the SLO name.
        level: ``ok``, ``ticket`` or ``page``.
        as_of: the day the observation is about (the partition it was read from).
        evidence: a pointer to where the evidence lives (table, day, ...), carried along.
        retrain_on_page: whether a page of this subject should also request retraining.
    """

    source: str
    model_name: str
    subject: str
    level: Level
    as_of: date
    evidence: Mapping[str, str] = field(default_factory=dict)
    retrain_on_page: bool = False

    def __post_init__(self) -> None:
        if self.level not in _RANK:
            raise ValueError(ERROR_LEVEL.format(level=self.level))
        for name in ("source", "model_name", "subject"):
            value = getattr(self, name)
            if not value or ":" in value:
                raise ValueError(ERROR_KEY_PART.format(name=name, value=value))


@dataclass(frozen=True)
class AlertRecord:
    """One notification already recorded (a row of ``monitoring.alerts``)."""

    kind: Kind
    severity: Severity
    episode_start: date
    as_of: date


@dataclass(frozen=True)
class AlertHistory:
    """What was notified so far for one (source, model, subject)."""

    open_since: date | None  # start day of the open episode, None when none is open
    open_severity: Severity | None  # highest level notified in the open episode
    last_resolved: Mapping[Severity, date]  # as_of of the last resolve of an episode at a level
    last_as_of: date | None  # newest observation day acted on

    @classmethod
    def empty(cls) -> AlertHistory:
        return cls(None, None, {}, None)


@dataclass(frozen=True)
class Cooldown:
    """Days after a resolve during which a new firing at that level is held back (>= 1)."""

    ticket_days: int = 7
    page_days: int = 3

    def days(self, severity: Severity) -> int:
        return self.page_days if severity == "page" else self.ticket_days


@dataclass(frozen=True)
class Notification:
    """A notification to record and deliver."""

    kind: Kind
    severity: Severity
    source: str
    model_name: str
    subject: str
    episode_start: date
    as_of: date
    reason: str
    request_retraining: bool
    evidence: Mapping[str, str]

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(
            self.source, self.model_name, self.subject, self.severity, self.episode_start
        )


@dataclass(frozen=True)
class Decision:
    """The notifications for one signal (often none) and a one-line account of why."""

    notifications: tuple[Notification, ...]
    explanation: str


def dedupe_key(
    source: str, model_name: str, subject: str, severity: Severity, episode_start: date
) -> str:
    """Stable key of one episode's notification at one level."""
    return f"{source}:{model_name}:{subject}:{severity}:{episode_start.isoformat()}"


def history_from_records(records: Iterable[AlertRecord]) -> AlertHistory:
    """Rebuild the state of one (source, model, subject) from its recorded notifications.

    The newest episode (latest ``episode_start``) is open unless it has a resolved record;
    its level is the highest one fired in it.
    """
    records = list(records)
    if not records:
        return AlertHistory.empty()
    last_resolved: dict[Severity, date] = {}
    for record in records:
        if record.kind == "resolved":
            previous = last_resolved.get(record.severity)
            if previous is None or record.as_of > previous:
                last_resolved[record.severity] = record.as_of
    newest_start = max(r.episode_start for r in records)
    newest = [r for r in records if r.episode_start == newest_start]
    is_open = not any(r.kind == "resolved" for r in newest)
    fired = [r.severity for r in newest if r.kind == "firing"]
    open_severity = max(fired, key=_RANK.__getitem__) if is_open and fired else None
    return AlertHistory(
        open_since=newest_start if open_severity else None,
        open_severity=open_severity,
        last_resolved=last_resolved,
        last_as_of=max(r.as_of for r in records),
    )


def decide(signal: Signal, history: AlertHistory, cooldown: Cooldown) -> Decision:
    """The notifications ``signal`` calls for given ``history`` (see the module rules)."""
    subject = f"{signal.model_name}/{signal.subject}"
    if history.last_as_of is not None and signal.as_of < history.last_as_of:
        return Decision(
            (),
            f"{subject}: {signal.as_of} is older than {history.last_as_of}, already acted on",
        )
    open_severity = history.open_severity
    if signal.level == "ok":
        if open_severity is None:
            return Decision((), f"{subject}: ok, nothing open")
        assert history.open_since is not None
        resolved = _notification(
            signal,
            "resolved",
            open_severity,
            history.open_since,
            f"recovered to ok on {signal.as_of}",
        )
        return Decision((resolved,), f"{subject}: recovered, resolving {open_severity}")

    level: Severity = signal.level
    if open_severity is not None and _RANK[level] <= _RANK[open_severity]:
        change = "still" if level == open_severity else f"{level} now, de-escalated from"
        return Decision(
            (), f"{subject}: {change} {open_severity} open since {history.open_since}; no new alert"
        )
    held = _cooldown_until(level, signal.as_of, history, cooldown)
    if held is not None:
        return Decision((), f"{subject}: {level} held back by cooldown until {held}")
    if open_severity is None:
        start = signal.as_of
        reason = f"new {level} episode"
    else:
        assert history.open_since is not None
        start = history.open_since
        reason = f"escalated from {open_severity} to {level}"
    firing = _notification(signal, "firing", level, start, reason)
    return Decision((firing,), f"{subject}: {reason}")


def _cooldown_until(
    level: Severity, as_of: date, history: AlertHistory, cooldown: Cooldown
) -> date | None:
    """The first day a firing at ``level`` may go out, when that is after ``as_of``."""
    resolves = [
        day for severity, day in history.last_resolved.items() if _RANK[severity] >= _RANK[level]
    ]
    if not resolves:
        return None
    allowed_from = max(resolves) + timedelta(days=cooldown.days(level))
    return allowed_from if as_of < allowed_from else None


def _notification(
    signal: Signal, kind: Kind, severity: Severity, episode_start: date, reason: str
) -> Notification:
    return Notification(
        kind=kind,
        severity=severity,
        source=signal.source,
        model_name=signal.model_name,
        subject=signal.subject,
        episode_start=episode_start,
        as_of=signal.as_of,
        reason=reason,
        request_retraining=kind == "firing" and severity == "page" and signal.retrain_on_page,
        evidence=dict(signal.evidence),
    )
