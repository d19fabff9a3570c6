"""Alert decisions, table-driven: each case replays a sequence of daily levels of one SLO
through decide() with the history rebuilt from the notifications recorded so far, exactly
as the sensor does across ticks and restarts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitoring_pipeline.alerting.decisions import (
    AlertRecord,
    Cooldown,
    Signal,
    decide,
    dedupe_key,
    history_from_records,
)

DAY0 = date(2026, 11, 1)
COOLDOWN = Cooldown(ticket_days=7, page_days=3)


def replay(levels: str, cooldown: Cooldown = COOLDOWN, retrain=False):
    """Levels one per day ("o" ok, "t" ticket, "p" page); returns the notifications sent as
    (day index, kind, severity, episode start index)."""
    names = {"o": "ok", "t": "ticket", "p": "page"}
    records: list[AlertRecord] = []
    sent = []
    for i, code in enumerate(levels):
        signal = Signal(
            "error_budget", "loan", "tpr_gap", names[code], DAY0 + timedelta(days=i),
            retrain_on_page=retrain,
        )  # fmt: skip
        decision = decide(signal, history_from_records(records), cooldown)
        assert decision.explanation.startswith("loan/tpr_gap: ")
        for n in decision.notifications:
            records.append(AlertRecord(n.kind, n.severity, n.episode_start, n.as_of))
            sent.append((i, n.kind, n.severity, (n.episode_start - DAY0).days))
    return sent


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        pytest.param("ooooo", [], id="healthy: nothing"),
        pytest.param("ooppppp", [(2, "firing", "page", 2)], id="page fires once"),
        pytest.param("otttt", [(1, "firing", "ticket", 1)], id="ticket fires once"),
        pytest.param(
            "ottppp",
            [(1, "firing", "ticket", 1), (3, "firing", "page", 1)],
            id="escalation ticket->page alerts again, same episode",
        ),
        pytest.param(
            "opptttpp",
            [(1, "firing", "page", 1)],
            id="de-escalation and re-escalation: no new page",
        ),
        pytest.param(
            "opppoo",
            [(1, "firing", "page", 1), (4, "resolved", "page", 1)],
            id="recovery sends one resolved notice",
        ),
        pytest.param(
            "ottppto",
            [(1, "firing", "ticket", 1), (3, "firing", "page", 1), (6, "resolved", "page", 1)],
            id="escalated episode resolves at its highest level",
        ),
        pytest.param(
            "opopopopp",
            [
                (1, "firing", "page", 1),
                (2, "resolved", "page", 1),
                (5, "firing", "page", 5),
                (6, "resolved", "page", 5),
            ],
            id="flapping: no re-page within 3 days of a resolve",
        ),  # fmt: skip
        pytest.param(
            "opooop",
            [(1, "firing", "page", 1), (2, "resolved", "page", 1), (5, "firing", "page", 5)],
            id="after the cooldown a new episode pages again",
        ),
        pytest.param(
            "opoppppp",
            [(1, "firing", "page", 1), (2, "resolved", "page", 1), (5, "firing", "page", 5)],
            id="held back during cooldown, fires when it ends if still burning",
        ),
        pytest.param(
            "opottttttttt",
            [(1, "firing", "page", 1), (2, "resolved", "page", 1), (9, "firing", "ticket", 9)],
            id="a page resolve also quiets tickets for the ticket cooldown",
        ),
        pytest.param(
            "otop",
            [(1, "firing", "ticket", 1), (2, "resolved", "ticket", 1), (3, "firing", "page", 3)],
            id="a ticket resolve does not hold back a page",
        ),
    ],
)
def test_sequences(levels, expected):
    assert replay(levels) == expected


def test_cooldown_is_per_severity_and_configurable():
    assert replay("opop", Cooldown(ticket_days=1, page_days=1)) == [
        (1, "firing", "page", 1),
        (2, "resolved", "page", 1),
        (3, "firing", "page", 3),
    ]


def test_replaying_the_same_day_decides_nothing_new():
    records = []
    signal = Signal("error_budget", "loan", "tpr_gap", "page", DAY0)
    first = decide(signal, history_from_records(records), Cooldown())
    (n,) = first.notifications
    records.append(AlertRecord(n.kind, n.severity, n.episode_start, n.as_of))
    again = decide(signal, history_from_records(records), Cooldown())
    assert again.notifications == ()
    assert again.explanation == f"loan/tpr_gap: still page open since {DAY0}; no new alert"


def test_stale_observation_changes_nothing():
    records = [AlertRecord("firing", "page", DAY0, DAY0 + timedelta(days=3))]
    old = Signal("error_budget", "loan", "tpr_gap", "ok", DAY0 + timedelta(days=1))
    decision = decide(old, history_from_records(records), Cooldown())
    assert decision.notifications == ()
    assert "older than" in decision.explanation


def test_dedupe_keys_and_retraining_flag():
    signal = Signal("error_budget", "loan", "tpr_gap", "page", DAY0, retrain_on_page=True)
    (page,) = decide(signal, history_from_records([]), Cooldown()).notifications
    assert page.dedupe_key == "error_budget:loan:tpr_gap:page:2026-11-01"
    assert page.dedupe_key == dedupe_key("error_budget", "loan", "tpr_gap", "page", DAY0)
    assert page.request_retraining
    ticket = Signal("error_budget", "loan", "tpr_gap", "ticket", DAY0, retrain_on_page=True)
    (n,) = decide(ticket, history_from_records([]), Cooldown()).notifications
    assert not n.request_retraining
    # Resolving never requests retraining.
    history = history_from_records([AlertRecord("firing", "page", DAY0, DAY0)])
    ok = Signal(
        "error_budget", "loan", "tpr_gap", "ok", DAY0 + timedelta(days=1), retrain_on_page=True
    )
    (resolved,) = decide(ok, history, Cooldown()).notifications
    assert (resolved.kind, resolved.request_retraining) == ("resolved", False)
    assert resolved.dedupe_key == page.dedupe_key  # the resolve names the episode it closes


def test_history_from_records():
    history = history_from_records(
        [
            AlertRecord("firing", "ticket", DAY0, DAY0),
            AlertRecord("firing", "page", DAY0, DAY0 + timedelta(days=2)),
            AlertRecord("resolved", "page", DAY0, DAY0 + timedelta(days=4)),
            AlertRecord("firing", "ticket", DAY0 + timedelta(days=9), DAY0 + timedelta(days=9)),
        ]
    )
    assert history.open_since == DAY0 + timedelta(days=9)
    assert history.open_severity == "ticket"
    assert history.last_resolved == {"page": DAY0 + timedelta(days=4)}
    assert history.last_as_of == DAY0 + timedelta(days=9)


def test_a_second_source_gets_the_same_rules():
    """The seam for pipeline-health findings: another source, same record, same rules."""
    signal = Signal(
        "health_check",
        "loan",
        "stale_baseline",
        "ticket",
        DAY0,
        {"table": "monitoring.health_checks"},
    )
    (n,) = decide(signal, history_from_records([]), Cooldown()).notifications
    assert n.dedupe_key == "health_check:loan:stale_baseline:ticket:2026-11-01"
    assert n.evidence == {"table": "monitoring.health_checks"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "warn"}, "signal level must be 'ok', 'ticket' or 'page', got 'warn'"),
        ({"subject": "a:b"}, "subject must be non-empty and must not contain ':', got 'a:b'"),
    ],
)
def test_bad_signals_fail_clearly(kwargs, message):
    fields = {"source": "error_budget", "model_name": "loan", "subject": "x", "level": "ok"}
    with pytest.raises(ValueError, match=message):
        Signal(**(fields | kwargs), as_of=DAY0)
