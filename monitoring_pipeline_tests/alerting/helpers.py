"""Shared by the alerting tests: a config, hand-made budget and health days in the real
database, a scripted webhook receiver on 127.0.0.1, and what the daemon does with a sensor
tick (``Daemon``)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa
import yaml
from dagster._core.storage.tags import RUN_KEY_TAG

from monitoring_pipeline.config import load_config
from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.alerts import ERROR_BUDGET_SENSOR
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

MODEL = "loan_approval"
GAP_SLO = "tpr_gap_region"  # retrain_on_page in the demo config
ACCURACY_SLO = "accuracy_all"
START = date(2026, 11, 1)


def alert_config(
    tmp_path: Path,
    webhooks: Sequence[dict] = (),
    *,
    schedule: dict | None = None,
    links: dict | None = None,
    **alerting,
) -> MonitoringConfig:
    """The demo config with these webhooks and alerting settings; reports (the alerts'
    report links) under ``tmp_path / "reports"`` unless ``links`` says otherwise."""
    raw = demo_config(START, tmp_path / "data")
    raw["alerting"] = {"webhooks": list(webhooks), **alerting}
    raw["links"] = {"reports_dir": str(tmp_path / "reports")} | (links or {})
    if schedule is not None:
        raw["schedule"] = schedule
    use_recording_retrainer(raw, tmp_path)
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


RETRAINER_LOG = "retraining_requests.log"


def use_recording_retrainer(raw: dict, tmp_path: Path) -> None:
    """Swap the demo's reference retrainer (it fits a model: slow) for a command that only
    appends its request id to ``tmp_path / RETRAINER_LOG``: the real job, a real action."""
    script = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))"
    for model in raw["models"].values():
        if "retraining" in model:
            model["retraining"]["action"] = {
                "kind": "command",
                "command": [
                    sys.executable,
                    "-c",
                    script,
                    str(tmp_path / RETRAINER_LOG),
                    "{request_id}",
                ],
            }


def hook(url: str, **settings) -> dict:
    return {"name": "oncall", "url": url, "timeout_seconds": 2, "backoff_seconds": 0} | settings


def write_budget_day(
    engine, day: date, statuses: dict[str, str], *, run_id: str = "seed", bad_gap: bool = True
) -> None:
    """One day of error_budgets (and the readings behind it) for ``MODEL``.

    A non-ok SLO gets a bad verdict that day (region=west's TPR gap 0.30 [0.21, 0.39]);
    an ok one a good verdict.
    """
    budget_rows, evaluation_rows = [], []
    for slo, status in statuses.items():
        bad = status != "ok"
        budget_rows.append(
            {
                "slo_name": slo, "target": 0.9, "period_days": 28, "known_days": 10,
                "good_days": 7 if bad else 10, "bad_days": 3 if bad else 0, "unknown_days": 18,
                "budget_days": 1.0, "consumed_days": 3 if bad else 0,
                "remaining_days": -2.0 if bad else 1.0, "remaining_fraction": -2.0 if bad else 1.0,
                "burn_rate_short": 10.0 if status == "page" else (5.0 if bad else 0.0),
                "burn_rate_long": 4.3 if status == "page" else (1.4 if bad else 0.0),
                "short_window_days": 2, "long_window_days": 7, "status": status,
                "retrain_on_page": slo == GAP_SLO, "evidence_through": day,
            }
        )  # fmt: skip
        evaluation_rows.append(
            {
                "slo_name": slo, "sli_source": "fairness_disparities", "sli_metric": "tpr_difference",
                "sli_subject": "region=west vs north", "value": 0.30 if bad else 0.02,
                "lower": 0.21 if bad else 0.0, "upper": 0.39 if bad else 0.06,
                "objective_op": "<=", "objective_value": 0.1, "sufficient": True,
                "status": "bad" if bad else "good", "reason": "seeded",
            }
        )  # fmt: skip
    gap = -0.30 if bad_gap else -0.02
    disparities = pd.DataFrame(
        {
            "model_version": "all",
            "cohort_attribute": "region",
            "cohort_value": ["west", "south", "east"],
            "reference_value": "north",
            "metric": "tpr_difference",
            "value": [gap, 0.05, -0.04],
            "lower": [gap - 0.09, -0.02, -0.12],
            "upper": [gap + 0.09, 0.12, 0.04],
            "sufficient": True,
            "passes_four_fifths": None,
            "is_worst": [True, False, False],
        }
    )
    audit = Audit(run_id=run_id, produced_at=datetime.now(UTC))
    for table, frame in (
        ("error_budgets", pd.DataFrame(budget_rows)),
        ("slo_evaluations", pd.DataFrame(evaluation_rows)),
        ("fairness_disparities", disparities),
    ):
        replace_partitions(
            engine,
            model_name=MODEL,
            partition_date=day,
            rows=[TableRows(table, frame.assign(partition_date=day, model_name=MODEL))],
            audit=audit,
        )


HEALTH_CHECKS = (
    "stale_baseline",
    "overdue_partitions",
    "label_lag",
    "label_coverage",
    "label_coverage_trend",
    "label_arrival",
    "data_quality",
)
HEALTH_SEVERITY = {"overdue_partitions": "page"}  # the config's defaults: the rest ticket


def write_health_day(
    engine, day: date, findings: dict[str, dict] | None = None, *, run_id: str = "seed"
) -> None:
    """One day of health_checks for ``MODEL``: every check ok unless ``findings`` gives it
    other columns (status, observed, threshold, message, details, severity)."""
    frame = pd.DataFrame(
        [
            {
                "check_name": check,
                "status": "ok",
                "severity": HEALTH_SEVERITY.get(check, "ticket"),
                "observed": 0.0,
                "threshold": 1.0,
                "message": f"{check} ok on {day}",
                "details": {},
            }
            | (findings or {}).get(check, {})
            for check in HEALTH_CHECKS
        ]
    )
    frame["details"] = [json.dumps(d, sort_keys=True) for d in frame["details"]]
    replace_partitions(
        engine,
        model_name=MODEL,
        partition_date=day,
        rows=[TableRows("health_checks", frame.assign(partition_date=day, model_name=MODEL))],
        audit=Audit(run_id=run_id, produced_at=datetime.now(UTC)),
    )


def rows(engine, query: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(query), params)]


HANG = 0  # a scripted "status": hold the request past the client's timeout, never answer
HANG_SECONDS = 2.0


@dataclass
class ScriptedReceiver:
    """A webhook on 127.0.0.1 answering with ``statuses`` in turn (then the last one
    forever; ``HANG``: no answer within ``HANG_SECONDS``, then the connection closes);
    ``received`` holds every JSON body, ``accepted`` those answered 2xx."""

    statuses: list[int]
    received: list[dict] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)
    url: str = ""

    def respond(self, body: dict) -> int:
        self.received.append(body)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if 200 <= status < 300:
            self.accepted.append(body)
        return status


@contextmanager
def scripted_receiver(statuses: Sequence[int], *, port: int = 0) -> Iterator[ScriptedReceiver]:
    """A :class:`ScriptedReceiver` on ``port`` (default: any free one)."""
    receiver = ScriptedReceiver(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = receiver.respond(body)
            if status == HANG:
                time.sleep(HANG_SECONDS)
                return
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"no")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


WORLD_TAG = "test_world"


class Daemon:
    """What the Dagster daemon does with a tick's result: launch each run request whose run
    key has no run yet (looked up in the instance, so it survives a 'restart').

    The test session shares one Dagster instance; ``world`` (one per test) scopes run keys
    the way the daemon scopes them to one sensor of one code location.
    """

    def __init__(self, defs: dg.Definitions, instance, database_url: str, world: str):
        self.defs, self.instance, self.database_url = defs, instance, database_url
        self.world = world

    def tick(self, cursor: str | None):
        sensor = self.defs.resolve_sensor_def(ERROR_BUDGET_SENSOR)
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            definitions=self.defs,
            resources={"monitoring_db": MonitoringDatabase(database_url=self.database_url)},
        ) as context:
            return sensor.evaluate_tick(context)

    def launch(self, result) -> list[str]:
        launched = []
        for request in result.run_requests:
            existing = self.instance.get_runs(
                filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key, WORLD_TAG: self.world})
            )
            if existing:
                continue
            job = self.defs.resolve_job_def(request.job_name)
            run = job.execute_in_process(
                run_config=request.run_config,
                instance=self.instance,
                tags={**request.tags, RUN_KEY_TAG: request.run_key, WORLD_TAG: self.world},
                raise_on_error=False,
            )
            assert run.success, request.run_key
            launched.append(request.run_key)
        return launched


def keys(result) -> list[str]:
    return sorted(r.run_key for r in result.run_requests)
