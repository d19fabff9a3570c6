"""POST a JSON message to a Slack-compatible webhook, with retries, backoff and a timeout.

Standard library only (urllib). Every attempt is reported to a callback as it ends, so the
caller can record it before the next one starts: a run killed mid-way still leaves the
attempts it made. Errors never contain the URL (webhook URLs carry their secret).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = ["Attempt", "deliver_webhook", "post_json"]

Outcome = Literal["delivered", "retry", "failed"]
# Worth another try: the receiver is overloaded, restarting or rate limiting.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60.0
USER_AGENT = "monitoring-pipeline-alerts/1"


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt and how it ended."""

    attempt: int
    attempted_at: datetime
    outcome: Outcome
    http_status: int | None
    error: str | None
    elapsed_ms: float


@dataclass(frozen=True)
class _Response:
    status: int | None
    error: str | None
    transient: bool
    retry_after: float | None = None


def post_json(url: str, payload: Mapping, timeout: float) -> _Response:
    """One POST of ``payload`` as JSON; 2xx is success, anything else an error line."""
    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return _Response(response.status, None, False)
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode(errors="replace").strip().replace("\n", " ")
        retry_after = _seconds(exc.headers.get("Retry-After")) if exc.headers else None
        return _Response(
            exc.code,
            f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else ""),
            exc.code in TRANSIENT_STATUSES or exc.code >= 500,
            retry_after,
        )
    except TimeoutError:
        return _Response(None, f"no response within {timeout:g}s", True)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return _Response(None, f"no response within {timeout:g}s", True)
        return _Response(None, f"cannot connect: {reason}", True)
    except OSError as exc:  # connection reset mid-response and the like
        return _Response(None, f"connection failed: {exc}", True)


def deliver_webhook(
    url: str,
    payload: Mapping,
    *,
    timeout: float,
    max_attempts: int,
    backoff_seconds: float,
    on_attempt: Callable[[Attempt], None],
    first_attempt: int = 1,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST until a 2xx, a permanent error (most 4xx) or ``max_attempts`` attempts.

    Waits ``backoff_seconds`` after the first failure, doubling each time (a 429's
    Retry-After, capped at a minute, when longer). ``first_attempt`` numbers the attempts
    on from earlier runs. Returns whether the message was delivered.
    """
    for i in range(max_attempts):
        started_at = datetime.now(UTC)
        started = time.monotonic()
        response = post_json(url, payload, timeout)
        elapsed_ms = (time.monotonic() - started) * 1000
        delivered = response.error is None and response.status is not None
        last = i == max_attempts - 1 or not response.transient
        outcome: Outcome = "delivered" if delivered else ("failed" if last else "retry")
        on_attempt(
            Attempt(
                first_attempt + i, started_at, outcome, response.status, response.error, elapsed_ms
            )
        )
        if outcome != "retry":
            return delivered
        wait = backoff_seconds * 2**i
        if response.retry_after is not None:
            wait = max(wait, min(response.retry_after, MAX_RETRY_AFTER_SECONDS))
        sleep(wait)
    return False


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the backoff applies
