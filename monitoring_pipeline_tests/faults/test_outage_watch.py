"""outage.watch_connections without a server to lose: what it does with stderr while a
connection error waits for its probe, and that a COPY's lost connection reaches it."""

from __future__ import annotations

import sys

import psycopg2
import pytest

from monitoring_pipeline import outage
from monitoring_pipeline.storage.database import DatabaseUnavailableError, report_connection_failure

REACHABLE = "postgresql://reachable"
GONE = "postgresql://gone"


@pytest.fixture
def probes(monkeypatch):
    """check_connection answers for the two fake URLs; returns the URLs probed."""
    probed: list[str] = []

    def check(url: str) -> None:
        probed.append(url)
        if url == GONE:
            raise DatabaseUnavailableError(f"cannot use PostgreSQL at {url}: gone")

    monkeypatch.setattr(outage, "check_connection", check)
    return probed


class Stderr:
    """What the test wrote to stderr so far (pytest's capture, read cumulatively)."""

    def __init__(self, capsys) -> None:
        self._capsys = capsys
        self._text = ""

    def getvalue(self) -> str:
        self._text += self._capsys.readouterr().err
        return self._text


@pytest.fixture
def stderr(capsys):
    return Stderr(capsys)


def test_stderr_passes_through_until_a_connection_fails(probes, stderr):
    with outage.watch_connections([REACHABLE]) as watch:
        print("a warning", file=sys.stderr)
        watch.check()  # nothing failed: no probe
    assert stderr.getvalue() == "a warning\n" and probes == []


def test_a_lost_copy_holds_stderr_and_a_gone_server_drops_it(probes, stderr):
    with outage.watch_connections([GONE]) as watch:
        report_connection_failure(psycopg2.OperationalError("server closed the connection"))
        print("Exception while writing logger call to event log: ...", file=sys.stderr)
        with pytest.raises(DatabaseUnavailableError) as lost:
            watch.check()
        print("a thread still printing its loss", file=sys.stderr)  # dropped: gone
        watch.say(f"monitoring-pipeline: {lost.value}")  # the CLI's one line
    assert stderr.getvalue().splitlines() == [
        f"monitoring-pipeline: cannot use PostgreSQL at {GONE}: gone"
    ]
    assert probes == [GONE]


def test_a_passing_hiccup_releases_what_was_held(probes, stderr):
    with outage.watch_connections([REACHABLE]) as watch:
        report_connection_failure(psycopg2.InterfaceError("connection already closed"))
        print("held a moment", file=sys.stderr)
        assert stderr.getvalue() == ""
        watch.check()
        print("then straight through", file=sys.stderr)
    assert stderr.getvalue() == "held a moment\nthen straight through\n"
    assert not isinstance(sys.stderr, outage._HeldStderr)  # restored


def test_a_connection_lost_under_another_error_is_a_connection_failure(probes, stderr):
    # psycopg2 may raise SystemError("<function decode> returned a result with an exception
    # set") from the server's shutdown notice in a COPY: the lost connection is its cause.
    try:
        try:
            raise psycopg2.OperationalError("terminating connection due to administrator command")
        except psycopg2.OperationalError as lost:
            raise SystemError("<function decode> returned a result with an exception set") from lost
    except SystemError as decoding:
        wrapped = decoding
    with outage.watch_connections([GONE]) as watch:
        report_connection_failure(wrapped)
        print("SystemError: <function decode> ...", file=sys.stderr)
        with pytest.raises(DatabaseUnavailableError):
            watch.check()
    assert stderr.getvalue() == "" and probes == [GONE]


def test_psycopg2s_own_print_of_a_lost_copy_is_held_and_dropped_with_a_gone_server(probes, stderr):
    # psycopg2 prints this from C, in the COPY's thread, before anything is raised to us.
    with outage.watch_connections([GONE]) as watch:
        print(
            "psycopg2.errors.AdminShutdown: terminating connection due to administrator "
            "command\nCONTEXT:  COPY labeled_prediction_rows, line 1107",
            file=sys.stderr,
        )
        print("SystemError: <function decode> returned a result ...", file=sys.stderr)
        with pytest.raises(DatabaseUnavailableError):
            watch.check()
    assert stderr.getvalue() == "" and probes == [GONE]


def test_an_exception_printed_in_pieces_is_held_from_its_first_piece(probes, stderr):
    # Python prints an uncaught exception piece by piece; only the whole line shows the loss.
    with outage.watch_connections([GONE]) as watch:
        for piece in ("psycopg2.errors", ".", "AdminShutdown", ": "):
            sys.stderr.write(piece)
        sys.stderr.write("terminating connection due to administrator command\n")
        sys.stderr.flush()
        with pytest.raises(DatabaseUnavailableError):
            watch.check()
    assert stderr.getvalue() == "" and probes == [GONE]


def test_a_line_without_its_end_goes_out_at_flush_and_at_the_end(probes, stderr):
    with outage.watch_connections([REACHABLE]):
        sys.stderr.write("day 1 of 3\r")
        sys.stderr.write("partial")
        assert stderr.getvalue() == "day 1 of 3\r"
        sys.stderr.flush()
        assert stderr.getvalue() == "day 1 of 3\rpartial"
        sys.stderr.write(" and its tail")
    assert stderr.getvalue() == "day 1 of 3\rpartial and its tail" and probes == []


def test_the_same_text_with_the_server_still_there_is_written_out(probes, stderr):
    with outage.watch_connections([REACHABLE]) as watch:
        print("FATAL: terminating connection due to idle-session timeout", file=sys.stderr)
        watch.check()
    assert stderr.getvalue() == "FATAL: terminating connection due to idle-session timeout\n"
    assert probes == [REACHABLE]


def test_other_errors_are_not_connection_failures(probes, stderr):
    with outage.watch_connections([GONE]) as watch:
        report_connection_failure(ValueError("a bad row"))
        print("a real error", file=sys.stderr)
        watch.check()
    assert stderr.getvalue() == "a real error\n" and probes == []


def test_what_is_held_when_the_work_ends_is_written_out(probes, stderr):
    with outage.watch_connections([REACHABLE]):
        report_connection_failure(psycopg2.OperationalError("gone for a moment"))
        print("last words", file=sys.stderr)
    assert stderr.getvalue() == "last words\n"
