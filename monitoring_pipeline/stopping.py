"""Stop a long command as a whole on SIGINT (Ctrl-C) or SIGTERM (what supervisors send).

Why a worker thread: Dagster's in-process execution replaces the SIGINT and SIGTERM
handlers of the *main* thread while a run executes; a signal then interrupts the step in
flight, the run ends failed, and the caller's loop goes on to its next day. Run from
another thread, Dagster leaves the handlers alone, so the command's own handler sees every
signal, the day in flight runs to its end (its writes commit whole) and the command stops
at its next checkpoint.

Usage::

    stop = StopRequest()
    with stop_on_signals(stop):
        result = run_in_worker(lambda: work(stop))  # work calls stop.check() between steps
    if stop.requested:
        return stop.exit_code  # 130 for SIGINT, 143 for SIGTERM
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

__all__ = ["STOP_SIGNALS", "StopRequest", "Stopped", "run_in_worker", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")


class Stopped(Exception):  # noqa: N818 (a state, not an error)
    """Raised by :meth:`StopRequest.check` once a stop was requested."""


class StopRequest:
    """Remembers the first stop signal; work asks :attr:`requested` or calls :meth:`check`
    between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signum: int | None = None

    def request(self, signum: int, _frame: FrameType | None = None) -> None:
        """Ask the work to stop (a signal handler; later signals change nothing)."""
        if self._signum is None:
            self._signum = signum
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def signal_name(self) -> str:
        return signal.Signals(self._signum).name if self._signum is not None else ""

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 + its number."""
        return 128 + self._signum if self._signum is not None else 0

    def check(self) -> None:
        """Raise :class:`Stopped` if a stop was requested."""
        if self.requested:
            raise Stopped(self.signal_name)


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``stop`` inside the block; the previous handlers after.

    Outside the main thread (where Python cannot set handlers) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop.request)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_in_worker(work: Callable[[], T], *, name: str = "worker") -> T:
    """Run ``work`` in a new thread while this one waits (and so handles signals); return its
    result or raise its exception here."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name)
    thread.start()
    while thread.is_alive():
        # A bounded wait: signal handlers run between waits on every Python version.
        thread.join(timeout=0.2)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
