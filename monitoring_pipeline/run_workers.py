"""Runs executed in this package's own processes, and failing those whose process died.

`monitoring-pipeline materialize` and `demo` execute runs in process
(``execute_in_process``): no run launcher watches them, so a process killed with SIGKILL
(or by the out-of-memory killer, or a lost machine) leaves its run STARTED in Dagster
forever. Dagster's run monitoring cannot help: with the default run launcher it only times
out runs that never start (``check_run_worker_health`` is not supported), and it needs the
daemon.

So every such run carries the tag :data:`WORKER_TAG` naming its process (host, pid and the
process' start time, so a reused pid is not mistaken for it), and each command that opens
the instance first marks failed the runs still in progress whose process on this host is
gone (:func:`fail_orphaned_runs`), through the public ``DagsterInstance.report_run_failed``.
Runs of other hosts are left alone: their processes cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import dagster as dg
import psutil

__all__ = ["WORKER_TAG", "Worker", "fail_orphaned_runs", "this_worker"]

WORKER_TAG = "monitoring-pipeline/worker"
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class Worker:
    """A process: where it runs, its pid, and when it started (seconds since the epoch)."""

    host: str
    pid: int
    started: float

    @property
    def tag(self) -> str:
        return f"{self.host}/{self.pid}/{self.started:.2f}"

    @classmethod
    def from_tag(cls, value: str) -> Worker | None:
        host, _, rest = value.rpartition("/")
        host, _, pid = host.rpartition("/")
        try:
            return cls(host, int(pid), float(rest))
        except ValueError:
            return None

    def is_alive(self) -> bool:
        """Whether this process still runs (on this host: the caller checks ``host``)."""
        try:
            process = psutil.Process(self.pid)
            started = process.create_time()
        except psutil.NoSuchProcess:  # ZombieProcess is a subclass: a zombie is dead
            return False
        return abs(started - self.started) < 0.1 and process.status() != psutil.STATUS_ZOMBIE


def this_worker() -> Worker:
    return Worker(socket.gethostname(), os.getpid(), psutil.Process().create_time())


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTING or STARTED run of :data:`WORKER_TAG` whose process on this
    host no longer exists; return their run ids."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        worker = Worker.from_tag(run.tags.get(WORKER_TAG, ""))
        if worker is None or worker.host != host or worker.is_alive():
            continue
        instance.report_run_failed(
            run,
            f"The process that executed this run (pid {worker.pid} on {host}) ended without "
            "finishing it (killed, or its database connection lost); its partition writes "
            "rolled back. Marked failed by the next monitoring-pipeline command.",
        )
        failed.append(run.run_id)
    return failed
