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

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

import psutil

__all__ = [
    "STOP_SIGNALS",
    "StopRequest",
    "Stopped",
    "run_in_worker",
    "stop_on_signals",
    "stop_process_group",
]

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

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a stop request; return whether one came."""
        return self._event.wait(timeout)

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


def run_in_worker(
    work: Callable[[], T], *, name: str = "worker", watch: Callable[[], None] | None = None
) -> T:
    """Run ``work`` in a new thread while this one waits (and so handles signals); return its
    result or raise its exception here.

    ``watch`` is called between waits; an exception it raises is raised here at once and
    the work abandoned (a daemon thread: it does not keep the process alive), for work that
    cannot finish, e.g. once its database is gone (:mod:`monitoring_pipeline.outage`)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    while thread.is_alive():
        # A bounded wait: signal handlers run between waits on every Python version.
        thread.join(timeout=0.2)
        if watch is not None and thread.is_alive():
            watch()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def stop_process_group(
    process: subprocess.Popen, signum: int, *, grace_seconds: float = 30.0
) -> None:
    """Stop ``process`` (started with ``start_new_session=True``) and everything it started.

    Sends ``signum`` to ``process`` alone (it shuts its children down its own way) and waits
    up to ``grace_seconds``; then SIGTERM, and SIGKILL 5 s later, to whatever is left of its
    process group and of its descendants (a child that ignores SIGTERM, as Dagster's code
    servers do, or one whose parent died first)."""
    descendants = _descendants(process.pid)
    try:  # never signal a group but the process' own (not ours, had it not its own session)
        own_group = os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        own_group = False
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_seconds)
    descendants |= _descendants(process.pid)
    for final_signal in (signal.SIGTERM, signal.SIGKILL):
        left = [child for child in descendants if _alive(child)]
        group_left = own_group and _group_exists(process.pid)
        if process.poll() is not None and not left and not group_left:
            return
        if group_left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, final_signal)
        for child in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(final_signal)
        psutil.wait_procs(left, timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _descendants(pid: int) -> set[psutil.Process]:
    try:
        return set(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return set()
