"""The configured retraining actions: run a command, or POST to a webhook. No Dagster, no SQL.

Each returns an :class:`ActionOutcome` instead of raising, so the caller can record what
happened (exit code, HTTP status, output) before deciding whether the run fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from monitoring_pipeline.config.models import CommandAction, WebhookAction

OUTPUT_TAIL_LINES = 30
OUTPUT_TAIL_CHARS = 4000
ENV_PREFIX = "MONITORING_RETRAIN_"


@dataclass(frozen=True)
class ActionOutcome:
    """What the action did: ``succeeded`` and a one-line ``reason`` either way."""

    succeeded: bool
    reason: str
    exit_code: int | None = None
    http_status: int | None = None
    output_tail: str | None = None
    attempts: int = 1


def tail(text: str, lines: int = OUTPUT_TAIL_LINES, chars: int = OUTPUT_TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def action_environment(values: Mapping[str, str]) -> dict[str, str]:
    """``MONITORING_RETRAIN_<NAME>`` for every placeholder value."""
    return {f"{ENV_PREFIX}{name.upper()}": value for name, value in values.items()}


def command_argv(action: CommandAction, values: Mapping[str, str]) -> list[str]:
    """The argv with placeholders substituted (validated at config load)."""
    return [argument.format_map(values) for argument in action.command]


def run_command(
    action: CommandAction, values: Mapping[str, str], *, extra_env: Mapping[str, str] = {}
) -> ActionOutcome:
    """Run the command without a shell; exit code 0 is success. Output (stdout and stderr
    together) is kept as a tail; a timeout kills the program."""
    argv = command_argv(action, values)
    env = os.environ | dict(extra_env) | action_environment(values)
    try:
        completed = subprocess.run(
            argv,
            env=env,
            cwd=action.working_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=action.timeout_seconds,
            check=False,
        )
    except FileNotFoundError:
        return ActionOutcome(False, f"command not found: {argv[0]}")
    except PermissionError:
        return ActionOutcome(False, f"command not executable: {argv[0]}")
    except subprocess.TimeoutExpired as exc:
        output = (exc.output or b"").decode(errors="replace")
        return ActionOutcome(
            False,
            f"command timed out after {action.timeout_seconds:g}s: {argv[0]}",
            output_tail=tail(output) or None,
        )
    output = completed.stdout.decode(errors="replace")
    if completed.returncode != 0:
        last = tail(output, lines=1) or "no output"
        return ActionOutcome(
            False,
            f"command exited with code {completed.returncode}: {last}",
            exit_code=completed.returncode,
            output_tail=tail(output) or None,
        )
    return ActionOutcome(
        True, "command exited with code 0", exit_code=0, output_tail=tail(output) or None
    )


def webhook_url(action: WebhookAction, environ: Mapping[str, str] | None = None) -> str:
    """The URL, read from ``url_env`` at trigger time when so configured."""
    if action.url is not None:
        return action.url
    env = os.environ if environ is None else environ
    url = env.get(action.url_env or "", "")
    if not url:
        raise ValueError(
            f"environment variable {action.url_env} (retraining.action.url_env) is not set"
        )
    return url


def describe_target(url: str) -> str:
    """Scheme, host and port only: a webhook URL's path or query may hold a secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def post_webhook(
    action: WebhookAction,
    payload: Mapping[str, Any],
    *,
    idempotency_key: str,
    environ: Mapping[str, str] | None = None,
    sleep=time.sleep,
) -> ActionOutcome:
    """POST ``payload`` as JSON. 2xx: success. 5xx, timeouts and connection errors are
    retried (``max_attempts`` in all, waiting ``retry_wait_seconds`` x attempt); 4xx is
    final. ``Idempotency-Key`` lets the receiver ignore the retries of one request."""
    try:
        url = webhook_url(action, environ)
    except ValueError as exc:
        return ActionOutcome(False, str(exc), attempts=0)
    body = json.dumps(payload, default=str).encode()
    target = describe_target(url)
    outcome = ActionOutcome(False, "webhook not attempted", attempts=0)
    for attempt in range(1, action.max_attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "monitoring-pipeline retraining_job",
                "Idempotency-Key": idempotency_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=action.timeout_seconds) as response:
                text = response.read().decode(errors="replace")
                return ActionOutcome(
                    True,
                    f"webhook {target} answered {response.status}",
                    http_status=response.status,
                    output_tail=tail(text) or None,
                    attempts=attempt,
                )
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace") if exc.fp else ""
            outcome = ActionOutcome(
                False,
                f"webhook {target} answered {exc.code} {exc.reason}",
                http_status=exc.code,
                output_tail=tail(text) or None,
                attempts=attempt,
            )
            if exc.code < 500:
                return outcome  # the request itself was refused: retrying changes nothing
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome = ActionOutcome(
                False, f"webhook {target} unreachable: {reason}", attempts=attempt
            )
        if attempt < action.max_attempts:
            sleep(action.retry_wait_seconds * attempt)
    return ActionOutcome(
        False,
        f"{outcome.reason} (after {action.max_attempts} attempt(s))",
        http_status=outcome.http_status,
        output_tail=outcome.output_tail,
        attempts=outcome.attempts,
    )
