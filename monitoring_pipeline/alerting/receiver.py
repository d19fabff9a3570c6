"""A tiny local stand-in for a Slack incoming webhook, to watch alerts arrive.

``monitoring-pipeline webhook-receiver`` runs it: every JSON POST with a ``text`` field is
answered ``200 ok`` (as Slack does), printed as one line and appended to a JSON-lines file.
Not for production: no authentication, binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["make_receiver"]

MAX_BODY_BYTES = 1_000_000
DEFAULT_PORT = 8765  # the demo config's webhook points here


def make_receiver(
    host: str,
    port: int,
    *,
    out: Path | None = None,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) accepting Slack-style JSON messages on any path.

    Each accepted message is appended to ``out`` as one JSON line (``received_at``, ``path``,
    ``message``) and passed to ``on_message``. Bodies that are not a JSON object with a
    ``text`` string get ``400`` (Slack's ``invalid_payload``).
    """
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, "payload_too_large")
                return
            try:
                message = json.loads(self.rfile.read(length) or b"null")
            except json.JSONDecodeError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("text"), str):
                self._reply(400, "invalid_payload")
                return
            record = {
                "received_at": datetime.now(UTC).isoformat(),
                "path": self.path,
                "message": message,
            }
            with lock:
                if out is not None:
                    with out.open("a") as file:
                        file.write(json.dumps(record) + "\n")
                if on_message is not None:
                    on_message(record)
            self._reply(200, "ok")

        def _reply(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one line per message is printed by on_message instead

    return ThreadingHTTPServer((host, port), Handler)
