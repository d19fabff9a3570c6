"""The demo's alerting loop: a local webhook receiver for the length of the demo, and
error_budget_sensor evaluated in-process on the persistent instance, as the daemon would.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg

from monitoring_pipeline.alerting.receiver import make_receiver
from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.alerts import ERROR_BUDGET_SENSOR
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.orchestrate import SensorTick, tick_sensor

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def local_webhook_url(config: MonitoringConfig) -> str | None:
    """The first configured webhook that points at this machine (the demo config's)."""
    for hook in config.alerting.webhooks:
        if hook.url and urlsplit(hook.url).hostname in LOCAL_HOSTS:
            return hook.url
    return None


@contextmanager
def local_receiver(url: str, *, out: Path | None, say: Callable[[str], None]) -> Iterator[bool]:
    """Serve a webhook receiver on ``url``'s host and port in a background thread.

    Yields whether it listens. A busy port is said in one line and the demo goes on: the
    alerts then go to whatever listens there (perhaps a `webhook-receiver` started by
    hand), or their delivery is recorded as failed.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    def show(record: dict) -> None:
        # Slack's text escapes &, < and >; a terminal shows the message as a person reads it.
        first, *rest = html.unescape(record["message"]["text"]).splitlines() or [""]
        say(f"    webhook {parts.path or '/'} received: {first}")
        for line in rest:
            say(f"      {line}")

    try:
        server = make_receiver(host, port, out=out, on_message=show)
    except OSError as exc:
        say(
            f"- webhook receiver: cannot listen on {host}:{port} ({exc.strerror}); alerts go "
            "to whatever listens there, else their delivery is recorded as failed"
        )
        yield False
        return
    thread = threading.Thread(target=server.serve_forever, name="demo-webhook", daemon=True)
    thread.start()
    where = f", appending to {out}" if out else ""
    say(f"- webhook receiver listening on {url}{where}")
    try:
        yield True
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def evaluate_alerts(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    database_url: str | None = None,
    cursor: str | None,
) -> SensorTick:
    """One tick of error_budget_sensor with its alert_job / retraining_job runs launched
    in this process under the daemon's run keys (see :func:`tick_sensor`). Without
    ``database_url`` the sensor finds the database at run time (see ``MonitoringDatabase``)."""
    return tick_sensor(
        defs,
        instance,
        ERROR_BUDGET_SENSOR,
        cursor=cursor,
        resources={"monitoring_db": MonitoringDatabase(database_url=database_url)},
    )


def describe_tick(tick: SensorTick, day: date) -> Sequence[str]:
    """What a tick did, one line per run (for the demo's progress output)."""
    if not tick.runs:
        return [f"- error_budget_sensor on {day}: {tick.skip_message or 'nothing to do'}"]
    lines = [f"- error_budget_sensor on {day}: {len(tick.runs)} run request(s):"]
    for run in tick.runs:
        if run.run_id is None:
            outcome = "already launched (a run with this run key exists)"
        elif run.success:
            outcome = "succeeded"
        else:
            outcome = f"FAILED: {run.error}"
        lines.append(f"    {run.job_name} [{run.run_key}] {outcome}")
    return lines
