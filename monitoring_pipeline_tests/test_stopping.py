"""SIGINT / SIGTERM reach the command's own handler while Dagster runs in a worker thread:
the run in flight completes, and the work stops at its next checkpoint."""

from __future__ import annotations

import os
import signal
import threading
import time

import dagster as dg
import pytest

from monitoring_pipeline.stopping import Stopped, StopRequest, run_in_worker, stop_on_signals

SIGNALLED = threading.Event()


@dg.op
def slow_step() -> int:
    SIGNALLED.wait(timeout=30)  # the signal arrives while this step runs
    time.sleep(0.2)  # and the step goes on after it
    return 1


@dg.job
def slow_job():
    slow_step()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_lets_the_dagster_run_in_flight_finish_then_stops(dagster_instance, signum, code):
    SIGNALLED.clear()
    stop = StopRequest()
    finished: list[bool] = []

    def work() -> str:
        for _ in range(3):
            stop.check()
            result = slow_job.execute_in_process(instance=dagster_instance, raise_on_error=False)
            finished.append(result.success)
        return "all runs done"

    def signal_during_the_first_run() -> None:
        time.sleep(1.0)
        os.kill(os.getpid(), signum)
        SIGNALLED.set()

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals(stop):
        threading.Thread(target=signal_during_the_first_run).start()
        with pytest.raises(Stopped):
            run_in_worker(work)
    assert finished == [True]  # the run in flight succeeded; no second run started
    assert stop.requested and stop.exit_code == code
    assert stop.signal_name == signal.Signals(signum).name
    # The previous handlers are back.
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_first_signal_decides_the_exit_code():
    stop = StopRequest()
    stop.request(signal.SIGTERM)
    stop.request(signal.SIGINT)
    assert (stop.exit_code, stop.signal_name) == (143, "SIGTERM")
    assert StopRequest().exit_code == 0 and not StopRequest().requested
