"""`monitoring-pipeline webhook-receiver`: a real process on 127.0.0.1 printing one line per
message and appending it to a JSON-lines file."""

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_receiver_prints_and_appends_each_message(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "alerts.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", "webhook-receiver",
         "--port", str(port), "--out", str(out)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        banner = process.stdout.readline()
        assert banner.startswith(f"Webhook receiver on http://127.0.0.1:{port}/")
        url = f"http://127.0.0.1:{port}/demo-alerts"
        message = {"text": "[PAGE] loan_approval/tpr_gap_region: new page episode", "blocks": []}
        assert post(url, json.dumps(message).encode()) == 200
        assert post(url, b"not json") == 400
        assert process.stdout.readline().rstrip().endswith(message["text"])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (record["path"], record["message"]) == ("/demo-alerts", message)
